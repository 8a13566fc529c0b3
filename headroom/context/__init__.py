"""Context management: conversation identity, cache-safe boundaries, context-window fitting."""
