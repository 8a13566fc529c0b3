"""Claude Code, Codex CLI and Copilot CLI, installed from npm by scripts/install-agent-clis.sh, run through the
proxy against the fake upstream: each runs a scripted tool call, sends its result back, and prints the final text.
Everything stays on 127.0.0.1: every telemetry/update switch each CLI has is off, and HTTP(S)_PROXY points at a
closed local port so any request to another host fails instead of leaving the machine."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.wrap import wrap_command
from tests.fakes.processes import REPO_ROOT, FakeUpstream, ProxyProcess
from tests.fakes.scenario import IdSource

pytestmark = pytest.mark.e2e

CLI_BIN = REPO_ROOT / ".cache" / "agent-clis" / "node_modules" / ".bin"
CLOSED_PORT_PROXY = "http://127.0.0.1:9"
TOOL_OUTPUT = "hello-from-tool"

CLAUDE_OFFLINE = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_ENABLE_TELEMETRY": "0",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "CLAUDE_CODE_DISABLE_FEATURE_FLAGS": "1",
    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_UPDATES": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    "DISABLE_GROWTHBOOK": "1",
    "DISABLE_COST_WARNINGS": "1",
    "DISABLE_INSTALLATION_CHECKS": "1",
}
COPILOT_OFFLINE = {"COPILOT_OFFLINE": "true", "COPILOT_AUTO_UPDATE": "false"}
CODEX_OFFLINE_CONFIG = """\
check_for_update_on_startup = false

[analytics]
enabled = false

[feedback]
enabled = false

[otel]
exporter = "none"

[history]
persistence = "none"
"""


def cli(name: str) -> str:
    path = CLI_BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed; run scripts/install-agent-clis.sh")
    return str(path)


def offline_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    dead_proxy = {name: CLOSED_PORT_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    local = {name: "127.0.0.1,localhost" for name in ("NO_PROXY", "no_proxy")}
    return {"PATH": os.environ["PATH"], "HOME": str(home), "NO_COLOR": "1", **dead_proxy, **local, **extra}


def run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL, check=False
    )
    assert done.returncode == 0, f"{argv[0]} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture
def proxy(
    request: pytest.FixtureRequest, start_proxy: Callable[..., ProxyProcess], fake_upstream: FakeUpstream
) -> Iterator[ProxyProcess]:
    """A proxy started with the flags in the test's indirect parameter (none by default)."""
    fake_upstream.clear()
    yield start_proxy(*getattr(request, "param", ()))
    fake_upstream.clear()


BOTH_MODES = pytest.mark.parametrize("proxy", [(), ("--no-optimize",)], indirect=True, ids=["optimize", "passthrough"])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path / "home"


def generation_bodies(upstream: FakeUpstream, path: str) -> list[dict[str, Any]]:
    return [request.json() for request in upstream.requests(path) if request.method == "POST"]


def fake_signature(upstream: FakeUpstream, path: str) -> str:
    """The thinking signature the fake sent in reply to the first request: derived from the bytes it received."""
    first = next(request for request in upstream.requests(path) if request.method == "POST")
    return IdSource(first.body).next("sig_", 64)


@BOTH_MODES
def test_claude_code_runs_a_bash_tool_through_the_proxy(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, home: Path
) -> None:
    fake_upstream.enqueue(
        {
            "scenario": "tool_use",
            "thinking": True,
            "tool": "Bash",
            "input": {"command": f"echo {TOOL_OUTPUT}", "description": "Greet"},
        },
        {"scenario": "text", "text": "Claude Code e2e: the tool said hello."},
    )
    wrapped = wrap_command(
        "claude",
        proxy.url,
        ["-p", "Run the greeting command.", "--output-format", "json", "--allowedTools", "Bash"],
        executable=cli("claude"),
    )
    env = offline_env(home, {**CLAUDE_OFFLINE, **wrapped.env, "ANTHROPIC_API_KEY": "sk-ant-e2e-dummy"})
    result = json.loads(run(wrapped.argv, env, home.parent / "work"))

    assert result["is_error"] is False
    assert result["result"] == "Claude Code e2e: the tool said hello."
    first, second = generation_bodies(fake_upstream, "/v1/messages")[:2]
    assert first["stream"] is True and any(tool.get("name") == "Bash" for tool in first["tools"])
    thinking, tool_use = second["messages"][-2]["content"][-2:]
    tool_result = second["messages"][-1]["content"][-1]
    assert thinking["type"] == "thinking" and thinking["signature"] == fake_signature(fake_upstream, "/v1/messages")
    assert tool_use["type"] == "tool_use" and tool_use["input"]["command"] == f"echo {TOOL_OUTPUT}"
    assert tool_result["type"] == "tool_result" and tool_result["tool_use_id"] == tool_use["id"]
    assert TOOL_OUTPUT in json.dumps(tool_result["content"])
    assert {r.header("x-api-key") for r in fake_upstream.requests("/v1/messages")} == {"sk-ant-e2e-dummy"}


