"""Binance REST: one method per endpoint over the shared ``Transport``, returning wire models.

What is Binance's own: signing the query exactly as sent (HMAC or Ed25519, ``auth.py``), the server
time offset, the ``{code,msg}`` error bodies and the ``X-MBX-USED-WEIGHT-(n)(unit)`` /
``X-MBX-ORDER-COUNT-(n)(unit)`` usage headers (``BinanceDialect``). Sending, budgets and the retry
decision are the transport's.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from pydantic import SecretStr, TypeAdapter

from autohedge.adapters.binance.auth import BinanceSigner, encode_params, signed_query
from autohedge.adapters.binance.constants import VENUE, WEIGHTS
from autohedge.adapters.binance.parse import map_error
from autohedge.adapters.binance.wire import (
    BINANCE_CANCEL,
    BINANCE_ORDER,
    BINANCE_ORDER_LIST,
    BINANCE_ORDERS,
    BINANCE_TRADES,
    BinanceAccount,
    BinanceExchangeInfo,
    BinanceOrder,
    BinanceOrderList,
    BinanceRateLimit,
    BinanceRestBookTicker,
    BinanceServerTime,
    BinanceTrade,
    BinanceWsRateLimit,
)
from autohedge.adapters.transport import HttpResponse, Transport
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import AuthError, VenueError, VenueUnavailable
from autohedge.core.ratelimit import LimitKind, LimitRule, RequestBudget

__all__ = [
    "AUTH_HINT",
    "CLOCK_SKEW_CODE",
    "BinanceDialect",
    "BinanceRest",
    "ServerClock",
    "limit_rules",
    "observe_ws_rate_limits",
]

AUTH_HINT = "set AUTOHEDGE_BINANCE_API_KEY and AUTOHEDGE_BINANCE_API_SECRET"
_USAGE_HEADER = re.compile(r"^x-mbx-(used-weight|order-count)-(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_LIMIT_KIND = {"REQUEST_WEIGHT": LimitKind.WEIGHT, "ORDERS": LimitKind.ORDERS}
T = TypeVar("T")
_NS_PER_MS = 1_000_000


def limit_rules(rate_limits: tuple[BinanceRateLimit, ...]) -> list[LimitRule]:
    """``exchangeInfo.rateLimits`` -> budget rules (RAW_REQUESTS is far above what weight allows)."""
    return [
        LimitRule(_LIMIT_KIND[r.rateLimitType], float(r.limit), float(_UNIT_S[r.interval] * r.intervalNum))
        for r in rate_limits
        if r.rateLimitType in _LIMIT_KIND and r.interval in _UNIT_S
    ]


def observe_ws_rate_limits(budget: RequestBudget, rate_limits: tuple[BinanceWsRateLimit, ...]) -> None:
    """A WebSocket API response's ``rateLimits`` (REQUEST_WEIGHT per IP, ORDERS per account, each with its
    window's ``count``) align the budget REST shares, as the ``X-MBX-*`` headers do. Any thread."""
    for limit in rate_limits:
        kind = _LIMIT_KIND.get(limit.rateLimitType)
        unit_s = _UNIT_S.get(limit.interval)
        if kind is not None and unit_s is not None:
            budget.observe_used(float(limit.count), kind=kind, interval_s=unit_s * limit.intervalNum)


class BinanceDialect:
    venue = VENUE

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def map_error(self, status: int, body: str, headers: Mapping[str, str]) -> VenueError:
        return map_error(status, body, headers, auth_hint=AUTH_HINT, now_s=self._clock.wall_ns() / NS_PER_S)

    def observe_usage(self, headers: Mapping[str, str], budget: RequestBudget) -> None:
        for name, value in headers.items():
            match = _USAGE_HEADER.match(name.lower())
            if match is None or not value.strip().isdigit():
                continue
            kind = LimitKind.WEIGHT if match.group(1) == "used-weight" else LimitKind.ORDERS
            budget.observe_used(
                float(value), kind=kind, interval_s=int(match.group(2)) * _UNIT_S[match.group(3)]
            )


