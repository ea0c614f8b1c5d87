"""Metrics: counters, and tick-to-order latencies kept as a histogram of all and a window of the newest."""

from __future__ import annotations

from autohedge.api.metrics import render_metrics
from autohedge.api.models import MetricsSnapshot
from autohedge.control import latency_buckets
from autohedge.core.metrics import TICK_TO_ORDER_BUCKETS_NS, Metrics


def test_metrics_histogram_counts_every_latency_while_the_window_keeps_the_newest() -> None:
    metrics = Metrics(latency_window=3)
    for latency_ns in (50_000, 100_000, 100_001, 3_000_000, 2_000_000_000):
        metrics.observe_tick_to_order_ns(latency_ns)
    assert metrics.tick_to_order_ns() == [100_001, 3_000_000, 2_000_000_000]
    histogram = metrics.tick_to_order_histogram()
    assert histogram.bounds_ns == TICK_TO_ORDER_BUCKETS_NS
    at_most = dict(zip(histogram.bounds_ns, histogram.counts, strict=True))
    assert at_most[100_000] == 2  # a bound is inclusive, like Prometheus' "le"
    assert at_most[250_000] == 3
    assert at_most[2_500_000] == 3 and at_most[5_000_000] == 4
    assert at_most[1_000_000_000] == 4  # the two-second one is only in the count
    assert histogram.count == 5
    assert histogram.sum_ns == 50_000 + 100_000 + 100_001 + 3_000_000 + 2_000_000_000


def test_metrics_histogram_reaches_the_prometheus_text_as_counted() -> None:
    metrics = Metrics()
    for latency_ns in (200_000, 3_000_000, 3_000_000):
        metrics.observe_tick_to_order_ns(latency_ns)
    snapshot = MetricsSnapshot(
        counters=metrics.snapshot(),
        tick_to_order=latency_buckets(metrics.tick_to_order_histogram()),
        restarts_by_actor={},
        request_budget_used={},
    )
    text = render_metrics(lambda: snapshot).decode()
    assert 'autohedge_tick_to_order_seconds_bucket{le="0.00025"} 1.0' in text
    assert 'autohedge_tick_to_order_seconds_bucket{le="0.005"} 3.0' in text
    assert 'autohedge_tick_to_order_seconds_bucket{le="+Inf"} 3.0' in text
    assert "autohedge_tick_to_order_seconds_count 3.0" in text
    assert "autohedge_tick_to_order_seconds_sum 0.0062" in text