@BOTH_MODES
def test_codex_runs_a_function_call_through_the_proxy(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, home: Path
) -> None:
    codex_home = home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(CODEX_OFFLINE_CONFIG)
    fake_upstream.enqueue(
        {"scenario": "tool_use", "thinking": True, "tool": "exec_command", "input": {"cmd": f"echo {TOOL_OUTPUT}"}},
        {"scenario": "text", "text": "Codex e2e: the tool said hello."},
    )
    prompt = ["exec", "--skip-git-repo-check", "--ephemeral", "--json", "--dangerously-bypass-approvals-and-sandbox"]
    wrapped = wrap_command(
        "codex", proxy.url, [*prompt, "-m", "gpt-5-codex", "Run the greeting command."], executable=cli("codex")
    )
    env = offline_env(home, {**wrapped.env, "CODEX_HOME": str(codex_home), "OPENAI_API_KEY": "sk-e2e-dummy"})
    events = [json.loads(line) for line in run(wrapped.argv, env, home.parent / "work").splitlines() if line]

    messages = [e["item"]["text"] for e in events if e.get("item", {}).get("type") == "agent_message"]
    assert messages == ["Codex e2e: the tool said hello."]
    first, second = generation_bodies(fake_upstream, "/v1/responses")[:2]
    assert first["stream"] is True and "reasoning.encrypted_content" in first.get("include", [])
    call = next(item for item in second["input"] if item.get("type") == "function_call")
    reasoning = next(item for item in second["input"] if item.get("type") == "reasoning")
    encrypted = base64.b64decode(reasoning["encrypted_content"]).decode()
    assert encrypted.startswith(fake_signature(fake_upstream, "/v1/responses") + ":")
    output = second["input"][-1]
    assert output["type"] == "function_call_output" and output["call_id"] == call["call_id"]
    assert TOOL_OUTPUT in output["output"]
    assert {r.header("authorization") for r in fake_upstream.requests("/v1/responses")} == {"Bearer sk-e2e-dummy"}


@pytest.mark.parametrize(
    ("provider_type", "model", "path"),
    [("auto", "claude-sonnet-4-20250514", "/v1/messages"), ("openai", "gpt-4o", "/v1/chat/completions")],
)
def test_copilot_runs_a_bash_tool_through_the_proxy(
    proxy: ProxyProcess, fake_upstream: FakeUpstream, home: Path, provider_type: str, model: str, path: str
) -> None:
    fake_upstream.enqueue(
        {"scenario": "tool_use", "tool": "bash", "input": {"command": f"echo {TOOL_OUTPUT}", "description": "Greet"}},
        {"scenario": "text", "text": "Copilot e2e: the tool said hello."},
    )
    args = ["--model", model, "-p", "Run the greeting command.", "--allow-all-tools", "--output-format", "json"]
    args += ["--disable-client-telemetry", "--no-auto-update", "--log-level", "error"]
    environ = {"ANTHROPIC_API_KEY": "sk-e2e-dummy", "OPENAI_API_KEY": "sk-e2e-dummy"}
    wrapped = wrap_command("copilot", proxy.url, args, provider_type, environ, executable=cli("copilot"))
    env = offline_env(home, {**COPILOT_OFFLINE, **wrapped.env})
    events = [json.loads(line) for line in run(wrapped.argv, env, home.parent / "work").splitlines() if line]

    finals = [e["data"]["content"] for e in events if e.get("type") == "assistant.message" and e["data"]["content"]]
    assert finals[-1] == "Copilot e2e: the tool said hello."
    bodies = generation_bodies(fake_upstream, path)
    assert len(bodies) >= 2 and bodies[0]["model"] == model
    assert TOOL_OUTPUT in json.dumps(bodies[1]["messages"][-1])
