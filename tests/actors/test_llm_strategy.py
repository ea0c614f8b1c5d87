"""The LLM and hybrid strategies inside the actor tree (ManualClock, paper exchange)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from autohedge.actors.protocol import Barrier
from autohedge.actors.strategy import LlmSignalSource
from autohedge.adapters.openai.gateway import LlmGateway
from autohedge.core.actor_names import strategy_name
from autohedge.core.strategy.llm import LlmOutcome, LlmThrottle
from tests.actors.harness import Harness, make_config, wait_for
from tests.fakes.openai_server import signal_json
from tests.unit.adapters.openai.test_gateway_recording import GatedClient


def llm_harness(
    make_harness: Callable[..., Harness], client: GatedClient, strategy: str, *, threaded: bool = True
) -> tuple[Harness, LlmGateway]:
    """A one-symbol engine whose strategy asks ``client``; without ``threaded`` the test thread makes
    the model calls (``gateway.run_pending()``), so each answer is delivered where the test says."""
    config = make_config(strategy=strategy, symbols=["BTC/USDT"], llm={"min_interval_per_symbol_s": 0})
    holder: dict[str, Harness] = {}

    def source(symbol: str) -> LlmSignalSource:
        h = holder["h"]

        def deliver(outcome: LlmOutcome) -> None:
            h.directory.tell_if_present(strategy_name(symbol), outcome)

        return LlmSignalSource(
            symbol,
            config=config,
            gateway=gateway,
            clock=h.clock,
            deliver=deliver,
            position_of=lambda s: (Decimal(0), None),
            hybrid=strategy == "hybrid",
        )

    h = make_harness(config, source_factory=source)
    holder["h"] = h
    gateway = LlmGateway(
        client,
        max_concurrent=1,
        throttle=LlmThrottle(config.llm, h.clock),
        clock=h.clock,
        threaded=threaded,
    )
    h.start()
    return h, gateway


def test_slow_model_does_not_block_quote_handling(make_harness: Callable[..., Harness]) -> None:
    client = GatedClient(content=signal_json("buy", 0.9))
    h, gateway = llm_harness(make_harness, client, "llm")
    try:
        for _ in range(3):
            h.quote("BTC/USDT", "99.99", "100.01")
        assert client.started.acquire(timeout=5)  # a model call is in flight and blocked

        for i in range(50):  # quotes keep being handled meanwhile
            h.quote("BTC/USDT", f"{100 + i}.00", f"{100 + i}.02")
        strategy = h.directory.get(strategy_name("BTC/USDT"))
        assert strategy is not None
        strategy.ask(Barrier(), timeout=1)
        assert h.buys("BTC/USDT") == []

        client.release.set()
        wait_for(lambda: len(h.buys("BTC/USDT")) == 1, what="model-approved entry")
    finally:
        gateway.close()
    assert h.metrics.get("signals") == 1


def test_hybrid_trades_only_with_model_confirmation(make_harness: Callable[..., Harness]) -> None:
    client = GatedClient(content=signal_json("hold", 0.9))
    client.release.set()
    # The model answers on this thread: a worker reading the reply after the test changed it would have
    # confirmed the first signal too (and the entry count would depend on which thread ran first).
    h, gateway = llm_harness(make_harness, client, "hybrid", threaded=False)
    try:
        h.trigger_buy("BTC/USDT")  # the edge rule fires
        assert gateway.run_pending() == 1  # the model says hold
        h.settle()
        assert h.buys("BTC/USDT") == []

        client.content = signal_json("buy", 0.9)
        h.clock.advance(1)
        h.quote("BTC/USDT", "99.80", "99.82")  # another edge signal
        assert gateway.run_pending() == 1  # now confirmed
        h.settle()
        assert len(h.buys("BTC/USDT")) == 1
    finally:
        gateway.close()
