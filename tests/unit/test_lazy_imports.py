"""Startup stays lean: building the app and answering a health check in a fresh interpreter loads none of the
heavy optional modules (the tokenizer, the ML runtime, boto3, OTEL, sqlite3 for the memory store); they load on
first real use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("tiktoken", "onnxruntime", "numpy", "tokenizers", "boto3", "opentelemetry", "sqlite3", "tree_sitter")

_PROBE = """
import json, sys
import handlers.api
from headroom.config import Settings
app = handlers.api.LambdaApp(Settings(_env_file=None, store="memory", workspace_dir=sys.argv[1], telemetry=False))
event = {"version": "2.0", "rawPath": "/readyz", "rawQueryString": "", "headers": {},
         "requestContext": {"http": {"method": "GET", "path": "/readyz", "sourceIp": "127.0.0.1"}}}
status = app(event, None)["statusCode"]
loaded = {"status": status, "at_ready": sorted(m for m in sys.argv[2:] if m in sys.modules)}
from headroom.accounting.tokens import count_tokens
loaded["tokens"] = count_tokens("hello world")
loaded["after_count"] = sorted(m for m in sys.argv[2:] if m in sys.modules)
app.close()
print(json.dumps(loaded))
"""


def test_ready_app_has_not_loaded_heavy_modules(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    found = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path), *HEAVY], cwd=repo, capture_output=True, text=True, check=True
    )
    loaded = json.loads(found.stdout.strip().splitlines()[-1])
    assert loaded["status"] == 200
    assert loaded["at_ready"] == []
    assert loaded["tokens"] == 2
    assert loaded["after_count"] == ["tiktoken"]
