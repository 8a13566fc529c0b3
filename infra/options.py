"""The stack's deployment choices, read from CDK context (`cdk deploy -c stage=prod -c memory=2048 …`) and
checked before anything is synthesized."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

REPO_ROOT = Path(__file__).resolve().parents[1]
WEB_ADAPTER_ACCOUNT = "753240598075"
WEB_ADAPTER_VERSION = 27
MAX_TIMEOUT_S = 900
LAMBDA_WRITABLE_DIR = "/tmp"  # the only writable path inside a Lambda execution environment
EMAIL = re.compile(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+")
DAY_S = 86400
LOG_RETENTION_DAYS = frozenset({1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 3653})
CONTEXT_NAMES = (
    "stage",
    "memory",
    "timeout",
    "reservedConcurrency",
    "urlAuth",
    "providerKeys",
    "secretArn",
    "codeDir",
    "depsLayerDir",
    "webAdapterLayerArn",
    "logRetentionDays",
    "ccrTtl",
    "alarmEmail",
)


class StackOptionError(ValueError):
    """A context value is missing, malformed or out of range."""


@dataclass(frozen=True, slots=True)
class StackOptions:
    """Everything a deployment may choose; the defaults suit a personal dev stage."""

    stage: str = "dev"
    memory_mb: int = 1024
    timeout_s: int = MAX_TIMEOUT_S
    reserved_concurrency: int | None = None
    url_auth: Literal["NONE", "AWS_IAM"] = "NONE"
    provider_keys: Literal["caller", "secret"] = "caller"
    secret_arn: str | None = None
    code_dir: Path = REPO_ROOT / "layers" / "build" / "function"
    deps_layer_dir: Path = REPO_ROOT / "layers" / "build" / "deps"
    web_adapter_layer_arn: str | None = None
    log_retention_days: int = 30
    ccr_ttl_s: int = 7 * DAY_S
    alarm_email: str | None = None

    def __post_init__(self) -> None:
        if not self.stage.replace("-", "").isalnum() or len(self.stage) > 20:
            raise StackOptionError("stage: letters, digits and '-', at most 20 characters")
        if not 128 <= self.memory_mb <= 10240:
            raise StackOptionError("memory: 128 to 10240 MB")
        if not 1 <= self.timeout_s <= MAX_TIMEOUT_S:
            raise StackOptionError(f"timeout: 1 to {MAX_TIMEOUT_S} s (Lambda's limit)")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            raise StackOptionError("reservedConcurrency: at least 1 (omit it for the account's pool)")
        if self.url_auth not in ("NONE", "AWS_IAM"):
            raise StackOptionError("urlAuth: NONE or AWS_IAM")
        if self.provider_keys not in ("caller", "secret"):
            raise StackOptionError("providerKeys: caller or secret")
        if self.provider_keys == "secret" and not (self.secret_arn or "").startswith("arn:"):
            raise StackOptionError("providerKeys=secret needs secretArn, the ARN of a Secrets Manager secret")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise StackOptionError(f"logRetentionDays: one of {sorted(LOG_RETENTION_DAYS)}")
        if self.ccr_ttl_s < 1:
            raise StackOptionError("ccrTtl: at least 1 s")
        if self.alarm_email is not None and not EMAIL.fullmatch(self.alarm_email):
            raise StackOptionError("alarmEmail: one e-mail address (it receives the alarm topic's notifications)")

    def check_assets(self) -> None:
        """The code and layer folders are built by layers/build_deps.py; say so rather than fail in the CDK."""
        for name, folder in (("codeDir", self.code_dir), ("depsLayerDir", self.deps_layer_dir)):
            if not folder.is_dir():
                raise StackOptionError(f"{name}: {folder} does not exist; run python layers/build_deps.py first")

    @property
    def prefix(self) -> str:
        """The DynamoDB table prefix: `headroom-<stage>`."""
        return f"headroom-{self.stage}"

    @property
    def ccr_ttl_days(self) -> int:
        """S3 lifecycle rules count whole days: the CCR TTL rounded up."""
        return max(1, math.ceil(self.ccr_ttl_s / DAY_S))

    @property
    def headroom_key_required(self) -> bool:
        """Provider keys held by the deployment must not be usable by anyone who knows the URL."""
        return self.provider_keys == "secret"


def _int(context: dict[str, Any], name: str) -> int | None:
    value = context.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StackOptionError(f"{name}: an integer, not {value!r}") from None


def options_from_context(context: dict[str, Any]) -> StackOptions:
    """Options from CDK context values (strings from `-c`, or JSON values from cdk.json)."""
    given: dict[str, Any] = {}
    for name, field in (("memory", "memory_mb"), ("timeout", "timeout_s"), ("logRetentionDays", "log_retention_days")):
        number = _int(context, name)
        if number is not None:
            given[field] = number
    given["reserved_concurrency"] = _int(context, "reservedConcurrency")
    ccr_ttl = _int(context, "ccrTtl")
    if ccr_ttl is not None:
        given["ccr_ttl_s"] = ccr_ttl
    for name, field in (
        ("stage", "stage"),
        ("urlAuth", "url_auth"),
        ("providerKeys", "provider_keys"),
        ("secretArn", "secret_arn"),
        ("webAdapterLayerArn", "web_adapter_layer_arn"),
        ("alarmEmail", "alarm_email"),
    ):
        if context.get(name):
            given[field] = str(context[name])
    for name, field in (("codeDir", "code_dir"), ("depsLayerDir", "deps_layer_dir")):
        if context.get(name):
            given[field] = Path(str(context[name])).expanduser().resolve()
    return StackOptions(**given)
