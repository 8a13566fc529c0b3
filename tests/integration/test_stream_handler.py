"""The streaming proxy function as Lambda runs it. handlers/stream/run.sh is started the way the runtime and the
Lambda Web Adapter's exec wrapper start it (executed from the task root, with the runtime's variables and exactly
the environment the synthesized stack gives the function, its store pointed at a moto server); the test then does
the adapter's part: waits on the readiness path, and relays Function URL requests over loopback with the headers
the adapter adds. The adapter binary itself (a Lambda layer or container image) cannot be fetched here, so this
covers our side of its contract."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from headroom.config import Settings
from headroom.store.aws import ensure_aws_resources
from headroom.store.factory import build_stores
from headroom.store.interfaces import Stores
from infra.options import LAMBDA_WRITABLE_DIR
from tests.conftest import DUMMY_AWS_ENV
from tests.fakes.processes import REPO_ROOT, FakeUpstream, ServerProcess, free_port, wait_until
from tests.infra.synth import function_properties, of_type, synth_template

pytestmark = [pytest.mark.aws, pytest.mark.infra, pytest.mark.slow]

HANDLER = "handlers/stream/run.sh"
HEADROOM_KEY = "hk-stream-test"
CALLER_KEY = "sk-ant-stream-caller"
URL_HOST = "abcdefghijklmnop.lambda-url.us-east-1.on.aws"
ADAPTER_HEALTHY = range(100, 500)  # the adapter's default readiness answer: any status below 500
DELAY_MS = 300
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Say hello."}]


@dataclass(frozen=True)
class StreamFunction:
    """One execution environment of the streaming function, once the adapter found it ready."""

    url: str
    server: ServerProcess
    settings: Settings
    readiness_status: int


def _resolve(value: Any, refs: dict[str, str]) -> str:
    """A template value as CloudFormation would deploy it: literals as they are, `Ref`s from `refs`."""
    if isinstance(value, str):
        return value
    assert isinstance(value, dict) and set(value) == {"Ref"}, f"unexpected template value {value}"
    return refs[value["Ref"]]


def _stack_environment(root: Path, stage: str, bucket: str) -> tuple[dict[str, str], int]:
    """The streaming function's environment variables and memory size from a freshly synthesized stack."""
    template = synth_template(root, stage=stage)
    proxy = function_properties(template, HANDLER)
    (bucket_id,) = of_type(template, "AWS::S3::Bucket")
    refs = {bucket_id: bucket, "HeadroomProxyKeys": HEADROOM_KEY}
    variables = {name: _resolve(value, refs) for name, value in proxy["Environment"]["Variables"].items()}
    return variables, int(proxy["MemorySize"])


def _runtime_environment(task_root: Path, runtime_dir: Path, memory_mb: int) -> dict[str, str]:
    """What the Lambda runtime itself sets for the function (credentials are the execution role's, here moto's)."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": HANDLER,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "Headroom-test-ProxyFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_REGION": DUMMY_AWS_ENV["AWS_DEFAULT_REGION"],
        **DUMMY_AWS_ENV,
    }


@pytest.fixture(scope="module")
def stream_function(
    tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str, fake_upstream: FakeUpstream
) -> Iterator[StreamFunction]:
    stage = f"lwa{uuid.uuid4().hex[:8]}"
    bucket = f"headroom-{stage}-bucket"
    root = tmp_path_factory.mktemp("stream-function")
    stack_env, memory_mb = _stack_environment(root / "synth", stage, bucket)
    assert stack_env["AWS_LWA_PORT"] == stack_env["HEADROOM_PORT"], "the adapter must relay to the app's port"
    assert stack_env["HEADROOM_WORKSPACE_DIR"].startswith(f"{LAMBDA_WRITABLE_DIR}/"), "Lambda's only writable path"
    port = str(free_port())  # the stack's fixed port may be taken on a shared test machine
    runtime_dir = root / "runtime"
    runtime_dir.mkdir()
    environment = {
        **_runtime_environment(REPO_ROOT, runtime_dir, memory_mb),
        **stack_env,
        "AWS_LWA_PORT": port,
        "HEADROOM_PORT": port,
        "HEADROOM_WORKSPACE_DIR": str(root / "lambda-tmp"),
        # The test's stand-ins for AWS and the provider, and no beacon from a test:
        "HEADROOM_AWS_ENDPOINT_URL": moto_endpoint,
        "HEADROOM_ANTHROPIC_API_URL": fake_upstream.url,
        "HEADROOM_TELEMETRY": "off",
    }
    settings = Settings(
        _env_file=None,
        store="aws",
        aws_endpoint_url=moto_endpoint,
        aws_table_prefix=environment["HEADROOM_AWS_TABLE_PREFIX"],
        aws_bucket=environment["HEADROOM_AWS_BUCKET"],
        aws_region=environment["AWS_REGION"],
    )
    ensure_aws_resources(settings)  # the stack's tables and bucket
    server = ServerProcess([str(REPO_ROOT / HANDLER)], environment)
    url = f"http://127.0.0.1:{port}"
    try:
        status = _await_readiness(url + stack_env["AWS_LWA_READINESS_CHECK_PATH"], server)
        yield StreamFunction(url, server, settings, status)
    finally:
        output = server.output()
        server.stop()
        print(f"--- streaming function output ---\n{output}")


def _await_readiness(url: str, server: ServerProcess) -> int:
    """The adapter's readiness check: nothing is relayed until the readiness path answers below 500."""
    answers: list[int] = []

    def healthy() -> bool:
        try:
            answers.append(httpx.get(url, timeout=2).status_code)
        except httpx.TransportError:
            return False
        return answers[-1] in ADAPTER_HEALTHY

    wait_until(healthy, 60, "streaming function readiness", server.process)
    return answers[-1]


