"""Alpaca REST: one method per endpoint over the shared ``Transport`` (trading and data hosts), returning
wire models.

What is Alpaca's own: two key headers (no signing), ``{code,message}`` error bodies, and the
``X-Ratelimit-Limit/Remaining/Reset`` headers (200 requests a minute per account; after Remaining
reaches 0 nothing is sent until Reset). Sending, budgets and the retry decision are the transport's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import SecretStr, TypeAdapter

from autohedge.adapters.alpaca.auth import auth_headers
from autohedge.adapters.alpaca.constants import VENUE
from autohedge.adapters.alpaca.parse import map_error
from autohedge.adapters.alpaca.wire import (
    ALPACA_ASSETS,
    ALPACA_ORDERS,
    ALPACA_POSITIONS,
    AlpacaAccount,
    AlpacaAsset,
    AlpacaLatestCryptoQuotes,
    AlpacaLatestStockQuote,
    AlpacaOrder,
    AlpacaPosition,
)
from autohedge.adapters.transport import Transport
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import AuthError, VenueError
from autohedge.core.ratelimit import RequestBudget

__all__ = ["AUTH_HINT", "AlpacaDialect", "AlpacaRest"]

AUTH_HINT = "set AUTOHEDGE_ALPACA_API_KEY_ID and AUTOHEDGE_ALPACA_API_SECRET_KEY"
T = TypeVar("T")
_ORDER = TypeAdapter(AlpacaOrder)
_ACCOUNT = TypeAdapter(AlpacaAccount)
_ASSET = TypeAdapter(AlpacaAsset)
_CRYPTO_QUOTES = TypeAdapter(AlpacaLatestCryptoQuotes)
_STOCK_QUOTE = TypeAdapter(AlpacaLatestStockQuote)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


class AlpacaDialect:
    venue = VENUE

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def map_error(self, status: int, body: str, headers: Mapping[str, str]) -> VenueError:
        return map_error(
            status, body, headers, mutates=True, auth_hint=AUTH_HINT, now_s=self._clock.wall_ns() / NS_PER_S
        )

    def observe_usage(self, headers: Mapping[str, str], budget: RequestBudget) -> None:
        limit = _header(headers, "X-Ratelimit-Limit")
        remaining = _header(headers, "X-Ratelimit-Remaining")
        reset = _header(headers, "X-Ratelimit-Reset")
        if limit is None or remaining is None or reset is None:
            return
        try:
            budget.observe_remaining(
                limit=float(limit), remaining=float(remaining), reset_wall_s=float(reset)
            )
        except ValueError:
            return  # a malformed header is ignored: our own count still holds


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
        self.budget = budget
        self.has_keys = key_id is not None and secret_key is not None
        headers = auth_headers(key_id, secret_key) if key_id is not None and secret_key is not None else {}
        self._transport = Transport(
            dialect=AlpacaDialect(clock), budget=budget, timeout_s=timeout_s, headers=headers
        )

    def _call(
        self,
        method: str,
        url: str,
        model: TypeAdapter[T],
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        priority: bool = False,
        places_order: bool = False,
    ) -> T:
        if not self.has_keys:
            raise AuthError(f"alpaca needs keys ({AUTH_HINT})", venue=VENUE)
        response = self._transport.send(
            method,
            url,
            params=params,
            json_body=body,
            orders=1 if places_order else 0,
            priority=priority,
            places_order=places_order,
            signed=True,
        )
        return self._transport.decode(response, model, places_order=places_order)

    def close(self) -> None:
        self._transport.close()

    # -- trading ----------------------------------------------------------------------------------------

    def new_order(self, body: dict[str, Any], *, priority: bool) -> AlpacaOrder:
        return self._call(
            "POST", f"{self._rest}/v2/orders", _ORDER, body=body, priority=priority, places_order=True
        )

    def cancel_order(self, order_id: str) -> None:
        """204 without a body: the order's state comes from a read."""
        if not self.has_keys:
            raise AuthError(f"alpaca needs keys ({AUTH_HINT})", venue=VENUE)
        self._transport.send(
            "DELETE", f"{self._rest}/v2/orders/{quote(order_id, safe='')}", priority=True, signed=True
        )

    def get_order(self, order_id: str) -> AlpacaOrder:
        return self._call("GET", f"{self._rest}/v2/orders/{quote(order_id, safe='')}", _ORDER, priority=True)

    def get_order_by_client_id(self, client_order_id: str) -> AlpacaOrder:
        return self._call(
            "GET",
            f"{self._rest}/v2/orders:by_client_order_id",
            _ORDER,
            params={"client_order_id": client_order_id},
            priority=True,
        )

    def open_orders(self, venue_symbol: str | None) -> tuple[AlpacaOrder, ...]:
        params = {"status": "open", "limit": "500"}
        if venue_symbol:
            params["symbols"] = venue_symbol
        return self._call("GET", f"{self._rest}/v2/orders", ALPACA_ORDERS, params=params, priority=True)

    def positions(self) -> tuple[AlpacaPosition, ...]:
        return self._call("GET", f"{self._rest}/v2/positions", ALPACA_POSITIONS, priority=True)

    def account(self) -> AlpacaAccount:
        return self._call("GET", f"{self._rest}/v2/account", _ACCOUNT, priority=True)

    def crypto_assets(self) -> tuple[AlpacaAsset, ...]:
        return self._call(
            "GET",
            f"{self._rest}/v2/assets",
            ALPACA_ASSETS,
            params={"asset_class": "crypto", "status": "active"},
        )

    def asset(self, venue_symbol: str) -> AlpacaAsset:
        return self._call("GET", f"{self._rest}/v2/assets/{quote(venue_symbol, safe='')}", _ASSET)

    # -- market data ------------------------------------------------------------------------------------

    def latest_crypto_quote(self, venue_symbol: str) -> AlpacaLatestCryptoQuotes:
        return self._call(
            "GET",
            f"{self._data}/v1beta3/crypto/us/latest/quotes",
            _CRYPTO_QUOTES,
            params={"symbols": venue_symbol},
            priority=True,
        )

    def latest_stock_quote(self, ticker: str) -> AlpacaLatestStockQuote:
        return self._call(
            "GET",
            f"{self._data}/v2/stocks/{quote(ticker, safe='')}/quotes/latest",
            _STOCK_QUOTE,
            params={"feed": "iex"},
            priority=True,
        )
