"""Serves the app under uvicorn on loopback for the Lambda Web Adapter, which streams each response back through
the Function URL; the same app as `headroom.asgi:app`, with the deployment secret applied first."""

from __future__ import annotations


def main() -> None:
    import uvicorn

    from handlers.deployment_secret import with_secret
    from headroom.app import create_app
    from headroom.config import Settings
    from headroom.proxy.disconnect import DisconnectWatch

    settings = with_secret(Settings())
    uvicorn.run(
        DisconnectWatch(create_app(settings, lazy=True)),
        host="127.0.0.1",
        port=settings.port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=900,
    )


if __name__ == "__main__":
    main()
