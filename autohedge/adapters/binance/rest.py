"""Binance REST: one method per endpoint over one pooled ``requests`` session.

Every call spends from the shared ``RequestBudget`` first (exits and cancels with priority), sends the
signed parameters exactly as signed, feeds ``X-MBX-USED-WEIGHT-1M`` back into the budget, and turns
failures into typed errors: a timeout or dropped connection after sending is ``OutcomeUnknown``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import requests
from pydantic import SecretStr

from autohedge.adapters.binance.auth import encode_params, signed_query
from autohedge.adapters.binance.constants import VENUE, WEIGHTS
from autohedge.adapters.binance.parse import map_error
from autohedge.core.clock import Clock
from autohedge.core.errors import AuthError, OutcomeUnknown, VenueUnavailable
from autohedge.core.ratelimit import RequestBudget

__all__ = ["BinanceRest"]

AUTH_HINT = "set AUTOHEDGE_BINANCE_API_KEY and AUTOHEDGE_BINANCE_API_SECRET"


class BinanceRest:
    """Thread-safe: the session pools connections; the time offset is guarded by a lock."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr | None,
        api_secret: SecretStr | None,
        clock: Clock,
        budget: RequestBudget,
        timeout_s: float,
        recv_window_ms: int,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._secret = api_secret
        self._clock = clock
        self._budget = budget
        self._timeout = (min(timeout_s, 5.0), timeout_s)
        self._recv_window_ms = recv_window_ms
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "autohedge"
        if api_key is not None:
            self._session.headers["X-MBX-APIKEY"] = api_key.get_secret_value()
        self._offset_ms = 0
        self._offset_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------------------

    def sync_time(self) -> int:
        """Measure our clock's offset from the server's (``GET /api/v3/time``); returns it in ms."""
        before = self._clock.wall_ns() // 1_000_000
        server = int(
            self._call("GET", "/api/v3/time", [], weight=WEIGHTS["time"], signed=False)["serverTime"]
        )
        after = self._clock.wall_ns() // 1_000_000
        with self._offset_lock:
            self._offset_ms = server - (before + after) // 2
            return self._offset_ms

    def _timestamp_ms(self) -> int:
        with self._offset_lock:
            return self._clock.wall_ns() // 1_000_000 + self._offset_ms

    def _call(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]],
        *,
        weight: int,
        signed: bool,
        priority: bool = False,
        mutates: bool = False,
    ) -> Any:
        self._budget.acquire(weight, priority=priority)
        if signed:
            if self._key is None or self._secret is None:
                raise AuthError(f"binance: signed endpoint {path} needs keys ({AUTH_HINT})", venue=VENUE)
            params = [
                *params,
                ("recvWindow", str(self._recv_window_ms)),
                ("timestamp", str(self._timestamp_ms())),
            ]
            query = signed_query(self._secret.get_secret_value(), params)
        else:
            query = encode_params(params)
        url = f"{self._base}{path}" + (f"?{query}" if query else "")
        try:
            response = self._session.request(method, url, timeout=self._timeout)
        except requests.ConnectTimeout:
            raise VenueUnavailable(
                f"binance: cannot connect to {self._base}", venue=VENUE, retry_after_s=1.0
            ) from None
        except requests.ConnectionError as exc:
            if mutates and not _never_sent(exc):
                raise OutcomeUnknown(
                    f"binance {method} {path}: connection lost ({type(exc).__name__})", venue=VENUE
                ) from None
            raise VenueUnavailable(
                f"binance {method} {path}: {type(exc).__name__}", venue=VENUE, retry_after_s=1.0
            ) from None
        except requests.Timeout:
            if mutates:
                raise OutcomeUnknown(
                    f"binance {method} {path}: no response within {self._timeout[1]}s", venue=VENUE
                ) from None
            raise VenueUnavailable(
                f"binance {method} {path}: timed out", venue=VENUE, retry_after_s=1.0
            ) from None
        used = response.headers.get("X-MBX-USED-WEIGHT-1M") or response.headers.get("x-mbx-used-weight-1m")
        if used is not None and used.isdigit():
            self._budget.observe_used(float(used))
        if response.status_code >= 400:
            error = map_error(response.status_code, response.text, response.headers, auth_hint=AUTH_HINT)
            if response.status_code in (429, 418):
                self._budget.ban(getattr(error, "retry_after_s", 60.0))
            if getattr(error, "code", None) == -1021:
                self.sync_time()
            if response.status_code >= 500 and not mutates:
                raise VenueUnavailable(str(error), venue=VENUE, code=error.code, retry_after_s=1.0)
            raise error
        try:
            return response.json()
        except json.JSONDecodeError:
            if mutates:
                raise OutcomeUnknown(f"binance {method} {path}: unreadable response", venue=VENUE) from None
            raise VenueUnavailable(f"binance {method} {path}: unreadable response", venue=VENUE) from None

    def close(self) -> None:
        self._session.close()

    # -- endpoints ------------------------------------------------------------------------------------

    def exchange_info(self, venue_symbols: list[str]) -> Any:
        return self._call(
            "GET",
            "/api/v3/exchangeInfo",
            [("symbols", json.dumps(venue_symbols, separators=(",", ":")))],
            weight=WEIGHTS["exchange_info"],
            signed=False,
        )

    def book_ticker(self, venue_symbol: str) -> Any:
        return self._call(
            "GET",
            "/api/v3/ticker/bookTicker",
            [("symbol", venue_symbol)],
            weight=WEIGHTS["book_ticker"],
            signed=False,
        )

    def new_order(self, params: list[tuple[str, str]], *, priority: bool) -> Any:
        return self._call(
            "POST",
            "/api/v3/order",
            params,
            weight=WEIGHTS["order"],
            signed=True,
            priority=priority,
            mutates=True,
        )

    def new_oco(self, params: list[tuple[str, str]]) -> Any:
        return self._call(
            "POST",
            "/api/v3/orderList/oco",
            params,
            weight=WEIGHTS["order_list"],
            signed=True,
            priority=True,
            mutates=True,
        )

    def cancel_order(self, params: list[tuple[str, str]]) -> Any:
        return self._call(
            "DELETE",
            "/api/v3/order",
            params,
            weight=WEIGHTS["cancel"],
            signed=True,
            priority=True,
            mutates=True,
        )

    def get_order(self, params: list[tuple[str, str]]) -> Any:
        return self._call(
            "GET", "/api/v3/order", params, weight=WEIGHTS["get_order"], signed=True, priority=True
        )

    def open_orders(self, venue_symbol: str | None) -> Any:
        params = [("symbol", venue_symbol)] if venue_symbol else []
        weight = WEIGHTS["open_orders_symbol"] if venue_symbol else WEIGHTS["open_orders_all"]
        return self._call("GET", "/api/v3/openOrders", params, weight=weight, signed=True, priority=True)

    def account(self) -> Any:
        return self._call(
            "GET",
            "/api/v3/account",
            [("omitZeroBalances", "true")],
            weight=WEIGHTS["account"],
            signed=True,
            priority=True,
        )

    def my_trades(self, venue_symbol: str, order_id: str) -> Any:
        return self._call(
            "GET",
            "/api/v3/myTrades",
            [("symbol", venue_symbol), ("orderId", order_id)],
            weight=WEIGHTS["my_trades"],
            signed=True,
            priority=True,
        )


def _never_sent(exc: requests.ConnectionError) -> bool:
    """A refused connection means the request never reached the venue."""
    return "refused" in str(exc).lower()
