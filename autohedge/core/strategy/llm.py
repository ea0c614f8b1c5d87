"""The LLM strategy's pure parts: the prompt, the reply schema, guardrails, and call throttling.

The model never places orders. Its reply becomes (at most) a ``Signal`` that goes through the same
risk checks, sizing, rate limits and executor as every other signal:

* ``hold``, invalid replies and confidence below ``llm.min_confidence`` mean no trade;
* ``sell`` closes a held position (spot is long-only) and is ignored when nothing is held;
* ``buy`` is a limit at the ask, or at the model's ``target_price`` when that is a better (lower,
  positive) price;
* the model's take-profit and stop-loss are kept only on the right side of the entry and within
  bounds; otherwise the monitor applies the configured ones (``core.protection``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.config import LlmConfig, SymbolParams
from autohedge.core.errors import LlmInvalidReply
from autohedge.core.messages import Message, Quote, Signal
from autohedge.core.protection import SL_BOUND_FACTOR, TP_BOUND_FACTOR
from autohedge.core.types import Side
from autohedge.core.validation import first_problem

__all__ = [
    "SIGNAL_JSON_SCHEMA",
    "LlmContext",
    "LlmOutcome",
    "LlmSignalReply",
    "LlmThrottle",
    "build_messages",
    "parse_reply",
    "reply_to_signal",
]

_BPS = Decimal(10_000)
_HUNDRED = Decimal(100)
MAX_REASONING_CHARS = 2000


def _json_number(value: object) -> object:
    """The schema says number: a quoted "0.9" is a schema violation, not something to coerce."""
    if isinstance(value, str):
        raise PydanticCustomError("json_number", "expected a JSON number, got a string")
    return value


_Number = Annotated[Decimal, BeforeValidator(_json_number)]


class LlmSignalReply(BaseModel):
    """What the model must answer (validated; unknown fields rejected).

    The nullable price fields may be left out (read as null) for servers that do not enforce the
    schema; everything else the schema requires is required here too.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["buy", "sell", "hold"]
    confidence: _Number = Field(ge=0, le=1)
    target_price: _Number | None = Field(default=None, gt=0)
    stop_loss: _Number | None = Field(default=None, gt=0)
    take_profit: _Number | None = Field(default=None, gt=0)
    reasoning: str = Field(max_length=MAX_REASONING_CHARS)


def _nullable_number(description: str) -> dict[str, Any]:
    return {"type": ["number", "null"], "description": description}


SIGNAL_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["buy", "sell", "hold"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "0..1"},
        "target_price": _nullable_number("limit price for a buy; null for the current ask"),
        "stop_loss": _nullable_number("absolute stop-loss price, below the entry; null for the default"),
        "take_profit": _nullable_number("absolute take-profit price, above the entry; null for the default"),
        "reasoning": {"type": "string", "description": "one or two sentences"},
    },
    "required": ["action", "confidence", "target_price", "stop_loss", "take_profit", "reasoning"],
    "additionalProperties": False,
}


class LlmOutcome(Message):
    """The result of one model call, delivered to the symbol's strategy actor."""

    symbol: str
    request_id: int
    reply: LlmSignalReply | None = None
    error_kind: str | None = None
    error: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0


@dataclass(frozen=True)
class LlmContext:
    """Everything one decision is made from; built on the strategy actor's thread."""

    symbol: str
    quotes: tuple[Quote, ...]
    """Recent quotes, oldest first; the last is the current one."""
    position_qty: Decimal
    position_entry_price: Decimal | None
    params: SymbolParams
    max_spread_bps: Decimal
    min_edge_bps: Decimal
    hft_signal: Signal | None = None
    """Hybrid mode: the HFT signal the model is asked to confirm."""


def _stats(quotes: tuple[Quote, ...]) -> dict[str, Decimal]:
    mids = [q.mid for q in quotes]
    mean_mid = sum(mids, Decimal(0)) / len(mids)
    current = quotes[-1]
    spreads = [q.spread_bps for q in quotes]
    return {
        "mean_mid": mean_mid,
        "edge_bps": (mean_mid - current.ask) / mean_mid * _BPS if mean_mid > 0 else Decimal(0),
        "spread_bps": current.spread_bps,
        "mean_spread_bps": sum(spreads, Decimal(0)) / len(spreads),
        "change_bps": (mids[-1] - mids[0]) / mids[0] * _BPS if mids[0] > 0 else Decimal(0),
    }


