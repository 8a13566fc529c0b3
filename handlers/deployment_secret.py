"""The deployment's Secrets Manager secret: a JSON object of Headroom settings by environment name (for example
`{"HEADROOM_PROXY_KEYS": "k1,k2"}`), read once when an execution environment starts. A deployment that keeps
secrets there must also keep its Headroom key there, so starting without one is refused."""

from __future__ import annotations

import json
from typing import Any

from pydantic import AliasChoices

from headroom.config import Settings

PROXY_KEYS_NAME = "HEADROOM_PROXY_KEYS"


class DeploymentSecretError(ValueError):
    """The secret is unreadable, not a JSON object of strings, or names no Headroom key."""


def _field_names() -> dict[str, str]:
    """Every accepted name of every setting (field name and environment aliases) mapped to its field name."""
    names: dict[str, str] = {}
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else []
        for choice in [field_name, *choices]:
            if isinstance(choice, str):
                names[choice] = field_name
    return names


def parse_secret(text: str) -> dict[str, str]:
    """The secret's settings by field name; unknown names are refused so that a typo cannot silently open a
    deployment."""
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise DeploymentSecretError(f"the deployment secret is not JSON: {error.msg}") from None
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise DeploymentSecretError("the deployment secret must be a JSON object of string values")
    names = _field_names()
    unknown = sorted(name for name in document if name not in names)
    if unknown:
        raise DeploymentSecretError(f"the deployment secret names unknown settings: {', '.join(unknown)}")
    return {names[name]: value for name, value in document.items()}


def read_secret_text(settings: Settings) -> str:
    """The secret's string value, fetched with the execution role's credentials."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("secretsmanager", region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    try:
        answer = client.get_secret_value(SecretId=settings.secret_arn)
    except (BotoCoreError, ClientError) as error:
        raise DeploymentSecretError(f"the deployment secret could not be read: {type(error).__name__}") from None
    finally:
        client.close()
    text = answer.get("SecretString")
    if not isinstance(text, str):
        raise DeploymentSecretError("the deployment secret must be a SecretString, not binary")
    return text


def with_secret(settings: Settings) -> Settings:
    """`settings` with the secret's values applied over them; unchanged when no secret is configured."""
    if not settings.secret_arn:
        return settings
    values = parse_secret(read_secret_text(settings))
    merged = Settings(**{**settings.model_dump(), **values})
    if not merged.proxy_keys:
        raise DeploymentSecretError(f"a deployment with a secret requires a Headroom key: set {PROXY_KEYS_NAME}")
    return merged