_INFO = TypeAdapter(BinanceExchangeInfo)
_TIME = TypeAdapter(BinanceServerTime)
_TICKER = TypeAdapter(BinanceRestBookTicker)
_ACCOUNT = TypeAdapter(BinanceAccount)


CLOCK_SKEW_CODE = -1021
"""Binance: "Timestamp for this request is outside of the recvWindow"."""


class ServerClock:
    """The one owner of our clock's offset from Binance's server time.

    Every signed request (REST query, WebSocket API ``session.logon`` or
    ``userDataStream.subscribe.signature``) carries a ``timestamp`` the venue checks against
    ``recvWindow``; a local clock that is off gets -1021 on every request. The offset is measured by one
    REST read (``GET /api/v3/time``, through the shared transport and its request budget) and shared by
    the REST client and the user stream, so neither syncs on its own.

    Thread-safe (the offset is guarded by a lock; the read runs outside it on the caller's thread)."""

    def __init__(self, clock: Clock, read_server_ms: Callable[[], int]) -> None:
        """``read_server_ms``: the venue's time in epoch ms (the REST read; raises ``VenueError``)."""
        self._clock = clock
        self._read_server_ms = read_server_ms
        self._offset_ms = 0
        self._lock = threading.Lock()
        self.syncs = 0
        """How many times the offset was measured (start-up and after each -1021)."""

    @property
    def offset_ms(self) -> int:
        with self._lock:
            return self._offset_ms

    def sync(self) -> int:
        """Caller's thread: measure the offset (server time against the midpoint of the read, so half the
        round trip is not counted as skew) and return it in ms. A refused read raises and keeps the old
        offset."""
        before_ms = self._clock.wall_ns() // _NS_PER_MS
        server_ms = self._read_server_ms()
        after_ms = self._clock.wall_ns() // _NS_PER_MS
        with self._lock:
            self._offset_ms = server_ms - (before_ms + after_ms) // 2
            self.syncs += 1
            return self._offset_ms

    def timestamp_ms(self) -> int:
        """Any thread: now on the server's clock, for a signed request's ``timestamp``."""
        with self._lock:
            return self._clock.wall_ns() // _NS_PER_MS + self._offset_ms


