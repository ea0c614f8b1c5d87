from __future__ import annotations

from decimal import Decimal

import pytest
from freezegun import freeze_time

from autohedge.core.clock import RealClock
from autohedge.core.config import LlmConfig, SymbolParams
from autohedge.core.errors import LlmInvalidReply
from autohedge.core.messages import Quote, Signal
from autohedge.core.strategy.llm import (
    LlmContext,
    LlmSignalReply,
    LlmThrottle,
    build_messages,
    parse_reply,
    reply_to_signal,
)
from autohedge.core.types import Side

D = Decimal
PARAMS = SymbolParams(
    take_profit_pct=D(1), stop_loss_pct=D(1), order_amount=D(100), max_position_size=D(1000)
)


def quotes(*mids: str) -> tuple[Quote, ...]:
    return tuple(
        Quote(venue="t", symbol="BTC/USDT", bid=D(m) - D("0.01"), ask=D(m) + D("0.01"), ts_event=i, ts_init=i)
        for i, m in enumerate(mids)
    )


def context(position: str = "0", hft: Signal | None = None) -> LlmContext:
    return LlmContext(
        symbol="BTC/USDT",
        quotes=quotes("100", "101", "100"),
        position_qty=D(position),
        position_entry_price=D(99) if D(position) > 0 else None,
        params=PARAMS,
        max_spread_bps=D(10),
        min_edge_bps=D(2),
        hft_signal=hft,
    )


def reply(action: str = "buy", confidence: str = "0.9", **kw: str | None) -> LlmSignalReply:
    fields = {k: (D(v) if v is not None else None) for k, v in kw.items()}
    return LlmSignalReply.model_validate(
        {"action": action, "confidence": D(confidence), "reasoning": "r", **fields}
    )


def decide(answer: LlmSignalReply, ctx: LlmContext | None = None, min_confidence: str = "0") -> Signal | None:
    """The signal (or no trade) for ``answer`` in ``ctx`` (the default context unless given)."""
    return reply_to_signal(
        answer,
        context=context() if ctx is None else ctx,
        min_confidence=D(min_confidence),
        signal_id="s",
        ts_init=0,
    )


def test_build_messages_carries_quotes_position_limits_and_hybrid_question() -> None:
    hft = Signal(
        signal_id="h",
        strategy="hft",
        symbol="BTC/USDT",
        side=Side.BUY,
        price=D("99.95"),
        reason="edge 5bps",
        quote_ts_init=0,
        ts_init=0,
    )
    messages = build_messages(context(position="0.5", hft=hft))
    user = messages[1]["content"]
    assert messages[0]["role"] == "system" and "JSON" in messages[0]["content"]
    assert "bid 99.99 / ask 100.01" in user and "0.5 held at 99" in user
    assert "max position 1000" in user and "BUY at 99.95" in user


def test_parse_reply_valid_json_decimal_confidence() -> None:
    parsed = parse_reply(
        '{"action":"buy","confidence":0.75,"target_price":null,"stop_loss":98.5,'
        '"take_profit":null,"reasoning":"dip"}'
    )
    assert parsed.confidence == D("0.75") and parsed.stop_loss == D("98.5")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("sure, buy!", "not JSON"),
        ('["buy"]', "not a JSON object"),
        ('{"action":"short","confidence":0.9,"reasoning":"x"}', "action"),
        ('{"action":"buy","confidence":1.5,"reasoning":"x"}', "confidence"),
        ('{"action":"buy","confidence":0.5,"reasoning":"x","leverage":10}', "leverage"),
        ('{"action":"buy","confidence":"0.9","reasoning":"x"}', "confidence"),
        ('{"action":"buy","confidence":0.9,"target_price":NaN,"reasoning":"x"}', "target_price"),
        ('{"action":"buy","confidence":0.9,"reasoning":"' + "x" * 2001 + '"}', "reasoning"),
    ],
)
def test_parse_reply_invalid_names_the_problem(content: str, problem: str) -> None:
    with pytest.raises(LlmInvalidReply, match=problem):
        parse_reply(content)


def test_reply_to_signal_hold_and_low_confidence_mean_no_trade() -> None:
    assert decide(reply("hold"), min_confidence="0.6") is None
    assert decide(reply("buy", "0.5"), min_confidence="0.6") is None


def test_reply_to_signal_sell_without_position_is_ignored_with_position_closes() -> None:
    assert decide(reply("sell"), min_confidence="0.6") is None
    signal = decide(reply("sell"), context("0.5"), min_confidence="0.6")
    assert signal is not None and signal.side is Side.SELL


def test_reply_to_signal_buy_at_ask_or_better_target() -> None:
    at_ask = decide(reply(target_price="105"))
    better = decide(reply(target_price="99.5"))
    assert at_ask is not None and at_ask.price == D("100.01")
    assert better is not None and better.price == D("99.5")


def test_reply_to_signal_exit_prices_only_on_the_right_side_and_in_bounds() -> None:
    good = decide(reply(take_profit="102", stop_loss="99.5"))
    wrong = decide(reply(take_profit="99", stop_loss="101"))
    far = decide(reply(take_profit="200", stop_loss="50"))
    assert good is not None and (good.take_profit, good.stop_loss) == (D(102), D("99.5"))
    assert wrong is not None and (wrong.take_profit, wrong.stop_loss) == (None, None)
    assert far is not None and (far.take_profit, far.stop_loss) == (None, None)


