"""Prometheus exposition: a collector that reads the engine's snapshot at every scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from autohedge.api.models import MetricsSnapshot

__all__ = ["render_metrics"]


class _EngineCollector(Collector):
    def __init__(self, snapshot: Callable[[], MetricsSnapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        for name, value in sorted(snap.counters.items()):
            family = CounterMetricFamily(f"autohedge_{name}", f"autohedge {name.replace('_', ' ')}")
            family.add_metric([], value)
            yield family
        restarts = CounterMetricFamily("autohedge_actor_restarts", "restarts per actor", labels=["actor"])
        for actor, value in sorted(snap.restarts_by_actor.items()):
            restarts.add_metric([actor], value)
        yield restarts
        budget = GaugeMetricFamily(
            "autohedge_request_budget_used_ratio",
            "share of the venue request budget in use",
            labels=["venue"],
        )
        for venue, share in sorted(snap.request_budget_used.items()):
            budget.add_metric([venue], share)
        yield budget
        histogram = snap.tick_to_order
        buckets = [(f"{le}", count) for le, count in zip(histogram.bounds_s, histogram.counts, strict=True)]
        buckets.append(("+Inf", histogram.count))
        latency = HistogramMetricFamily(
            "autohedge_tick_to_order_seconds", "quote received by the feed to order submit start"
        )
        latency.add_metric([], buckets, histogram.sum_s)
        yield latency


def render_metrics(snapshot: Callable[[], MetricsSnapshot]) -> bytes:
    """The text exposition format, from a registry of our own (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_EngineCollector(snapshot))
    return generate_latest(registry)
