"""Observability: Prometheus metrics (this package), with OTEL metrics, traces and the request log beside it."""
