"""The deployment secret's format: a JSON object of Headroom settings by environment name or field name."""

from __future__ import annotations

import pytest

from handlers.deployment_secret import DeploymentSecretError, parse_secret, with_secret
from headroom.config import Settings


def test_environment_names_and_field_names_map_to_fields() -> None:
    parsed = parse_secret('{"HEADROOM_PROXY_KEYS": "a,b", "rpm": "60", "ANTHROPIC_TARGET_API_URL": "http://x"}')
    assert parsed == {"proxy_keys": "a,b", "rpm": "60", "anthropic_api_url": "http://x"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "not JSON"),
        ('["HEADROOM_PROXY_KEYS"]', "JSON object of string values"),
        ('{"HEADROOM_RPM": 60}', "JSON object of string values"),
        ('{"HEADROOM_PROXY_KEY": "typo"}', "unknown settings: HEADROOM_PROXY_KEY"),
    ],
)
def test_malformed_secrets_are_refused_without_echoing_values(text: str, problem: str) -> None:
    with pytest.raises(DeploymentSecretError, match=problem) as raised:
        parse_secret(text)
    assert "typo" not in str(raised.value)


def test_no_secret_leaves_settings_unchanged() -> None:
    settings = Settings(_env_file=None, rpm=7)
    assert with_secret(settings) is settings
