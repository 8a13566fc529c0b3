"""HTTP layer: thin Falcon resources, the upstream client, the streaming relay and the error handler."""
