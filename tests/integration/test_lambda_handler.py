"""The buffered Lambda entry point in-process: Function URL payload-format-2.0 events through the Mangum handler,
over the AWS store on a moto server and the fake upstream (the streaming function: test_stream_handler.py)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import boto3
import pytest

from handlers import api
from handlers.deployment_secret import DeploymentSecretError
from headroom.config import Settings
from headroom.store.aws import ensure_aws_resources
from tests.fakes.processes import FakeUpstream
from tests.integration.traffic import eventually

pytestmark = pytest.mark.aws

KEY_A = "sk-ant-tenant-a"
KEY_B = "sk-ant-tenant-b"
HEADROOM_KEY = "hk-lambda-test"
Invoke = Callable[..., dict[str, Any]]


def url_event(
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    cookies: list[str] | None = None,
    base64_body: bool = True,
) -> dict[str, Any]:
    """A Lambda Function URL event (payload format 2.0) as AWS delivers it; `headers=None` leaves them out."""
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnop",
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnop",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if headers is not None:
        event["headers"] = {
            "host": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "x-forwarded-proto": "https",
            "x-forwarded-for": "203.0.113.7",
            "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
            **{name.lower(): value for name, value in headers.items()},
        }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query))
    if cookies:
        event["cookies"] = cookies
    if body is not None:
        event["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
        event["isBase64Encoded"] = base64_body
    return event


def body_of(response: dict[str, Any]) -> bytes:
    raw = response.get("body", "")
    return base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()


def json_of(response: dict[str, Any]) -> Any:
    return json.loads(body_of(response))


def lambda_settings(endpoint: str, upstream: str, workspace: Path, **overrides: Any) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    return Settings(
        _env_file=None,
        store="aws",
        aws_endpoint_url=endpoint,
        aws_table_prefix=f"lambda{suffix}",
        aws_bucket=f"lambda-{suffix}",
        aws_region="us-east-1",
        anthropic_api_url=upstream,
        openai_api_url=upstream,
        workspace_dir=workspace,
        telemetry=False,
        compress_timeout=30.0,  # a shared test machine must not turn a slow compression into a 503
        **overrides,
    )


@pytest.fixture
def make_invoke(
    moto_endpoint: str, fake_upstream: FakeUpstream, tmp_path: Path
) -> Iterator[Callable[..., tuple[Invoke, Settings]]]:
    """`make_invoke(**settings)` builds an execution environment's app over fresh tables and bucket; each is
    shut down (clients, stores, event loop) at teardown."""
    opened: list[api.LambdaApp] = []

    def make(**overrides: Any) -> tuple[Invoke, Settings]:
        settings = lambda_settings(moto_endpoint, fake_upstream.url, tmp_path, **overrides)
        ensure_aws_resources(settings)
        app = api.LambdaApp(settings)
        opened.append(app)
        return (lambda event: app(event, None)), settings

    fake_upstream.clear()
    yield make
    for app in opened:
        app.close()


@pytest.fixture
def invoke(make_invoke: Callable[..., tuple[Invoke, Settings]]) -> Invoke:
    return make_invoke()[0]


def test_probes_answer_without_headers_and_the_aws_store_is_ready(invoke: Invoke) -> None:
    live = invoke(url_event("GET", "/livez"))
    assert live["statusCode"] == 200 and live["isBase64Encoded"] is False
    assert live["headers"]["content-type"].startswith("application/json")
    assert json_of(live)["alive"] is True
    # The store check has 2 s, the first boto3 client's construction included: a busy machine may need another.
    ready = eventually(
        lambda: invoke(url_event("GET", "/readyz", headers={})), lambda r: r["statusCode"] == 200, "ready"
    )
    checks = json_of(invoke(url_event("GET", "/health", headers={"accept": "application/json"})))
    assert json_of(ready)["ready"] is True and checks["status"] == "healthy"


def test_passthrough_keeps_query_string_and_cookies(invoke: Invoke, fake_upstream: FakeUpstream) -> None:
    response = invoke(
        url_event(
            "GET",
            "/v1/models",
            headers={"x-api-key": KEY_A, "anthropic-version": "2023-06-01"},
            query="beta=true&limit=5",
            cookies=["session=abc", "theme=dark"],
        )
    )
    assert response["statusCode"] == 200
    (seen,) = fake_upstream.requests("/v1/models")
    assert dict(parse_qsl(seen.query)) == {"beta": "true", "limit": "5"}
    assert seen.header("cookie") == "session=abc; theme=dark"
    assert seen.header("x-api-key") == KEY_A


def _message_body(text: str = "Say hello.") -> bytes:
    payload = {"model": "claude-sonnet-4-6", "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    return json.dumps(payload).encode()


def test_buffered_messages_call_reaches_the_upstream_and_comes_back(
    invoke: Invoke, fake_upstream: FakeUpstream
) -> None:
    headers = {"x-api-key": KEY_A, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    response = invoke(url_event("POST", "/v1/messages", body=_message_body(), headers=headers, query="beta=true"))
    assert response["statusCode"] == 200
    message = json_of(response)
    assert message["type"] == "message" and message["content"][0]["type"] == "text"
    (seen,) = fake_upstream.requests("/v1/messages")
    assert seen.json()["messages"][0]["content"] == "Say hello."
    plain = invoke(url_event("POST", "/v1/messages", body=_message_body("Plain."), headers=headers, base64_body=False))
    assert plain["statusCode"] == 200 and json_of(plain)["type"] == "message"


def test_headroom_key_guards_the_url_and_never_reaches_the_upstream(
    make_invoke: Callable[..., tuple[Invoke, Settings]], fake_upstream: FakeUpstream
) -> None:
    invoke, _ = make_invoke(proxy_keys=[HEADROOM_KEY])
    headers = {"x-api-key": KEY_A, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    refused = invoke(url_event("POST", "/v1/messages", body=_message_body(), headers=headers))
    assert refused["statusCode"] == 401 and json_of(refused)["type"] == "error"
    wrong = invoke(url_event("POST", "/v1/messages", body=_message_body(), headers={**headers, "x-headroom-key": "x"}))
    assert wrong["statusCode"] == 401
    assert fake_upstream.requests("/v1/messages") == []
    allowed = invoke(
        url_event("POST", "/v1/messages", body=_message_body(), headers={**headers, "x-headroom-key": HEADROOM_KEY})
    )
    assert allowed["statusCode"] == 200
    (seen,) = fake_upstream.requests("/v1/messages")
    assert seen.header("x-headroom-key") is None
    assert invoke(url_event("GET", "/livez"))["statusCode"] == 200


def test_oversized_and_malformed_bodies_get_a_provider_error(
    make_invoke: Callable[..., tuple[Invoke, Settings]], fake_upstream: FakeUpstream
) -> None:
    invoke, _ = make_invoke(max_body_bytes=256 * 1024)
    headers = {"x-api-key": KEY_A, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    oversized = invoke(url_event("POST", "/v1/messages", body=_message_body("x" * 300_000), headers=headers))
    assert oversized["statusCode"] == 413
    assert json_of(oversized)["error"]["type"] == "request_too_large"
    malformed = invoke(url_event("POST", "/v1/messages", body=b'{"model": ', headers=headers))
    assert malformed["statusCode"] == 400
    assert json_of(malformed)["error"]["type"] == "invalid_request_error"
    assert fake_upstream.requests("/v1/messages") == []


def _compress_event(key: str, tool_output: str) -> dict[str, Any]:
    messages = [
        {"role": "user", "content": "Which DataNodes logged 'Got exception while serving' most often?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"cmd": "cat"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": tool_output}]},
    ]
    body = json.dumps({"model": "claude-sonnet-4-6", "messages": messages}).encode()
    return url_event("POST", "/v1/compress", body=body, headers={"x-api-key": key, "content-type": "application/json"})


def test_compress_then_retrieve_through_s3_for_the_owner_only(
    make_invoke: Callable[..., tuple[Invoke, Settings]], corpus_dir: Path, moto_endpoint: str
) -> None:
    invoke, settings = make_invoke()
    original = (corpus_dir / "logs" / "loghub_hdfs_2k.log").read_text()
    compressed = invoke(_compress_event(KEY_A, original))
    assert compressed["statusCode"] == 200
    report = json_of(compressed)
    assert report["tokens_after"] < report["tokens_before"]
    (ccr_hash,) = report["ccr_hashes"]
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=settings.aws_bucket, Prefix="ccr/")["Contents"]]
    s3.close()
    assert keys and all(key.startswith("ccr/") for key in keys)

    def retrieve(key: str) -> dict[str, Any]:
        body = json.dumps({"hash": ccr_hash}).encode()
        return invoke(url_event("POST", "/v1/retrieve", body=body, headers={"x-api-key": key}))

    mine = retrieve(KEY_A)
    assert mine["statusCode"] == 200 and json_of(mine)["content"] == original
    theirs = retrieve(KEY_B)
    assert theirs["statusCode"] == 404 and json_of(theirs)["error"]["type"] == "not_found_error"


@pytest.fixture
def environment_handler(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, fake_upstream: FakeUpstream, tmp_path: Path
) -> Iterator[Callable[[dict[str, str]], Settings]]:
    """Configures the execution environment the way the stack does (environment variables, optionally a secret);
    the cached adapter and its event loop are dropped at teardown."""

    def configure(secret: dict[str, str]) -> Settings:
        settings = lambda_settings(moto_endpoint, fake_upstream.url, tmp_path)
        ensure_aws_resources(settings)
        names = {
            "HEADROOM_STORE": "aws",
            "HEADROOM_AWS_ENDPOINT_URL": moto_endpoint,
            "HEADROOM_AWS_TABLE_PREFIX": settings.aws_table_prefix,
            "HEADROOM_AWS_BUCKET": settings.aws_bucket,
            "HEADROOM_WORKSPACE_DIR": str(tmp_path),
            "HEADROOM_TELEMETRY": "off",
            "HEADROOM_ANTHROPIC_API_URL": fake_upstream.url,
        }
        if secret:
            client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
            arn = client.create_secret(Name=f"headroom-{uuid.uuid4().hex}", SecretString=json.dumps(secret))["ARN"]
            client.close()
            names["HEADROOM_SECRET_ARN"] = arn
        for name, value in names.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)  # no stray .env file
        return settings

    api.environment_app.cache_clear()
    yield configure
    if api.environment_app.cache_info().currsize:
        api.environment_app().close()
    api.environment_app.cache_clear()


def test_lambda_entry_point_builds_once_and_applies_the_secret(
    environment_handler: Callable[[dict[str, str]], Settings],
) -> None:
    environment_handler({"HEADROOM_PROXY_KEYS": HEADROOM_KEY})
    assert api.handler(url_event("GET", "/livez"), None)["statusCode"] == 200
    refused = api.handler(url_event("GET", "/v1/models", headers={"x-api-key": KEY_A}), None)
    assert refused["statusCode"] == 401
    allowed = api.handler(
        url_event("GET", "/v1/models", headers={"x-api-key": KEY_A, "x-headroom-key": HEADROOM_KEY}), None
    )
    assert allowed["statusCode"] == 200
    assert api.environment_app.cache_info().misses == 1


def test_lambda_entry_point_refuses_a_secret_without_a_headroom_key(
    environment_handler: Callable[[dict[str, str]], Settings],
) -> None:
    environment_handler({"HEADROOM_RPM": "60"})
    with pytest.raises(DeploymentSecretError, match="HEADROOM_PROXY_KEYS"):
        api.handler(url_event("GET", "/livez"), None)
