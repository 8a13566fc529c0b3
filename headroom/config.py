"""The one settings class: every CLI flag and environment variable, with its default.

Precedence: CLI flags (passed as init kwargs) beat the environment, which beats `.env`.
No other module reads `os.environ`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MODE_ALIASES = {"token": "token", "cache": "cache", "token_headroom": "token", "cost_savings": "cache"}


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", validation_alias=_env("host", "HEADROOM_HOST"), description="Host to bind to.")
    port: int = Field(8787, validation_alias=_env("port", "HEADROOM_PORT"), description="Port to bind to.")
    workers: int = Field(1, validation_alias=_env("workers", "HEADROOM_WORKERS"), description="uvicorn workers.")
    mode: Literal["token", "cache"] = Field(
        "token",
        validation_alias=_env("mode", "HEADROOM_MODE"),
        description="token: maximize compression; cache: freeze prior turns (aliases token_headroom, cost_savings).",
    )
    optimize: bool = Field(
        True, validation_alias=_env("optimize", "HEADROOM_OPTIMIZE"), description="False is passthrough mode."
    )
    cache_enabled: bool = Field(
        True, validation_alias=_env("cache_enabled", "HEADROOM_CACHE"), description="Response cache on/off."
    )
    rate_limit_enabled: bool = Field(
        True, validation_alias=_env("rate_limit_enabled", "HEADROOM_RATE_LIMIT"), description="Rate limiting on/off."
    )
    log_file: Path | None = Field(
        None, validation_alias=_env("log_file", "HEADROOM_LOG_FILE"), description="JSONL request log path."
    )
    budget: float | None = Field(
        None, validation_alias=_env("budget", "HEADROOM_BUDGET"), description="Budget limit in USD per period."
    )
    budget_period: Literal["hourly", "daily", "monthly"] = Field(
        "daily", validation_alias=_env("budget_period", "HEADROOM_BUDGET_PERIOD"), description="Budget period."
    )
    budget_per_key: float | None = Field(
        None,
        validation_alias=_env("budget_per_key", "HEADROOM_BUDGET_PER_KEY"),
        description="Budget limit in USD per period for each API key.",
    )
    code_aware: bool = Field(
        True,
        validation_alias=_env("code_aware", "HEADROOM_CODE_AWARE_ENABLED"),
        description="AST-based code compression.",
    )
    anthropic_api_url: str = Field(
        "https://api.anthropic.com",
        validation_alias=_env("anthropic_api_url", "ANTHROPIC_TARGET_API_URL", "HEADROOM_ANTHROPIC_API_URL"),
        description="Anthropic upstream base URL.",
    )
    openai_api_url: str = Field(
        "https://api.openai.com",
        validation_alias=_env("openai_api_url", "OPENAI_TARGET_API_URL", "HEADROOM_OPENAI_API_URL"),
        description="OpenAI upstream base URL.",
    )
    telemetry: bool = Field(
        True, validation_alias=_env("telemetry", "HEADROOM_TELEMETRY"), description="Anonymous aggregate telemetry."
    )
    telemetry_sdk: str = Field(
        "proxy", validation_alias=_env("telemetry_sdk", "HEADROOM_SDK"), description="Telemetry sdk label."
    )
    telemetry_url: str | None = Field(
        None,
        validation_alias=_env("telemetry_url", "HEADROOM_TELEMETRY_URL"),
        description="Where the anonymous beacon is posted (hourly and at shutdown); unset: nothing is sent.",
    )
    intelligent_context: bool = Field(
        True,
        validation_alias=_env("intelligent_context", "HEADROOM_INTELLIGENT_CONTEXT"),
        description="IntelligentContextManager (False: RollingWindow).",
    )
    intelligent_scoring: bool = Field(
        True,
        validation_alias=_env("intelligent_scoring", "HEADROOM_INTELLIGENT_SCORING"),
        description="Multi-factor importance scoring (False: position only).",
    )
    compress_first: bool = Field(
        True,
        validation_alias=_env("compress_first", "HEADROOM_COMPRESS_FIRST"),
        description="Compress deeper before dropping messages.",
    )
    kompress_enabled: bool = Field(
        False,
        validation_alias=_env("kompress_enabled", "HEADROOM_KOMPRESS_ENABLED"),
        description="Kompress: ML (embedding) text compression and semantic relevance; needs the ml extra.",
    )
    kompress_model_dir: Path | None = Field(
        None,
        validation_alias=_env("kompress_model_dir", "HEADROOM_KOMPRESS_MODEL_DIR"),
        description="Embedding model folder (model.onnx, tokenizer.json, model.json); default: the bundled one.",
    )
    context_limit: int | None = Field(
        None,
        validation_alias=_env("context_limit", "HEADROOM_CONTEXT_LIMIT"),
        description="Override of the model's context window in tokens.",
    )
    workspace_dir: Path = Field(
        Path.home() / ".headroom",
        validation_alias=_env("workspace_dir", "HEADROOM_WORKSPACE_DIR"),
        description="Root of all local state.",
    )
    savings_path: Path | None = Field(
        None,
        validation_alias=_env("savings_path", "HEADROOM_SAVINGS_PATH"),
        description="Savings history file (default: <workspace>/proxy_savings.json).",
    )
    savings_export_interval: float = Field(
        60.0,
        validation_alias=_env("savings_export_interval", "HEADROOM_SAVINGS_EXPORT_INTERVAL"),
        description="Seconds between writes of the savings file (it is also written at shutdown).",
    )
    store: Literal["sqlite", "aws", "memory"] = Field(
        "sqlite", validation_alias=_env("store", "HEADROOM_STORE"), description="State backend."
    )
    aws_table_prefix: str = Field(
        "headroom",
        validation_alias=_env("aws_table_prefix", "HEADROOM_AWS_TABLE_PREFIX"),
        description="Prefix of the DynamoDB table names.",
    )
    aws_bucket: str = Field(
        "headroom-ccr", validation_alias=_env("aws_bucket", "HEADROOM_AWS_BUCKET"), description="S3 bucket for CCR."
    )
    aws_region: str = Field(
        "us-east-1",
        validation_alias=_env("aws_region", "HEADROOM_AWS_REGION", "AWS_REGION"),
        description="AWS region.",
    )
    aws_endpoint_url: str | None = Field(
        None,
        validation_alias=_env("aws_endpoint_url", "HEADROOM_AWS_ENDPOINT_URL"),
        description="Endpoint override for DynamoDB and S3 (local testing).",
    )
    secret_arn: str | None = Field(
        None,
        validation_alias=_env("secret_arn", "HEADROOM_SECRET_ARN"),
        description="Secrets Manager secret (a JSON object of HEADROOM_* settings, e.g. HEADROOM_PROXY_KEYS) read "
        "once when a Lambda execution environment starts; its values beat the environment.",
    )
    rpm: int = Field(600, validation_alias=_env("rpm", "HEADROOM_RPM"), description="Requests per minute per API key.")
    tpm: int = Field(
        20_000_000, validation_alias=_env("tpm", "HEADROOM_TPM"), description="Input tokens per minute per API key."
    )
    rate_limit_lease_share: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        validation_alias=_env("rate_limit_lease_share", "HEADROOM_RATE_LIMIT_LEASE_SHARE"),
        description="With the SQLite store, the share of each per-minute limit a worker process takes from the "
        "shared bucket at a time and then spends without a store call (0 turns leases off). A worker that stops "
        "sending holds at most this share of a key's limit unused. Other stores take each request exactly.",
    )
    response_cache_max_entries: int = Field(
        1000,
        validation_alias=_env("response_cache_max_entries", "HEADROOM_CACHE_MAX_ENTRIES"),
        description="Response cache size per tenant.",
    )
    response_cache_ttl: int = Field(
        3600, validation_alias=_env("response_cache_ttl", "HEADROOM_CACHE_TTL"), description="Response cache TTL (s)."
    )
    ccr_ttl: int = Field(
        7 * 86400, validation_alias=_env("ccr_ttl", "HEADROOM_CCR_TTL"), description="Lifetime of CCR originals (s)."
    )
    # Plain `[]` defaults (pydantic copies them per instance): a default_factory made pydantic read `list`'s
    # signature while building the class, which compiles tokenize's regex (~5 ms of a Lambda cold start).
    api_keys: Annotated[list[str], NoDecode] = Field(
        default=[],
        validation_alias=_env("api_keys", "HEADROOM_API_KEYS"),
        description="Keys accepted by /v1/compress and /v1/retrieve (comma-separated); empty: open.",
    )
    proxy_keys: Annotated[list[str], NoDecode] = Field(
        default=[],
        validation_alias=_env("proxy_keys", "HEADROOM_PROXY_KEYS"),
        description="Headroom keys required on every request (x-headroom-key header); empty: open.",
    )
    tenant_salt: str = Field(
        "headroom",
        validation_alias=_env("tenant_salt", "HEADROOM_TENANT_SALT"),
        description="Salt of the API-key hash that identifies a tenant.",
    )
    max_body_bytes: int = Field(
        32 * 1024 * 1024,
        validation_alias=_env("max_body_bytes", "HEADROOM_MAX_BODY_BYTES"),
        description="Largest request body accepted (413 beyond).",
    )
    connect_timeout: float = Field(
        10.0, validation_alias=_env("connect_timeout", "HEADROOM_CONNECT_TIMEOUT"), description="Upstream connect (s)."
    )
    read_timeout: float = Field(
        600.0, validation_alias=_env("read_timeout", "HEADROOM_READ_TIMEOUT"), description="Upstream read (s)."
    )
    ping_interval: float = Field(
        15.0,
        validation_alias=_env("ping_interval", "HEADROOM_PING_INTERVAL"),
        description="Inject an SSE ping after this much upstream silence (Anthropic streams).",
    )
    min_compress_tokens: int = Field(
        300,
        validation_alias=_env("min_compress_tokens", "HEADROOM_MIN_COMPRESS_TOKENS"),
        description="Blocks smaller than this are never compressed.",
    )
    compress_timeout: float = Field(
        2.0,
        validation_alias=_env("compress_timeout", "HEADROOM_COMPRESS_TIMEOUT"),
        description="A compressor that takes longer fails open.",
    )
    max_retrieval_rounds: int = Field(
        3,
        validation_alias=_env("max_retrieval_rounds", "HEADROOM_MAX_RETRIEVAL_ROUNDS"),
        description="CCR retrieval rounds the proxy answers per request.",
    )
    record_inline: bool = Field(
        False,
        validation_alias=_env("record_inline", "HEADROOM_RECORD_INLINE"),
        description="Write accounting before the response completes (set on AWS Lambda, which freezes after it).",
    )
    otel_metrics_enabled: bool = Field(
        False,
        validation_alias=_env("otel_metrics_enabled", "HEADROOM_OTEL_METRICS_ENABLED"),
        description="Mirror operational metrics to OTEL (independent of HEADROOM_TELEMETRY).",
    )
    otel_metrics_exporter: Literal["otlp_http", "console"] = Field(
        "otlp_http",
        validation_alias=_env("otel_metrics_exporter", "HEADROOM_OTEL_METRICS_EXPORTER"),
        description="OTEL metrics exporter.",
    )
    otel_metrics_endpoint: str = Field(
        "http://127.0.0.1:4318/v1/metrics",
        validation_alias=_env("otel_metrics_endpoint", "HEADROOM_OTEL_METRICS_ENDPOINT"),
        description="OTLP HTTP metrics endpoint.",
    )
    otel_service_name: str = Field(
        "headroom-proxy",
        validation_alias=_env("otel_service_name", "HEADROOM_OTEL_SERVICE_NAME"),
        description="OTEL service name.",
    )
    langfuse_enabled: bool = Field(
        False,
        validation_alias=_env("langfuse_enabled", "HEADROOM_LANGFUSE_ENABLED"),
        description="Send pipeline traces to Langfuse over OTLP (needs both Langfuse keys).",
    )
    langfuse_public_key: str | None = Field(
        None, validation_alias=_env("langfuse_public_key", "LANGFUSE_PUBLIC_KEY"), description="Langfuse public key."
    )
    langfuse_secret_key: str | None = Field(
        None, validation_alias=_env("langfuse_secret_key", "LANGFUSE_SECRET_KEY"), description="Langfuse secret key."
    )
    langfuse_base_url: str = Field(
        "https://cloud.langfuse.com",
        validation_alias=_env("langfuse_base_url", "LANGFUSE_BASE_URL"),
        description="Langfuse base URL; traces go to <base>/api/public/otel/v1/traces.",
    )
    prometheus_multiproc_dir: Path | None = Field(
        None,
        validation_alias=_env("prometheus_multiproc_dir", "PROMETHEUS_MULTIPROC_DIR"),
        description="prometheus-client multiprocess directory (set automatically with several workers).",
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            key = value.strip().lower()
            if key not in MODE_ALIASES:
                raise ValueError(f"mode must be one of {sorted(MODE_ALIASES)}")
            return MODE_ALIASES[key]
        return value

    @field_validator("telemetry", mode="before")
    @classmethod
    def _telemetry_off(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in {"off", "0", "false", "no", "disabled"}:
            return False
        return value

    @field_validator("api_keys", "proxy_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def kompress_model(self) -> Path | None:
        """The embedding model folder when Kompress is enabled, else None."""
        if not self.kompress_enabled:
            return None
        if self.kompress_model_dir is not None:
            return self.kompress_model_dir
        from headroom.pipeline.embeddings import DEFAULT_MODEL_DIR

        return DEFAULT_MODEL_DIR

    @property
    def savings_file(self) -> Path:
        return self.savings_path or self.workspace_dir / "proxy_savings.json"

    @property
    def state_db_path(self) -> Path:
        return self.workspace_dir / "headroom.db"
