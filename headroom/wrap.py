"""What `headroom wrap <agent> -- <args>` runs: the agent's argv and the environment that points it at the proxy
(Claude Code via ANTHROPIC_BASE_URL, Codex CLI via `-c` provider overrides, Copilot CLI via its BYOK variables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

AGENTS = ("claude", "codex", "copilot")
PROVIDER_TYPES = ("auto", "anthropic", "openai")
CODEX_PROVIDER_ID = "headroom"


class WrapError(ValueError):
    """The agent or provider type cannot be wrapped as asked."""


@dataclass(frozen=True)
class WrappedCommand:
    """The command to exec: `argv`, and `env` to set on top of the caller's environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def wrap_command(
    agent: str,
    proxy_url: str,
    args: Sequence[str] = (),
    provider_type: str = "auto",
    environ: Mapping[str, str] | None = None,
    executable: str | None = None,
) -> WrappedCommand:
    """Build the command that runs `agent` through the proxy at `proxy_url`, passing `args` through unchanged.

    `environ` is the caller's environment, read only for API keys Copilot needs under its own name.
    `executable` replaces the agent's command name (e.g. a path to a locally installed CLI).
    """
    if agent not in AGENTS:
        raise WrapError(f"unknown agent {agent!r}; choose one of {', '.join(AGENTS)}")
    if provider_type not in PROVIDER_TYPES:
        raise WrapError(f"unknown provider type {provider_type!r}; choose one of {', '.join(PROVIDER_TYPES)}")
    base = proxy_url.rstrip("/")
    command = executable or agent
    if agent == "claude":
        _require(agent, provider_type, "anthropic")
        return WrappedCommand([command, *args], {"ANTHROPIC_BASE_URL": base})
    if agent == "codex":
        _require(agent, provider_type, "openai")
        return WrappedCommand([command, *codex_overrides(base), *args])
    return _copilot(command, base, list(args), provider_type, environ or {})


def codex_overrides(proxy_url: str) -> list[str]:
    """`-c` options that add a Codex model provider for the proxy's OpenAI route (Responses API) and select it;
    the API key is still read from OPENAI_API_KEY."""
    provider = f"model_providers.{CODEX_PROVIDER_ID}"
    settings = {
        "model_provider": CODEX_PROVIDER_ID,
        f"{provider}.name": "Headroom",
        f"{provider}.base_url": f"{proxy_url}/v1",
        f"{provider}.wire_api": "responses",
        f"{provider}.env_key": "OPENAI_API_KEY",
    }
    overrides: list[str] = []
    for key, value in settings.items():
        overrides += ["-c", f'{key}="{value}"']
    return overrides


def _require(agent: str, provider_type: str, only: str) -> None:
    if provider_type not in ("auto", only):
        raise WrapError(f"{agent} speaks only the {only} wire format; use --provider-type auto or {only}")


def _model_flag(args: list[str]) -> str | None:
    for index, arg in enumerate(args):
        if arg == "--model" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--model="):
            return arg.removeprefix("--model=")
    return None


def _copilot(
    command: str, base: str, args: list[str], provider_type: str, environ: Mapping[str, str]
) -> WrappedCommand:
    """Copilot CLI's BYOK settings. `auto` takes the Anthropic route: Headroom's default backend serves the
    Anthropic Messages API natively, with no format translation."""
    resolved = "anthropic" if provider_type == "auto" else provider_type
    env = {
        "COPILOT_PROVIDER_BASE_URL": base if resolved == "anthropic" else f"{base}/v1",
        "COPILOT_PROVIDER_TYPE": resolved,
    }
    key_name = "ANTHROPIC_API_KEY" if resolved == "anthropic" else "OPENAI_API_KEY"
    if "COPILOT_PROVIDER_API_KEY" not in environ and key_name in environ:
        env["COPILOT_PROVIDER_API_KEY"] = environ[key_name]
    model = _model_flag(args)
    if model is not None:
        env["COPILOT_MODEL"] = model
    return WrappedCommand([command, *args], env)
