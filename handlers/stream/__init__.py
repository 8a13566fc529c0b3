"""The streaming proxy function: `run.sh` (started by the Lambda Web Adapter) runs `serve`, uvicorn on loopback."""
