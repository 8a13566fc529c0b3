"""The `headroom` command: `headroom proxy` runs the proxy; `headroom wrap <agent>` runs an agent through it;
`headroom backfill-hours` adds a DynamoDB store's pre-upgrade savings events to its hourly sums."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import click

from headroom import __version__
from headroom.config import Settings

_PROXY_FLAGS: dict[str, str] = {
    "host": "HEADROOM_HOST",
    "port": "HEADROOM_PORT",
    "workers": "HEADROOM_WORKERS",
    "mode": "HEADROOM_MODE",
    "optimize": "HEADROOM_OPTIMIZE",
    "cache_enabled": "HEADROOM_CACHE",
    "rate_limit_enabled": "HEADROOM_RATE_LIMIT",
    "log_file": "HEADROOM_LOG_FILE",
    "budget": "HEADROOM_BUDGET",
    "budget_period": "HEADROOM_BUDGET_PERIOD",
    "code_aware": "HEADROOM_CODE_AWARE_ENABLED",
    "anthropic_api_url": "HEADROOM_ANTHROPIC_API_URL",
    "openai_api_url": "HEADROOM_OPENAI_API_URL",
    "telemetry": "HEADROOM_TELEMETRY",
    "intelligent_context": "HEADROOM_INTELLIGENT_CONTEXT",
    "intelligent_scoring": "HEADROOM_INTELLIGENT_SCORING",
    "compress_first": "HEADROOM_COMPRESS_FIRST",
    "kompress_enabled": "HEADROOM_KOMPRESS_ENABLED",
    "rpm": "HEADROOM_RPM",
    "tpm": "HEADROOM_TPM",
    "store": "HEADROOM_STORE",
}


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@click.group()
@click.version_option(__version__, prog_name="headroom")
def main() -> None:
    """Headroom: a context-optimization proxy for LLM APIs."""


@main.command()
@click.option("--host", default=None, help="Host to bind to (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to bind to (default 8787).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
@click.option("--mode", default=None, help="token (maximize compression) or cache (freeze prior turns).")
@click.option("--no-optimize", "optimize", flag_value=False, default=None, help="Passthrough mode.")
@click.option("--no-cache", "cache_enabled", flag_value=False, default=None, help="Disable the response cache.")
@click.option("--no-rate-limit", "rate_limit_enabled", flag_value=False, default=None, help="Disable rate limiting.")
@click.option("--log-file", default=None, help="Path to a JSONL request log.")
@click.option("--budget", type=float, default=None, help="Budget limit in USD per period (default daily).")
@click.option("--budget-period", default=None, help="hourly, daily or monthly.")
@click.option("--code-aware/--no-code-aware", "code_aware", default=None, help="AST-based code compression.")
@click.option("--anthropic-api-url", default=None, help="Anthropic upstream URL.")
@click.option("--openai-api-url", default=None, help="OpenAI upstream URL.")
@click.option("--no-telemetry", "telemetry", flag_value=False, default=None, help="Disable anonymous telemetry.")
@click.option("--no-intelligent-context", "intelligent_context", flag_value=False, default=None, help="RollingWindow.")
@click.option("--no-intelligent-scoring", "intelligent_scoring", flag_value=False, default=None, help="Position only.")
@click.option("--no-compress-first", "compress_first", flag_value=False, default=None, help="Drop without compressing.")
@click.option("--kompress", "kompress_enabled", flag_value=True, default=None, help="ML text compression (ml extra).")
@click.option("--rpm", type=int, default=None, help="Requests per minute per API key.")
@click.option("--tpm", type=int, default=None, help="Input tokens per minute per API key.")
@click.option("--store", default=None, help="State backend: sqlite (default), aws or memory.")
def proxy(**flags: Any) -> None:
    """Run the proxy."""
    overrides = {name: value for name, value in flags.items() if value is not None}
    try:
        settings = Settings(**overrides)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    for name, value in overrides.items():
        os.environ[_PROXY_FLAGS[name]] = _env_value(value)
    if settings.workers > 1 and settings.prometheus_multiproc_dir is None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="headroom-prom-")
    import uvicorn

    uvicorn.run(
        "headroom.asgi:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,
        http="headroom.proxy.http_protocol:HeadWithBodyHttpToolsProtocol",
    )


@main.command("backfill-hours")
def backfill_hours() -> None:
    """Add the savings events a DynamoDB store kept from before hourly sums existed to those sums (HEADROOM_STORE=aws
    and its table settings). Safe to repeat and to run beside live traffic."""
    try:
        settings = Settings()
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if settings.store != "aws":
        raise click.UsageError(
            f"backfill-hours works on the AWS store (HEADROOM_STORE=aws), not {settings.store}: SQLite adds its old "
            "events to the hourly sums itself when it opens the database, and the memory store keeps no old events."
        )
    from headroom.errors import NotReady
    from headroom.store.aws_client import AwsClients
    from headroom.store.aws_hours_backfill import backfill_hours as add_old_events

    clients = AwsClients.open(settings)
    try:
        added = add_old_events(clients)
    except NotReady as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        clients.close()
    click.echo(f"added {added} events to the hourly sums in {clients.table('savings')}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("agent")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--proxy-url", default=None, help="Headroom's URL (default http://<host>:<port> from settings).")
@click.option("--provider-type", default="auto", help="auto, anthropic or openai (Copilot BYOK route).")
def wrap(agent: str, args: tuple[str, ...], proxy_url: str | None, provider_type: str) -> None:
    """Run an agent CLI (claude, codex, copilot) with its base URL pointed at Headroom: `headroom wrap copilot --
    --model claude-sonnet-4-20250514`."""
    from headroom.wrap import WrapError, wrap_command

    settings = Settings()
    url = proxy_url or f"http://{settings.host}:{settings.port}"
    try:
        command = wrap_command(agent, url, list(args), provider_type, os.environ)
    except WrapError as exc:
        raise click.UsageError(str(exc)) from exc
    os.execvpe(command.argv[0], command.argv, {**os.environ, **command.env})


if __name__ == "__main__":
    main()