def test_throttle_budget_resets_at_utc_midnight() -> None:
    with freeze_time("2026-03-01 23:59:00") as frozen:
        throttle = LlmThrottle(LlmConfig(daily_token_budget=100, min_interval_per_symbol_s=0), RealClock())
        throttle.record_usage(150)
        assert throttle.paused and not throttle.may_ask("BTC/USDT")
        frozen.move_to("2026-03-02 00:00:01")
        assert not throttle.paused and throttle.may_ask("BTC/USDT")


def test_throttle_calls_per_minute_across_symbols() -> None:
    with freeze_time("2026-03-01 12:00:00") as frozen:
        throttle = LlmThrottle(LlmConfig(max_calls_per_minute=2, min_interval_per_symbol_s=0), RealClock())
        for symbol in ("A/USD", "B/USD"):
            assert throttle.may_ask(symbol)
            throttle.record_call(symbol)
        assert not throttle.may_ask("C/USD")
        frozen.tick(61)
        assert throttle.may_ask("C/USD")


def hft_signal(price: str = "99.95") -> Signal:
    return Signal(
        signal_id="h",
        strategy="hft",
        symbol="BTC/USDT",
        side=Side.BUY,
        price=D(price),
        reason="edge 5bps",
        quote_ts_init=7,
        ts_init=0,
    )


def test_build_messages_states_the_accepted_exit_bounds() -> None:
    messages = build_messages(context())
    user = messages[1]["content"]
    assert "at most 10% above it" in user and "at most 3% below it" in user


def test_build_messages_without_quotes_raises() -> None:
    empty = LlmContext(
        symbol="BTC/USDT",
        quotes=(),
        position_qty=D(0),
        position_entry_price=None,
        params=PARAMS,
        max_spread_bps=D(10),
        min_edge_bps=D(2),
    )
    with pytest.raises(ValueError, match="at least one quote"):
        build_messages(empty)


def test_reply_to_signal_hybrid_buy_confirms_at_the_hft_price() -> None:
    signal = decide(reply(target_price="90"), context(hft=hft_signal()))
    assert signal is not None
    assert (signal.strategy, signal.side, signal.price, signal.quote_ts_init) == (
        "hybrid",
        Side.BUY,
        D("99.95"),
        7,
    )


@pytest.mark.parametrize("action", ["sell", "hold"])
def test_reply_to_signal_hybrid_anything_but_buy_vetoes(action: str) -> None:
    signal = decide(reply(action), context(position="0.5", hft=hft_signal()))
    assert signal is None


def test_reply_to_signal_llm_buy_is_tagged_llm_with_model_confidence() -> None:
    signal = reply_to_signal(
        reply(confidence="0.8"), context=context(), min_confidence=D("0.6"), signal_id="s7", ts_init=5
    )
    assert signal is not None
    assert (signal.strategy, signal.signal_id, signal.confidence, signal.ts_init) == (
        "llm",
        "s7",
        D("0.8"),
        5,
    )


def test_throttle_per_symbol_interval_is_per_symbol() -> None:
    with freeze_time("2026-03-01 12:00:00") as frozen:
        throttle = LlmThrottle(LlmConfig(min_interval_per_symbol_s=30), RealClock())
        throttle.record_call("A/USD")
        blocked, other = throttle.may_ask("A/USD"), throttle.may_ask("B/USD")
        frozen.tick(30)
        assert (blocked, other, throttle.may_ask("A/USD")) == (False, True, True)


def test_throttle_zero_budget_never_pauses() -> None:
    throttle = LlmThrottle(LlmConfig(daily_token_budget=0), RealClock())
    throttle.record_usage(10_000_000)
    assert not throttle.paused and throttle.tokens_today == 10_000_000


@pytest.mark.parametrize(("bid", "ask"), [("100.50", "100.01"), ("0", "0"), ("100", "0")])
def test_reply_to_signal_buy_on_a_quote_that_is_no_market_is_no_trade(bid: str, ask: str) -> None:
    # The model was asked on a crossed book (or a zero price); its buy must not become an entry at
    # that ask.
    current = Quote(venue="t", symbol="BTC/USDT", bid=D(bid), ask=D(ask), ts_event=3, ts_init=3)
    ctx = LlmContext(
        symbol="BTC/USDT",
        quotes=(*quotes("100", "101"), current),
        position_qty=D(0),
        position_entry_price=None,
        params=PARAMS,
        max_spread_bps=D(10),
        min_edge_bps=D(2),
    )
    assert decide(reply("buy"), ctx) is None


@pytest.mark.parametrize("content", ['{"action":"buy","confidence":' + "1" * 5000 + "}", "[" * 100_000])
def test_parse_reply_runaway_output_is_an_invalid_reply(content: str) -> None:
    # A model stuck repeating a digit (or a bracket) must be an invalid reply, not a ValueError or a
    # RecursionError that ends the gateway's worker thread.
    with pytest.raises(LlmInvalidReply):
        parse_reply(content)
