"""Alpaca REST: one method per endpoint over one pooled ``requests`` session (trading and data hosts).

Every call spends from the shared ``RequestBudget`` (200 requests a minute per account; exits and
cancels with priority) and maps failures to typed errors; after sending, a timeout or dropped
connection on an order is ``OutcomeUnknown``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from autohedge.adapters.alpaca.auth import auth_headers
from autohedge.adapters.alpaca.constants import VENUE
from autohedge.adapters.alpaca.parse import map_error
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import AuthError, OutcomeUnknown, VenueUnavailable
from autohedge.core.ratelimit import RequestBudget

__all__ = ["AUTH_HINT", "AlpacaRest"]

AUTH_HINT = "set AUTOHEDGE_ALPACA_API_KEY_ID and AUTOHEDGE_ALPACA_API_SECRET_KEY"


class AlpacaRest:
    def __init__(
        self,
        *,
        rest_url: str,
        data_url: str,
        key_id: SecretStr | None,
        secret_key: SecretStr | None,
        clock: Clock,
        budget: RequestBudget,
        timeout_s: float,
    ) -> None:
        self._rest = rest_url.rstrip("/")
        self._data = data_url.rstrip("/")
        self._clock = clock
        self.budget = budget
        self._timeout = (min(timeout_s, 5.0), timeout_s)
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "autohedge"
        self._has_keys = key_id is not None and secret_key is not None
        if key_id is not None and secret_key is not None:
            self._session.headers.update(auth_headers(key_id, secret_key))

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        priority: bool = False,
        mutates: bool = False,
    ) -> Any:
        if not self._has_keys:
            raise AuthError(f"alpaca needs keys ({AUTH_HINT})", venue=VENUE)
        self.budget.acquire(1, priority=priority)
        try:
            response = self._session.request(method, url, params=params, json=body, timeout=self._timeout)
        except requests.ConnectTimeout:
            raise VenueUnavailable(
                f"alpaca: cannot connect to {url}", venue=VENUE, retry_after_s=1.0
            ) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if mutates and "refused" not in str(exc).lower():
                raise OutcomeUnknown(
                    f"alpaca {method} {url}: {type(exc).__name__} after sending", venue=VENUE
                ) from None
            raise VenueUnavailable(
                f"alpaca {method} {url}: {type(exc).__name__}", venue=VENUE, retry_after_s=1.0
            ) from None
        remaining = response.headers.get("X-Ratelimit-Remaining")
        limit = response.headers.get("X-Ratelimit-Limit")
        if remaining is not None and limit is not None and remaining.isdigit() and limit.isdigit():
            self.budget.observe_used(float(int(limit) - int(remaining)))
        if response.status_code >= 400:
            error = map_error(
                response.status_code,
                response.text,
                response.headers,
                mutates=mutates,
                auth_hint=AUTH_HINT,
                now_s=self._clock.wall_ns() / NS_PER_S,
            )
            if response.status_code == 429:
                self.budget.ban(getattr(error, "retry_after_s", 60.0))
            raise error
        if response.status_code == 204 or not response.content:
            return None
        try:
            return json.loads(response.text, parse_float=Decimal)  # data endpoints send JSON numbers
        except json.JSONDecodeError:
            if mutates:
                raise OutcomeUnknown(f"alpaca {method} {url}: unreadable response", venue=VENUE) from None
            raise VenueUnavailable(f"alpaca {method} {url}: unreadable response", venue=VENUE) from None

    def close(self) -> None:
        self._session.close()

    # -- trading ----------------------------------------------------------------------------------------

    def new_order(self, body: dict[str, Any], *, priority: bool) -> Any:
        return self._call("POST", f"{self._rest}/v2/orders", body=body, priority=priority, mutates=True)

    def cancel_order(self, order_id: str) -> None:
        self._call(
            "DELETE", f"{self._rest}/v2/orders/{quote(order_id, safe='')}", priority=True, mutates=True
        )

    def get_order(self, order_id: str) -> Any:
        return self._call("GET", f"{self._rest}/v2/orders/{quote(order_id, safe='')}", priority=True)

    def get_order_by_client_id(self, client_order_id: str) -> Any:
        return self._call(
            "GET",
            f"{self._rest}/v2/orders:by_client_order_id",
            params={"client_order_id": client_order_id},
            priority=True,
        )

    def open_orders(self, venue_symbol: str | None) -> Any:
        params = {"status": "open", "limit": "500"}
        if venue_symbol:
            params["symbols"] = venue_symbol
        return self._call("GET", f"{self._rest}/v2/orders", params=params, priority=True)

    def positions(self) -> Any:
        return self._call("GET", f"{self._rest}/v2/positions", priority=True)

    def account(self) -> Any:
        return self._call("GET", f"{self._rest}/v2/account", priority=True)

    def crypto_assets(self) -> Any:
        return self._call(
            "GET", f"{self._rest}/v2/assets", params={"asset_class": "crypto", "status": "active"}
        )

    def asset(self, venue_symbol: str) -> Any:
        return self._call("GET", f"{self._rest}/v2/assets/{quote(venue_symbol, safe='')}")

    # -- market data ------------------------------------------------------------------------------------

    def latest_crypto_quote(self, venue_symbol: str) -> Any:
        return self._call(
            "GET",
            f"{self._data}/v1beta3/crypto/us/latest/quotes",
            params={"symbols": venue_symbol},
            priority=True,
        )

    def latest_stock_quote(self, ticker: str) -> Any:
        return self._call(
            "GET",
            f"{self._data}/v2/stocks/{quote(ticker, safe='')}/quotes/latest",
            params={"feed": "iex"},
            priority=True,
        )
