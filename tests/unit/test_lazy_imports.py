"""Startup stays lean: building the Lambda app and answering a health check in a fresh interpreter loads none of
the heavy optional modules (the tokenizer, the ML runtime, boto3, OTEL, sqlite3 for the memory store) and none of
what serves the proxy's routes (the request path: pipeline, context manager, CCR, upstream clients, accounting,
prometheus-client); they load on first real use, once. With the AWS store, boto3 loads when a store is first
used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from falcon import inspect

from headroom.app import HeadroomApp, create_app
from headroom.config import Settings
from headroom.deferred import Deferred
from headroom.store.aws import ensure_aws_resources

HEAVY = ("tiktoken", "onnxruntime", "numpy", "tokenizers", "boto3", "opentelemetry", "sqlite3", "tree_sitter")
REQUEST_PATH = (
    "headroom.request_path",
    "headroom.proxy.service",
    "headroom.pipeline.pipeline",
    "headroom.pipeline.router",
    "headroom.context.optimizer",
    "headroom.ccr.interception",
    "headroom.proxy.upstream",
    "headroom.accounting.recorder",
    "headroom.observability.metrics",
    "headroom.observability.traces",
    "prometheus_client",
)

_LAMBDA = """
import json, sys, time
import handlers.api
from headroom.config import Settings
def event(method, path, body=None):
    http = {"method": method, "path": path, "sourceIp": "127.0.0.1"}
    return {"version": "2.0", "rawPath": path, "rawQueryString": "", "headers": {}, "body": body,
            "isBase64Encoded": False, "requestContext": {"http": http}}
"""
_PROBE = (
    _LAMBDA
    + """
watched = sys.argv[2:]
app = handlers.api.LambdaApp(Settings(_env_file=None, store="memory", workspace_dir=sys.argv[1], telemetry=False))
status = app(event("GET", "/readyz"), None)["statusCode"]
loaded = {"status": status, "at_ready": sorted(m for m in watched if m in sys.modules)}
loaded["retrieve"] = [app(event("POST", "/v1/retrieve", json.dumps({"hash": "h"})), None)["statusCode"] for _ in "12"]
loaded["after_retrieve"] = sorted(m for m in watched if m in sys.modules)
from headroom.accounting.tokens import count_tokens
loaded["tokens"] = count_tokens("hello world")
loaded["after_count"] = sorted(m for m in watched if m in sys.modules)
app.close()
print(json.dumps(loaded))
"""
)
_AWS_PROBE = (
    _LAMBDA
    + """
settings = Settings(_env_file=None, store="aws", aws_endpoint_url=sys.argv[1], workspace_dir=sys.argv[2],
                    telemetry=False)
app = handlers.api.LambdaApp(settings)
loaded = {"livez": app(event("GET", "/livez"), None)["statusCode"], "at_live": "boto3" in sys.modules}
# The readiness check gives the store 2 s, boto3's import included: a busy machine may need a second check.
deadline = time.monotonic() + 30
while (ready := app(event("GET", "/readyz"), None)["statusCode"]) != 200 and time.monotonic() < deadline:
    time.sleep(0.1)
loaded["readyz"] = ready
loaded["at_ready"] = "boto3" in sys.modules
app.close()
print(json.dumps(loaded))
"""
)


def _probe(code: str, *args: str) -> dict[str, Any]:
    repo = Path(__file__).resolve().parents[2]
    found = subprocess.run([sys.executable, "-c", code, *args], cwd=repo, capture_output=True, text=True, check=True)
    loaded: dict[str, Any] = json.loads(found.stdout.strip().splitlines()[-1])
    return loaded


def test_ready_app_has_not_loaded_heavy_modules_or_the_request_path(tmp_path: Path) -> None:
    loaded = _probe(_PROBE, str(tmp_path), *HEAVY, *REQUEST_PATH)
    assert loaded["status"] == 200
    assert loaded["at_ready"] == []
    assert loaded["retrieve"] == [404, 404]
    assert loaded["after_retrieve"] == sorted(REQUEST_PATH)
    assert loaded["tokens"] == 2
    assert loaded["after_count"] == sorted([*REQUEST_PATH, "tiktoken"])


def _routes(app: HeadroomApp) -> dict[str, list[str]]:
    """Each route's methods as Falcon mapped them when the route was added (its own responders, not defaults)."""
    return {
        route.path: sorted(method.method for method in route.methods if not method.internal)
        for route in inspect.inspect_routes(app)
    }


def test_a_lazy_app_routes_the_same_methods_as_an_eager_one(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, store="memory", workspace_dir=tmp_path, telemetry=False)
    lazy, eager = _routes(create_app(settings, lazy=True)), _routes(create_app(settings))
    assert lazy == eager
    assert lazy["/v1/messages"] == ["POST"]
    assert lazy["/stats"] == ["GET"]


def test_the_aws_store_imports_boto3_at_its_first_use(tmp_path: Path, moto_endpoint: str) -> None:
    ensure_aws_resources(Settings(_env_file=None, store="aws", aws_endpoint_url=moto_endpoint))
    loaded = _probe(_AWS_PROBE, moto_endpoint, str(tmp_path))
    assert loaded == {"livez": 200, "at_live": False, "readyz": 200, "at_ready": True}


def test_a_deferred_value_is_built_once_and_a_failed_build_runs_again() -> None:
    attempts: list[int] = []

    def build() -> list[int]:
        attempts.append(len(attempts))
        if len(attempts) == 1:
            raise RuntimeError("first build fails")
        return attempts

    deferred = Deferred(build)
    assert attempts == []
    with pytest.raises(RuntimeError):
        deferred.get()
    assert deferred.value is None
    assert deferred.get() is deferred.get() is attempts
    assert attempts == [0, 1]
