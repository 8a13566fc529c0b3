"""The optional exporters beside /metrics (OTEL metrics, Langfuse traces, the anonymous telemetry beacon), built
from settings in one place and started and closed with the app. Each is None when it is not configured, and the
OTEL and Langfuse modules are imported only when they are switched on."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headroom.accounting.session_stats import SessionStats
from headroom.config import Settings
from headroom.observability.telemetry import TelemetryBeacon

if TYPE_CHECKING:
    from headroom.observability.otel import OtelMetrics
    from headroom.observability.traces import PipelineTraces

log = logging.getLogger("headroom.observability")


@dataclass(slots=True)
class Exporters:
    metrics: OtelMetrics | None = None
    traces: PipelineTraces | None = None
    beacon: TelemetryBeacon | None = None

    @classmethod
    def from_settings(cls, settings: Settings, stats: SessionStats) -> Exporters:
        exporters = cls(beacon=TelemetryBeacon.from_settings(settings, stats))
        if settings.otel_metrics_enabled:
            from headroom.observability.otel import OtelMetrics

            exporters.metrics = OtelMetrics.from_settings(settings)
        if settings.langfuse_enabled:
            from headroom.observability.traces import PipelineTraces

            exporters.traces = PipelineTraces.from_settings(settings)
        return exporters

    def start(self) -> None:
        """Call on the running event loop (the beacon's periodic task lives there)."""
        if self.beacon is not None:
            self.beacon.start()

    async def aclose(self) -> None:
        """Send the last beacon, then flush metrics and spans on a worker thread (the SDKs export synchronously)."""
        if self.beacon is not None:
            await self.beacon.aclose()
        for exporter in (self.metrics, self.traces):
            if exporter is None:
                continue
            try:
                await asyncio.to_thread(exporter.shutdown)
            except Exception as exc:  # an exporter failing at shutdown must not stop the app's teardown
                log.warning("exporter shutdown failed: %s", type(exc).__name__)
