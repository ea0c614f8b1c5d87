"""Prometheus exposition: a collector that reads the engine's snapshot at every scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from autohedge.api.models import MetricsSnapshot

__all__ = ["LATENCY_BUCKETS_S", "render_metrics"]

LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


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
        samples_s = [ns / 1e9 for ns in snap.tick_to_order_ns]
        buckets = [(f"{le}", sum(1 for s in samples_s if s <= le)) for le in LATENCY_BUCKETS_S]
        buckets.append(("+Inf", len(samples_s)))
        latency = HistogramMetricFamily(
            "autohedge_tick_to_order_seconds",
            "quote received by the feed to order submit start (recent window)",
        )
        latency.add_metric([], buckets, sum(samples_s))
        yield latency


def render_metrics(snapshot: Callable[[], MetricsSnapshot]) -> bytes:
    """The text exposition format, from a registry of our own (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_EngineCollector(snapshot))
    return generate_latest(registry)