class BinanceRest:
    """Thread-safe: the transport pools connections; the time offset is the ``ServerClock``'s.
    ``signer``: from ``auth.load_signer`` (the key kind the secret holds); None without keys."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr | None,
        signer: BinanceSigner | None,
        clock: Clock,
        budget: RequestBudget,
        timeout_s: float,
        recv_window_ms: int,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._signer = signer
        self._clock = clock
        self.budget = budget
        headers = {"X-MBX-APIKEY": api_key.get_secret_value()} if api_key is not None else {}
        self._transport = Transport(
            dialect=BinanceDialect(clock), budget=budget, timeout_s=timeout_s, headers=headers
        )
        self._recv_window_ms = recv_window_ms
        self.server_clock = ServerClock(clock, self._server_time_ms)
        """The offset every signed request of this venue uses (REST here, the user stream too)."""

    @property
    def has_keys(self) -> bool:
        return self._key is not None and self._signer is not None

    # -- plumbing -------------------------------------------------------------------------------------

    def sync_time(self) -> int:
        """Measure our clock's offset from the server's (``GET /api/v3/time``); returns it in ms."""
        return self.server_clock.sync()

    def _server_time_ms(self) -> int:
        response = self._transport.send("GET", f"{self._base}/api/v3/time", weight=WEIGHTS["time"])
        return self._transport.decode(response, _TIME).serverTime

    def _url(self, path: str, params: list[tuple[str, str]], *, signed: bool) -> str:
        if signed:
            if self._key is None or self._signer is None:
                raise AuthError(f"binance: signed endpoint {path} needs keys ({AUTH_HINT})", venue=VENUE)
            params = [
                *params,
                ("recvWindow", str(self._recv_window_ms)),
                ("timestamp", str(self.server_clock.timestamp_ms())),
            ]
            query = signed_query(self._signer, params)
        else:
            query = encode_params(params)
        return f"{self._base}{path}" + (f"?{query}" if query else "")

    def _send(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]],
        model: TypeAdapter[T],
        *,
        weight: int,
        signed: bool,
        priority: bool = False,
        places_order: bool = False,
    ) -> T:
        def transmit() -> HttpResponse:
            return self._transport.send(
                method,
                self._url(path, params, signed=signed),  # signed now: the timestamp is the current one
                weight=weight,
                orders=1 if places_order else 0,
                priority=priority,
                places_order=places_order,
                signed=signed,
            )

        try:
            response = transmit()
        except VenueUnavailable as exc:
            if exc.code != CLOCK_SKEW_CODE:
                raise
            # Refused before it was looked at (nothing was placed): resync, then sign and send once more.
            self.sync_time()
            response = transmit()
        return self._transport.decode(response, model, places_order=places_order)

    def close(self) -> None:
        self._transport.close()

    # -- endpoints ------------------------------------------------------------------------------------

    def exchange_info(self, venue_symbols: list[str]) -> BinanceExchangeInfo:
        params = [("symbols", json.dumps(venue_symbols, separators=(",", ":")))]
        info = self._send(
            "GET", "/api/v3/exchangeInfo", params, _INFO, weight=WEIGHTS["exchange_info"], signed=False
        )
        self.budget.apply_limits(limit_rules(info.rateLimits))
        return info

    def book_ticker(self, venue_symbol: str) -> BinanceRestBookTicker:
        return self._send(
            "GET",
            "/api/v3/ticker/bookTicker",
            [("symbol", venue_symbol)],
            _TICKER,
            weight=WEIGHTS["book_ticker"],
            signed=False,
            priority=True,
        )

    def new_order(self, params: list[tuple[str, str]], *, priority: bool) -> BinanceOrder:
        return self._send(
            "POST",
            "/api/v3/order",
            params,
            BINANCE_ORDER,
            weight=WEIGHTS["order"],
            signed=True,
            priority=priority,
            places_order=True,
        )

    def new_oco(self, params: list[tuple[str, str]]) -> BinanceOrderList:
        return self._send(
            "POST",
            "/api/v3/orderList/oco",
            params,
            BINANCE_ORDER_LIST,
            weight=WEIGHTS["order_list"],
            signed=True,
            priority=True,
            places_order=True,
        )

    def cancel_order(self, params: list[tuple[str, str]]) -> BinanceOrder | BinanceOrderList:
        return self._send(
            "DELETE",
            "/api/v3/order",
            params,
            BINANCE_CANCEL,
            weight=WEIGHTS["cancel"],
            signed=True,
            priority=True,
        )

    def get_order(self, params: list[tuple[str, str]]) -> BinanceOrder:
        return self._send(
            "GET",
            "/api/v3/order",
            params,
            BINANCE_ORDER,
            weight=WEIGHTS["get_order"],
            signed=True,
            priority=True,
        )

    def open_orders(self, venue_symbol: str | None) -> tuple[BinanceOrder, ...]:
        params = [("symbol", venue_symbol)] if venue_symbol else []
        weight = WEIGHTS["open_orders_symbol"] if venue_symbol else WEIGHTS["open_orders_all"]
        return self._send(
            "GET", "/api/v3/openOrders", params, BINANCE_ORDERS, weight=weight, signed=True, priority=True
        )

    def account(self) -> BinanceAccount:
        return self._send(
            "GET",
            "/api/v3/account",
            [("omitZeroBalances", "true")],
            _ACCOUNT,
            weight=WEIGHTS["account"],
            signed=True,
            priority=True,
        )

    def my_trades(self, venue_symbol: str, order_id: str) -> tuple[BinanceTrade, ...]:
        return self._send(
            "GET",
            "/api/v3/myTrades",
            [("symbol", venue_symbol), ("orderId", order_id)],
            BINANCE_TRADES,
            weight=WEIGHTS["my_trades"],
            signed=True,
            priority=True,
        )
