"""Pure parsers: Kraken wire data + context -> autohedge messages; ``error[]`` strings -> typed errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel

from autohedge.adapters.kraken.constants import ASSET_NAMES, ORDER_STATUS, ORDER_TYPE, SIDE, VENUE
from autohedge.adapters.kraken.wire import KrakenAssetPair, KrakenBalanceEx, KrakenEnvelope, KrakenOrderInfo
from autohedge.adapters.wirevalues import validate_wire as validate_wire_of
from autohedge.adapters.wirevalues import wire_decimal
from autohedge.core.errors import (
    AuthError,
    InsufficientFunds,
    MalformedMessage,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from autohedge.core.messages import Balance, OrderSnapshot, SymbolRules
from autohedge.core.types import OrderStatus, OrderType, validate_symbol

__all__ = [
    "PairMap",
    "asset_name",
    "map_errors",
    "parse_balances",
    "parse_order",
    "parse_rules",
    "unwrap",
    "validate_wire",
]

_M = TypeVar("_M", bound=BaseModel)
_NS_PER_S = 1_000_000_000

# Exact error strings -> class. Prefix families below catch the rest of each family.
_AUTH = frozenset(
    {"EAPI:Invalid key", "EAPI:Invalid signature", "EGeneral:Permission denied", "EAPI:Feature disabled"}
)
_RATE = frozenset(
    {"EAPI:Rate limit exceeded", "EOrder:Rate limit exceeded", "EOrder:Domain rate limit exceeded"}
)
_RATE_RETRY_S = {
    "EAPI:Rate limit exceeded": 3.0,  # one call's worth of the Starter counter's decay (0.33/s)
    "EOrder:Rate limit exceeded": 2.0,
    "EOrder:Domain rate limit exceeded": 2.0,
}
_FUNDS = frozenset({"EOrder:Insufficient funds"})
# "EOrder:Unknown order" is UNCONFIRMED as exact text (seen in clients); the websocket answers an
# already-gone cancel with "EOrder:Invalid order".
_UNKNOWN_ORDER = frozenset({"EOrder:Unknown order", "EOrder:Invalid order"})
_THROTTLED = "EService:Throttled"
_LOCKOUT = "EGeneral:Temporary lockout"
_NONCE = "EAPI:Invalid nonce"
# Did not run: the service refused before doing anything.
_UNAVAILABLE = frozenset({"EService:Unavailable", "EService:Busy", "EService:Market in cancel_only mode"})
# May have run: the engine did not answer within its deadline, or failed somewhere inside.
_MAYBE_RAN = frozenset({"EService:Deadline elapsed", "EService:Timeout", "EGeneral:Internal error"})


def _dec(raw: object, field: str) -> Decimal:
    return wire_decimal(raw, field, venue=VENUE)


def validate_wire(model: type[_M], raw: object, what: str) -> _M:
    """``model.model_validate(raw)`` with a ``MalformedMessage`` naming the first bad field."""
    return validate_wire_of(model, raw, what, venue=VENUE)


def asset_name(code: str) -> str:
    """Kraken asset code -> ours: ``XXBT``/``XBT`` -> ``BTC``, ``ZUSD`` -> ``USD``; newer assets as is."""
    return ASSET_NAMES.get(code, code)


class PairMap:
    """Our ``BTC/USD`` <-> REST altname ``XBTUSD`` and pair id ``XXBTZUSD`` (WS v2 uses ``BTC/USD``,
    our own spelling), built from ``AssetPairs``."""

    def __init__(self, pairs: Mapping[str, KrakenAssetPair]) -> None:
        self.pairs: dict[str, KrakenAssetPair] = {}
        self._ours: dict[str, str] = {}
        for pair_id, pair in pairs.items():
            try:
                ours = validate_symbol(f"{asset_name(pair.base)}/{asset_name(pair.quote)}")
            except ValueError:
                continue  # a pair we could never trade (odd asset code): not ours
            self.pairs[ours] = pair
            self._ours[pair_id] = self._ours[pair.altname] = ours
            if pair.wsname:
                self._ours[pair.wsname] = ours

    def altname(self, symbol: str) -> str:
        pair = self.pairs.get(symbol)
        if pair is None:
            raise OrderRejected(f"kraken does not list {symbol}", venue=VENUE)
        return pair.altname

    def ours(self, venue_pair: str) -> str | None:
        """Pair id, altname or wsname -> ours; None for a pair not in the map."""
        return self._ours.get(venue_pair)


def parse_rules(pair: KrakenAssetPair, *, symbol: str) -> SymbolRules:
    """``tick_size`` (or ``10^-pair_decimals``), lot step ``10^-lot_decimals``, ``ordermin`` (base) and
    ``costmin`` (quote). A pair not ``online`` is refused."""
    if pair.status != "online":
        raise OrderRejected(f"kraken {pair.altname} is {pair.status}, not accepting orders", venue=VENUE)
    tick = _dec(pair.tick_size, "tick_size") if pair.tick_size else Decimal(1).scaleb(-pair.pair_decimals)
    return SymbolRules(
        symbol=symbol,
        tick_size=tick.normalize(),
        lot_step=Decimal(1).scaleb(-pair.lot_decimals),
        min_qty=_dec(pair.ordermin, "ordermin"),
        min_notional=_dec(pair.costmin or "0", "costmin"),
    )


def parse_order(txid: str, info: KrakenOrderInfo, *, symbol: str) -> OrderSnapshot:
    """Status, side and type through the tables (a miss raises); ``open`` with ``vol_exec`` > 0 is a
    partial fill; ``closed`` below the full volume is reported as filled for what executed."""
    try:
        status = ORDER_STATUS[info.status]
        side = SIDE[info.descr.type]
        order_type = ORDER_TYPE[info.descr.ordertype]
    except KeyError as exc:
        raise MalformedMessage(f"kraken order {txid}: unknown value {exc.args[0]!r}") from None
    qty, filled = _dec(info.vol, "vol"), _dec(info.vol_exec, "vol_exec")
    if status is OrderStatus.NEW and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    # A stop-loss-limit carries its trigger in ``price`` and its limit in ``price2``.
    if order_type is OrderType.STOP_LIMIT:
        price, stop = _dec(info.descr.price2, "price2"), _dec(info.descr.price, "price")
    else:
        price, stop = _dec(info.descr.price, "price"), None
    avg = _dec(info.price, "price")
    stamp = info.closetm if info.closetm else info.opentm
    return OrderSnapshot(
        venue_order_id=txid,
        client_order_id=info.cl_ord_id or "",
        symbol=symbol,
        side=side,
        order_type=order_type,
        price=price,
        stop_price=stop,
        qty=qty,
        filled_qty=filled,
        avg_fill_price=avg if filled > 0 and avg > 0 else None,
        fee=_dec(info.fee, "fee"),
        fee_asset=symbol.split("/")[1],  # REST fees default to the quote currency (UNCONFIRMED for fcib)
        status=status,
        ts_event=int(stamp * _NS_PER_S),
    )


def parse_balances(raw: Mapping[str, Any]) -> dict[str, Balance]:
    """``BalanceEx``: free = balance - hold_trade, locked = hold_trade; zero balances and staked /
    earn variants (``XBT.F``, ``ETH2.S``: not spot-tradable) are dropped."""
    out: dict[str, Balance] = {}
    for code, value in raw.items():
        if "." in code:
            continue
        entry = validate_wire(KrakenBalanceEx, value, f"balance {code}")
        total, held = _dec(entry.balance, "balance"), _dec(entry.hold_trade, "hold_trade")
        if total > 0:
            asset = asset_name(code)
            out[asset] = Balance(asset=asset, free=total - held, locked=held)
    return out


def map_errors(errors: Sequence[str], *, mutates: bool, auth_hint: str, now_s: float) -> VenueError:
    """Kraken's ``error[]`` strings -> the typed error carrying the retry policy (the first error
    decides; the others travel in the message)."""
    first = errors[0] if errors else "EGeneral:Unknown error"
    text = f"kraken: {'; '.join(errors) or first}"
    if first in _AUTH:
        return AuthError(f"{text} ({auth_hint})", venue=VENUE, code=first)
    if first == _NONCE:
        # The request was refused before it ran: a retry gets a fresh, larger nonce. Persisting it
        # means another client uses this key with larger nonces (or parallel requests arrived out of
        # order): use a separate key or raise the key's nonce window.
        return VenueUnavailable(f"{text} (nonce refused; retrying with a new one)", venue=VENUE, code=first)
    if first in _RATE:
        return RateLimited(text, venue=VENUE, code=first, retry_after_s=_RATE_RETRY_S[first])
    compact = "".join(first.split())  # the docs spell it ``EService: Throttled: <ts>`` too
    if compact.startswith(_THROTTLED):
        until = compact.rpartition(":")[2]
        wait = float(until) - now_s if until.replace(".", "", 1).isdigit() else 1.0
        return RateLimited(text, venue=VENUE, code=_THROTTLED, retry_after_s=max(1.0, wait))
    if first == _LOCKOUT:
        return RateLimited(text, venue=VENUE, code=first, retry_after_s=60.0, banned=True)
    if first in _FUNDS:
        return InsufficientFunds(text, venue=VENUE, code=first)
    if first in _UNKNOWN_ORDER:
        return UnknownOrder(text, venue=VENUE, code=first)
    if first in _UNAVAILABLE:
        return VenueUnavailable(text, venue=VENUE, code=first, retry_after_s=5.0)
    if ":".join(first.split(":", 2)[:2]) in _MAYBE_RAN:  # the code, without any extra info
        if mutates:
            return OutcomeUnknown(text, venue=VENUE, code=first)
        return VenueUnavailable(text, venue=VENUE, code=first, retry_after_s=1.0)
    return OrderRejected(text, venue=VENUE, code=first)


def unwrap(raw: object, *, mutates: bool, auth_hint: str, now_s: float) -> Any:
    """The ``result`` of a REST answer, or the mapped error when ``error[]`` is not empty. Warnings
    (``W...``) alone are not failures."""
    envelope = validate_wire(KrakenEnvelope, raw, "response")
    failures = [e for e in envelope.error if not e.startswith("W")]
    if failures:
        raise map_errors(failures, mutates=mutates, auth_hint=auth_hint, now_s=now_s)
    if envelope.result is None:
        raise MalformedMessage("kraken response without result")
    return envelope.result