@pytest.fixture
def function(stream_function: StreamFunction, fake_upstream: FakeUpstream) -> Iterator[StreamFunction]:
    fake_upstream.clear()
    yield stream_function
    assert stream_function.server.process.poll() is None, "the function's server must outlive each request"


def _adapter_headers(request_id: str) -> dict[str, str]:
    """The headers the adapter sends with a Function URL request: the caller's, the URL's host and forwarding
    headers, and the invocation's request and Lambda contexts as JSON."""
    request_context = {
        "accountId": "anonymous",
        "apiId": "abcdefghijklmnop",
        "domainName": URL_HOST,
        "http": {"method": "POST", "path": "/v1/messages", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
        "requestId": request_id,
        "stage": "$default",
    }
    lambda_context = {
        "request_id": request_id,
        "deadline": int(time.time() * 1000) + 900_000,
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:Headroom-test-ProxyFunction",
    }
    return {
        "host": URL_HOST,
        "x-forwarded-proto": "https",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
        "x-amzn-request-context": json.dumps(request_context),
        "x-amzn-lambda-context": json.dumps(lambda_context),
    }


def _client(function: StreamFunction, headroom_key: str | None = HEADROOM_KEY, **extra: str) -> anthropic.Anthropic:
    headers = {**_adapter_headers(str(uuid.uuid4())), **extra}
    if headroom_key is not None:
        headers["x-headroom-key"] = headroom_key
    return anthropic.Anthropic(base_url=function.url, api_key=CALLER_KEY, default_headers=headers, max_retries=0)


@pytest.fixture
def stores(function: StreamFunction) -> Iterator[Stores]:
    """The function's own tables and bucket, read the way another execution environment would."""
    opened = build_stores(function.settings)
    yield opened
    opened.close()


def test_the_readiness_path_answers_ready(function: StreamFunction) -> None:
    assert function.readiness_status == 200


def test_streamed_reply_arrives_as_generated_and_is_accounted_before_the_stream_ends(
    function: StreamFunction, stores: Stores, fake_upstream: FakeUpstream
) -> None:
    client = _client(function, **{"x-fake-scenario": "slow", "x-fake-delay-ms": str(DELAY_MS)})
    arrivals: list[tuple[float, str]] = []
    recorded_at_first_byte = None
    with client.messages.stream(model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES) as stream:
        for event in stream:
            arrivals.append((time.monotonic(), event.type))
            if recorded_at_first_byte is None:
                recorded_at_first_byte = stores.savings.events()
        message = stream.get_final_message()
    recorded = stores.savings.events()  # at once: Lambda may freeze the environment as soon as the stream ends
    assert arrivals[0][1] == "message_start" and arrivals[-1][1] == "message_stop"
    assert recorded_at_first_byte == [], "the first event must arrive while the exchange is still in flight"
    assert arrivals[-1][0] - arrivals[0][0] >= DELAY_MS / 1000, "events must not be held back until the end"
    (event,) = recorded
    assert (event.provider, event.status, event.model) == ("anthropic", 200, "claude-sonnet-4-6")
    assert event.output_tokens == message.usage.output_tokens > 0
    assert event.tokens_before > 0
    (seen,) = fake_upstream.requests("/v1/messages")
    assert CALLER_KEY in (seen.header("x-api-key") or seen.header("authorization") or "")
    assert seen.header("x-headroom-key") is None
    platform = ("x-amzn-lambda-context", "x-amzn-request-context", "x-amzn-trace-id", "x-forwarded-for")
    assert [name for name in platform if seen.header(name) is not None] == [], "the account id and caller IP stay here"


def test_non_streaming_requests_are_answered_whole(function: StreamFunction, fake_upstream: FakeUpstream) -> None:
    whole: list[anthropic.types.MessageParam] = [{"role": "user", "content": "Answer in one piece."}]
    message = _client(function).messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=whole)
    assert message.type == "message" and message.content[0].type == "text"
    assert len(fake_upstream.requests("/v1/messages")) == 1


def test_the_url_refuses_callers_without_the_headroom_key(
    function: StreamFunction, fake_upstream: FakeUpstream
) -> None:
    client = _client(function, headroom_key=None)
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES, stream=True)
    assert fake_upstream.requests("/v1/messages") == []
