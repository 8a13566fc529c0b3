#!/bin/sh
# Bootstrap of the streaming proxy function. The AWS Lambda Web Adapter layer (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap)
# runs this script, waits until GET /readyz on AWS_LWA_PORT answers below 500, then relays each Function URL request
# to uvicorn and streams the response back (AWS_LWA_INVOKE_MODE=response_stream). The stack sets HEADROOM_PORT and
# AWS_LWA_PORT to the same port.
set -eu
# The exec wrapper does not inherit the runtime's module path: add the function code, the layers and the runtime.
PYTHONPATH="${LAMBDA_TASK_ROOT:-.}:/opt/python:${LAMBDA_RUNTIME_DIR:-}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
exec python -m handlers.stream.serve
