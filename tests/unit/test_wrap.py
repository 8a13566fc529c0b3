"""`headroom wrap` builds the right command and environment for each agent CLI."""

from __future__ import annotations

import pytest

from headroom.wrap import WrapError, codex_overrides, wrap_command

PROXY = "http://127.0.0.1:8787"


def test_claude_gets_the_anthropic_base_url_and_its_args_untouched() -> None:
    wrapped = wrap_command("claude", PROXY + "/", ["-p", "hi", "--output-format", "json"])
    assert wrapped.argv == ["claude", "-p", "hi", "--output-format", "json"]
    assert wrapped.env == {"ANTHROPIC_BASE_URL": PROXY}


def test_claude_cannot_take_the_openai_route() -> None:
    with pytest.raises(WrapError, match="anthropic"):
        wrap_command("claude", PROXY, [], provider_type="openai")


def test_codex_gets_a_responses_provider_on_the_v1_route() -> None:
    wrapped = wrap_command("codex", PROXY, ["exec", "fix the bug"])
    assert wrapped.argv[0] == "codex" and wrapped.argv[-2:] == ["exec", "fix the bug"]
    options = dict(value.split("=", 1) for flag, value in zip(wrapped.argv[1:-2:2], wrapped.argv[2:-2:2], strict=True))
    assert options["model_provider"] == '"headroom"'
    assert options["model_providers.headroom.base_url"] == f'"{PROXY}/v1"'
    assert options["model_providers.headroom.wire_api"] == '"responses"'
    assert options["model_providers.headroom.env_key"] == '"OPENAI_API_KEY"'
    assert wrapped.env == {}


def test_codex_overrides_are_all_dash_c_pairs() -> None:
    overrides = codex_overrides(PROXY)
    assert overrides[::2] == ["-c"] * (len(overrides) // 2)


def test_codex_cannot_take_the_anthropic_route() -> None:
    with pytest.raises(WrapError, match="openai"):
        wrap_command("codex", PROXY, [], provider_type="anthropic")


def test_copilot_auto_takes_the_anthropic_route_and_the_model_flag() -> None:
    environ = {"ANTHROPIC_API_KEY": "sk-ant-x", "OPENAI_API_KEY": "sk-o"}
    wrapped = wrap_command("copilot", PROXY, ["--model", "claude-sonnet-4-20250514"], environ=environ)
    assert wrapped.argv == ["copilot", "--model", "claude-sonnet-4-20250514"]
    assert wrapped.env == {
        "COPILOT_PROVIDER_BASE_URL": PROXY,
        "COPILOT_PROVIDER_TYPE": "anthropic",
        "COPILOT_PROVIDER_API_KEY": "sk-ant-x",
        "COPILOT_MODEL": "claude-sonnet-4-20250514",
    }


def test_copilot_openai_route_uses_v1_and_the_openai_key() -> None:
    wrapped = wrap_command("copilot", PROXY, ["--model=gpt-4o", "-p", "hi"], "openai", {"OPENAI_API_KEY": "sk-o"})
    assert wrapped.env["COPILOT_PROVIDER_BASE_URL"] == f"{PROXY}/v1"
    assert wrapped.env["COPILOT_PROVIDER_TYPE"] == "openai"
    assert wrapped.env["COPILOT_PROVIDER_API_KEY"] == "sk-o"
    assert wrapped.env["COPILOT_MODEL"] == "gpt-4o"


def test_copilot_keeps_an_explicit_provider_key_and_sets_no_model_without_the_flag() -> None:
    wrapped = wrap_command("copilot", PROXY, [], environ={"COPILOT_PROVIDER_API_KEY": "mine", "ANTHROPIC_API_KEY": "a"})
    assert "COPILOT_PROVIDER_API_KEY" not in wrapped.env
    assert "COPILOT_MODEL" not in wrapped.env


def test_executable_replaces_the_command_name() -> None:
    assert wrap_command("claude", PROXY, ["-p", "x"], executable="/opt/claude").argv[0] == "/opt/claude"


@pytest.mark.parametrize(("agent", "provider"), [("cursor", "auto"), ("claude", "azure")])
def test_unknown_agent_or_provider_is_refused(agent: str, provider: str) -> None:
    with pytest.raises(WrapError, match="unknown"):
        wrap_command(agent, PROXY, [], provider_type=provider)
