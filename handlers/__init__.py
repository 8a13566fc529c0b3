"""AWS Lambda entry points: `handlers.api` (Mangum, buffered Function URL) and `handlers/stream` (the Lambda Web
Adapter bootstrap that serves the streaming proxy routes under uvicorn)."""