def _fmt(value: Decimal, places: int = 2) -> str:
    return f"{value:.{places}f}"


def build_messages(context: LlmContext) -> list[dict[str, str]]:
    """System and user chat messages for one decision."""
    if not context.quotes:
        raise ValueError("an LLM decision needs at least one quote")
    stats = _stats(context.quotes)
    current = context.quotes[-1]
    system = (
        "You are the decision model of a spot trading bot. You only decide; the bot sizes, checks risk and "
        "places orders. Spot is long-only: 'buy' opens or adds to a position, 'sell' closes the held "
        "position, 'hold' does nothing. Answer with JSON matching the given schema and nothing else. "
        "Prices are absolute numbers in the quote currency. Use null to accept the bot's defaults."
    )
    lines = [
        f"Symbol: {context.symbol}",
        f"Current best bid {current.bid} / ask {current.ask} (spread {_fmt(stats['spread_bps'])} bps).",
        f"Last {len(context.quotes)} mids: " + ", ".join(str(q.mid) for q in context.quotes),
        (
            f"Mean mid {_fmt(stats['mean_mid'], 6)}; ask edge below mean {_fmt(stats['edge_bps'])} bps; "
            f"mean spread {_fmt(stats['mean_spread_bps'])} bps; "
            f"change over the window {_fmt(stats['change_bps'])} bps."
        ),
        (
            f"Position: {context.position_qty} held at {context.position_entry_price}."
            if context.position_qty > 0
            else "Position: none."
        ),
        (
            f"Limits: order size {context.params.order_amount} quote currency, max position "
            f"{context.params.max_position_size}; default take-profit +{context.params.take_profit_pct}% and "
            f"stop-loss -{context.params.stop_loss_pct}% from entry; the bot trades only when the spread "
            f"is at most {context.max_spread_bps} bps."
        ),
        (
            f"Your take-profit is used only when above the entry and at most "
            f"{context.params.take_profit_pct * TP_BOUND_FACTOR}% above it; your stop-loss only when "
            f"below the entry and at most {context.params.stop_loss_pct * SL_BOUND_FACTOR}% below it."
        ),
    ]
    if context.hft_signal is not None:
        lines.append(
            f"The edge strategy wants to BUY at {context.hft_signal.price} ({context.hft_signal.reason}). "
            "Answer 'buy' to confirm it, anything else to veto it."
        )
    else:
        lines.append(
            f"Decide: buy, sell or hold. A buy needs an edge of about {context.min_edge_bps} bps or a clear "
            "reason."
        )
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def parse_reply(content: str) -> LlmSignalReply:
    """The model's text -> a validated reply. Raises ``LlmInvalidReply`` saying what is wrong."""
    try:
        raw = json.loads(content, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise LlmInvalidReply(f"reply is not JSON: {exc.msg} at {exc.pos}") from None
    except (ValueError, RecursionError) as exc:  # an integer past 4300 digits, nesting past the stack
        raise LlmInvalidReply(f"reply is not JSON we can read: {str(exc)[:100]}") from None
    if not isinstance(raw, dict):
        raise LlmInvalidReply("reply is not a JSON object")
    try:
        return LlmSignalReply.model_validate(raw)
    except ValidationError as exc:
        raise LlmInvalidReply(
            f"reply does not match the signal schema: {first_problem(exc, whole='reply')}"
        ) from None


def reply_to_signal(
    reply: LlmSignalReply,
    *,
    context: LlmContext,
    min_confidence: Decimal,
    signal_id: str,
    ts_init: int,
) -> Signal | None:
    """Guardrails: the only way a model's answer becomes a signal.

    No trade when the current quote is no market (a price at or below zero, a crossed book).
    Hybrid (``context.hft_signal`` set): only ``buy`` confirms the HFT signal, at the HFT price;
    ``sell`` and ``hold`` veto it. Exit prices are kept only when
    ``entry < take_profit <= entry + TP_BOUND_FACTOR * configured TP distance`` and
    ``entry - SL_BOUND_FACTOR * configured SL distance <= stop_loss < entry``.
    """
    if reply.action == "hold" or reply.confidence < min_confidence:
        return None
    if context.hft_signal is not None and reply.action != "buy":
        return None
    quote = context.quotes[-1]
    if quote.bid <= 0 or quote.ask < quote.bid:
        return None  # the model was asked on no market (a zero price, a crossed book): no trade
    if reply.action == "sell":
        if context.position_qty <= 0:
            return None
        return Signal(
            signal_id=signal_id,
            strategy="llm",
            symbol=context.symbol,
            side=Side.SELL,
            price=quote.bid,
            reason=f"model sell ({reply.confidence}): {reply.reasoning[:200]}",
            confidence=reply.confidence,
            quote_ts_init=quote.ts_init,
            ts_init=ts_init,
        )
    price = quote.ask
    if reply.target_price is not None and reply.target_price < price:
        price = reply.target_price
    if context.hft_signal is not None:
        price = context.hft_signal.price
    tp_distance = price * context.params.take_profit_pct / _HUNDRED
    sl_distance = price * context.params.stop_loss_pct / _HUNDRED
    take_profit = reply.take_profit
    if take_profit is not None and not price < take_profit <= price + tp_distance * TP_BOUND_FACTOR:
        take_profit = None
    stop_loss = reply.stop_loss
    if stop_loss is not None and not price - sl_distance * SL_BOUND_FACTOR <= stop_loss < price:
        stop_loss = None
    reason = f"model buy ({reply.confidence}): {reply.reasoning[:200]}"
    quote_ts = context.hft_signal.quote_ts_init if context.hft_signal is not None else quote.ts_init
    return Signal(
        signal_id=signal_id,
        strategy="hybrid" if context.hft_signal else "llm",
        symbol=context.symbol,
        side=Side.BUY,
        price=price,
        reason=reason,
        confidence=reply.confidence,
        take_profit=take_profit,
        stop_loss=stop_loss,
        quote_ts_init=quote_ts,
        ts_init=ts_init,
    )


class LlmThrottle:
    """Call limits: per-symbol minimum interval, calls per minute overall, daily token budget (UTC day).

    Thread-safety: callers hold the gateway's lock.
    """

    def __init__(self, config: LlmConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._last_call_ns: dict[str, int] = {}
        self._calls_ns: deque[int] = deque()
        self._tokens_today = 0
        self._day = self._utc_day()

    def _utc_day(self) -> dt.date:
        return dt.datetime.fromtimestamp(self._clock.wall_ns() / NS_PER_S, tz=dt.UTC).date()

    def _roll_day(self) -> None:
        today = self._utc_day()
        if today != self._day:
            self._day = today
            self._tokens_today = 0

    @property
    def tokens_today(self) -> int:
        self._roll_day()
        return self._tokens_today

    @property
    def paused(self) -> bool:
        """True once today's token budget is spent (until the next UTC midnight)."""
        budget = self._config.daily_token_budget
        return budget > 0 and self.tokens_today >= budget

    def may_ask(self, symbol: str) -> bool:
        if self.paused:
            return False
        now = self._clock.monotonic_ns()
        last = self._last_call_ns.get(symbol)
        if last is not None and now - last < self._config.min_interval_per_symbol_s * NS_PER_S:
            return False
        minute_ago = now - 60 * NS_PER_S
        while self._calls_ns and self._calls_ns[0] <= minute_ago:
            self._calls_ns.popleft()
        return len(self._calls_ns) < self._config.max_calls_per_minute

    def record_call(self, symbol: str) -> None:
        now = self._clock.monotonic_ns()
        self._last_call_ns[symbol] = now
        self._calls_ns.append(now)

    def record_usage(self, tokens: int) -> None:
        self._roll_day()
        self._tokens_today += max(0, tokens)
