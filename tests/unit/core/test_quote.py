"""A quote checks what the pydantic model it replaced checked, is immutable, and travels inside messages."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from autohedge.actors.protocol import VenueQuotesRead
from autohedge.core.messages import Quote


def _quote(**changes: object) -> Quote:
    fields: dict[str, object] = {
        "venue": "binance",
        "symbol": "BTC/USDT",
        "bid": Decimal("100.1"),
        "ask": Decimal("100.2"),
        "ts_event": 5,
        "ts_init": 6,
    }
    fields.update(changes)
    return Quote(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["bid", "ask", "bid_size", "ask_size"])
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_a_price_or_size_that_is_not_finite_is_refused_by_name(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"BTC/USDT.*{field} {value}"):
        _quote(**{field: Decimal(value)})


def test_a_symbol_not_of_the_base_quote_form_is_refused() -> None:
    with pytest.raises(ValueError, match="BASE/QUOTE"):
        _quote(symbol="BTCUSDT")


def test_sizes_default_to_zero_and_mid_and_spread_follow_the_prices() -> None:
    quote = _quote()
    assert quote.bid_size == 0 and quote.ask_size == 0
    assert quote.mid == Decimal("100.15")
    assert quote.spread_bps == (Decimal("0.1") / Decimal("100.15")) * 10_000
    assert _quote(bid=Decimal(0), ask=Decimal(0)).spread_bps == Decimal("Infinity")


def test_a_quote_is_frozen_hashable_and_equal_by_value() -> None:
    quote = _quote()
    with pytest.raises(AttributeError):
        quote.bid = Decimal(1)  # type: ignore[misc]
    assert quote == _quote() and hash(quote) == hash(_quote())
    assert quote != _quote(ts_init=7)
    assert msgspec.structs.replace(quote, ts_init=7) == _quote(ts_init=7)


def test_fields_are_given_by_name_only() -> None:
    with pytest.raises(TypeError):
        Quote("binance", "BTC/USDT", Decimal(1), Decimal(2), ts_event=0, ts_init=0)  # type: ignore[misc]


def test_a_quote_travels_inside_a_message_as_it_is_and_nothing_else_does() -> None:
    quote = _quote()
    read = VenueQuotesRead(quotes=(quote,))
    assert read.quotes[0] is quote
    with pytest.raises(ValueError, match="instance of Quote"):
        VenueQuotesRead(quotes=({"venue": "binance"},))  # type: ignore[arg-type]
