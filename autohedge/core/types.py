"""Vocabulary shared by every layer: symbols, sides, order states, venue names.

Venue values never enter this module; adapters translate them through explicit tables.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field

__all__ = [
    "CloseReason",
    "FeeRate",
    "OrderPurpose",
    "OrderStatus",
    "OrderType",
    "Side",
    "Symbol",
    "TimeInForce",
    "Venue",
    "base_of",
    "decimal_str",
    "quantize_down",
    "quantize_up",
    "quote_of",
    "validate_symbol",
]

_SYMBOL_RE = re.compile(r"[A-Z0-9]{1,12}/[A-Z0-9]{1,12}")


_CHECKED_SYMBOLS: set[str] = set()
"""Symbols found well formed: every quote and order message checks its symbol, a few dozen symbols a run,
and a set lookup is a tenth of the pattern's match (which was 7 % of the reader thread's time)."""
_CHECKED_SYMBOLS_KEPT = 4_096


def validate_symbol(value: str) -> str:
    """Check the ``BASE/QUOTE`` form (upper case, e.g. ``BTC/USD``); stock tickers use ``AAPL/USD``."""
    if value in _CHECKED_SYMBOLS:
        return value
    if not _SYMBOL_RE.fullmatch(value):  # ``$`` would let a trailing newline through
        raise ValueError(f"symbol {value!r} is not of the form BASE/QUOTE (e.g. BTC/USDT)")
    if len(_CHECKED_SYMBOLS) >= _CHECKED_SYMBOLS_KEPT:  # a replay of many symbols: start again
        _CHECKED_SYMBOLS.clear()
    _CHECKED_SYMBOLS.add(value)
    return value


Symbol = Annotated[str, AfterValidator(validate_symbol)]

FeeRate = Annotated[Decimal, Field(ge=0, lt=Decimal("0.1"))]
"""A fee as a share of an order's value (0.001 = 0.1 %)."""


def base_of(symbol: str) -> str:
    """``BTC`` of ``BTC/USDT``."""
    return symbol.split("/", 1)[0]


def quote_of(symbol: str) -> str:
    """``USDT`` of ``BTC/USDT``."""
    return symbol.split("/", 1)[1]


class Venue(StrEnum):
    PAPER = "paper"
    ALPACA = "alpaca"
    BINANCE = "binance"
    COINBASE = "coinbase"
    KRAKEN = "kraken"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"


class OrderPurpose(StrEnum):
    """Why an order exists: entries open positions, exits protect or close them."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    CLOSE = "close"

    @property
    def is_exit(self) -> bool:
        return self is not OrderPurpose.ENTRY


class CloseReason(StrEnum):
    """Why a position ended."""

    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"
    LLM_SELL = "llm_sell"
    MANUAL = "manual"
    GONE = "gone"
    """The venue no longer holds it (sold elsewhere, or only dust is left)."""
    RECONCILED = "reconciled"
    """The journal had it open but the venue did not hold it at start-up (another account, or sold
    outside the bot while it was stopped): closed in the books at its cost, no P&L invented."""


class OrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_open(self) -> bool:
        return not self.is_terminal


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


def quantize_down(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` not above ``value`` (lot sizes, sell prices)."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def quantize_up(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of ``step`` not below ``value``."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    return (value / step).to_integral_value(rounding=ROUND_UP) * step


def decimal_str(value: Decimal) -> str:
    """Plain decimal text for a venue: no exponent, no trailing zeros (``Decimal("1E+1")`` -> ``"10"``)."""
    return format(value.normalize(), "f")
