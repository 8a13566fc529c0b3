"""The one settings class and the CLI: every spec flag exists, env names work, aliases map, docs stay in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from headroom.cli import main
from headroom.config import Settings
from headroom.config_docs import render_configuration

SPEC_FLAGS = [
    "--host",
    "--port",
    "--mode",
    "--no-optimize",
    "--no-cache",
    "--no-rate-limit",
    "--log-file",
    "--budget",
    "--code-aware",
    "--no-code-aware",
    "--anthropic-api-url",
    "--openai-api-url",
    "--no-telemetry",
    "--no-intelligent-context",
    "--no-intelligent-scoring",
    "--no-compress-first",
    "--budget-period",
    "--rpm",
    "--tpm",
]


def test_proxy_help_lists_every_spec_flag() -> None:
    result = CliRunner().invoke(main, ["proxy", "--help"])
    assert result.exit_code == 0
    for flag in SPEC_FLAGS:
        assert flag in result.output, flag


def test_defaults_match_the_spec() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.host, settings.port, settings.mode) == ("127.0.0.1", 8787, "token")
    assert settings.optimize and settings.cache_enabled and settings.rate_limit_enabled and settings.code_aware
    assert settings.anthropic_api_url == "https://api.anthropic.com"
    assert settings.openai_api_url == "https://api.openai.com"
    assert settings.budget is None and settings.budget_period == "daily"


def test_spec_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEADROOM_HOST", "0.0.0.0")
    monkeypatch.setenv("HEADROOM_PORT", "8080")
    monkeypatch.setenv("HEADROOM_BUDGET", "100.0")
    monkeypatch.setenv("HEADROOM_MODE", "cost_savings")
    monkeypatch.setenv("HEADROOM_CODE_AWARE_ENABLED", "false")
    monkeypatch.setenv("ANTHROPIC_TARGET_API_URL", "https://litellm.company.internal")
    monkeypatch.setenv("OPENAI_TARGET_API_URL", "https://custom.openai.endpoint.com")
    monkeypatch.setenv("HEADROOM_WORKSPACE_DIR", str(tmp_path))
    monkeypatch.setenv("HEADROOM_TELEMETRY", "off")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.host, settings.port, settings.budget, settings.mode) == ("0.0.0.0", 8080, 100.0, "cache")
    assert settings.code_aware is False and settings.telemetry is False
    assert settings.anthropic_api_url == "https://litellm.company.internal"
    assert settings.openai_api_url == "https://custom.openai.endpoint.com"
    assert settings.savings_file == tmp_path / "proxy_savings.json"
    monkeypatch.setenv("HEADROOM_SAVINGS_PATH", str(tmp_path / "elsewhere.json"))
    assert Settings(_env_file=None).savings_file == tmp_path / "elsewhere.json"  # type: ignore[call-arg]


def test_cli_flags_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_PORT", "8080")
    assert Settings(port=9999, _env_file=None).port == 9999  # type: ignore[call-arg]


@pytest.mark.parametrize(("value", "expected"), [("token", "token"), ("token_headroom", "token"), ("cache", "cache")])
def test_mode_aliases(value: str, expected: str) -> None:
    assert Settings(mode=value, _env_file=None).mode == expected  # type: ignore[call-arg]


def test_bad_mode_is_a_clear_cli_error() -> None:
    result = CliRunner().invoke(main, ["proxy", "--mode", "fastest"])
    assert result.exit_code != 0
    assert "mode must be one of" in result.output


def test_key_lists_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADROOM_PROXY_KEYS", " a , b,,c ")
    assert Settings(_env_file=None).proxy_keys == ["a", "b", "c"]  # type: ignore[call-arg]


def test_configuration_docs_are_in_sync() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert docs.read_text() == render_configuration(), "run: python -m headroom.config_docs > docs/configuration.md"


def test_every_setting_is_described() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []
