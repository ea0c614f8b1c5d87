"""The typed fast decoder of combined-stream bookTicker frames, and its fall-back classification."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autohedge.adapters.binance.parse import BookTickerDecoder, SymbolMap
from autohedge.adapters.binance.wire import BinanceSymbolInfo
from autohedge.core.errors import MalformedMessage


@pytest.fixture
def decoder() -> BookTickerDecoder:
    info = BinanceSymbolInfo.model_validate(
        {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "filters": []}
    )
    return BookTickerDecoder(SymbolMap([info]))


def frame(data: str) -> bytes:
    return ('{"stream":"btcusdt@bookTicker","data":' + data + "}").encode()


def test_a_book_ticker_becomes_a_quote_with_exact_decimals(decoder: BookTickerDecoder) -> None:
    raw = frame(
        '{"u":400900217,"s":"BTCUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66"}'
    )
    quote = decoder.decode(raw, ts_init=123)
    assert quote is not None
    assert (quote.symbol, quote.venue) == ("BTC/USDT", "binance")
    assert (quote.bid, quote.ask) == (Decimal("25.35190000"), Decimal("25.36520000"))
    assert (quote.bid_size, quote.ask_size) == (Decimal("31.21000000"), Decimal("40.66"))
    assert quote.ts_init == quote.ts_event == 123


def test_a_subscription_reply_carries_no_quote(decoder: BookTickerDecoder) -> None:
    assert decoder.decode(b'{"result":null,"id":1}', ts_init=1) is None


def test_server_shutdown_ends_the_connection(decoder: BookTickerDecoder) -> None:
    with pytest.raises(ConnectionAbortedError):
        decoder.decode(frame('{"e":"serverShutdown","E":1}'), ts_init=1)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (frame('{"s":"BTCUSDT","b":"oops","B":"1","a":"2","A":"1"}'), "not a decimal"),
        (frame('{"s":"BTCUSDT","b":"NaN","B":"1","a":"2","A":"1"}'), "bid"),
        (frame('{"s":"ETHUSDT","b":"1","B":"1","a":"2","A":"1"}'), "not one we trade"),
        (b'{"stream": "btcusdt@bookTicker", "data": {"s": "BTC', "not JSON"),
        (b"[1, 2]", "not an object"),
    ],
)
def test_a_malformed_frame_is_a_malformed_message_naming_what_is_wrong(
    decoder: BookTickerDecoder, raw: bytes, says: str
) -> None:
    with pytest.raises(MalformedMessage, match=says):
        decoder.decode(raw, ts_init=1)
