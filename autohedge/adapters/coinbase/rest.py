"""Coinbase Advanced Trade REST: one method per endpoint over the shared ``Transport``, returning wire
models.

What is Coinbase's own: a fresh ES256 JWT in ``Authorization`` for every private request (``auth.py``),
create-order failures as HTTP 200 ``success: false`` bodies (mapped by the adapter), other failures as
``{"error","message"}`` bodies with HTTP status (``CoinbaseDialect``), cursor pagination. Sending, the
request budget (30 private requests a second) and the retry decision are the transport's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from pydantic import TypeAdapter

from autohedge.adapters.coinbase.auth import KEY_VARIABLE, SECRET_VARIABLE, CoinbaseSigner, jwt_uri
from autohedge.adapters.coinbase.constants import VENUE
from autohedge.adapters.coinbase.parse import map_error
from autohedge.adapters.coinbase.wire import (
    CoinbaseAccounts,
    CoinbaseBestBidAsk,
    CoinbaseCancelResponse,
    CoinbaseCancelResult,
    CoinbaseCreateResponse,
    CoinbaseFill,
    CoinbaseFillList,
    CoinbaseOrder,
    CoinbaseOrderList,
    CoinbaseOrderResponse,
    CoinbasePreview,
    CoinbaseProduct,
)
from autohedge.adapters.transport import Transport
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import AuthError, MalformedMessage, VenueError
from autohedge.core.ratelimit import RequestBudget

__all__ = ["AUTH_HINT", "CoinbaseDialect", "CoinbaseRest"]

AUTH_HINT = f"set {KEY_VARIABLE} (the CDP key name) and {SECRET_VARIABLE} (its EC private key PEM)"
T = TypeVar("T")
_PAGES_MAX = 50
"""Pagination guard: a cursor that never ends is a venue fault, not a reason to loop forever."""
_PRODUCT = TypeAdapter(CoinbaseProduct)
_BOOKS = TypeAdapter(CoinbaseBestBidAsk)
_CREATE = TypeAdapter(CoinbaseCreateResponse)
_PREVIEW = TypeAdapter(CoinbasePreview)
_CANCEL = TypeAdapter(CoinbaseCancelResponse)
_ORDER = TypeAdapter(CoinbaseOrderResponse)
_ORDERS = TypeAdapter(CoinbaseOrderList)
_FILLS = TypeAdapter(CoinbaseFillList)
_ACCOUNTS = TypeAdapter(CoinbaseAccounts)


class CoinbaseDialect:
    venue = VENUE

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def map_error(self, status: int, body: str, headers: Mapping[str, str]) -> VenueError:
        # mutates=True: the transport turns a 5xx into "outcome unknown" only for order placement.
        now_s = self._clock.wall_ns() / NS_PER_S
        return map_error(status, body, headers, mutates=True, auth_hint=AUTH_HINT, now_s=now_s)

    def observe_usage(self, headers: Mapping[str, str], budget: RequestBudget) -> None:
        """The ``x-ratelimit-*`` headers' exact semantics are UNCONFIRMED (window and reset unit), so
        our own 30/s count and the 429 answers drive the budget."""


class CoinbaseRest:
    """Thread-safe: the transport pools connections; the signer is immutable."""

    def __init__(
        self,
        *,
        rest_url: str,
        signer: CoinbaseSigner | None,
        clock: Clock,
        budget: RequestBudget,
        timeout_s: float,
    ) -> None:
        self._base = rest_url.rstrip("/")
        self._signer = signer
        self._clock = clock
        self.budget = budget
        self._transport = Transport(dialect=CoinbaseDialect(clock), budget=budget, timeout_s=timeout_s)

    @property
    def has_keys(self) -> bool:
        return self._signer is not None

    def _call(
        self,
        method: str,
        path: str,
        model: TypeAdapter[T],
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
        private: bool = True,
        priority: bool = False,
        places_order: bool = False,
    ) -> T:
        headers: dict[str, str] = {}
        if private:
            if self._signer is None:
                raise AuthError(f"coinbase needs API keys ({AUTH_HINT})", venue=VENUE)
            uri = jwt_uri(method, self._base, path)
            token = self._signer.rest_jwt(uri, now_s=self._clock.wall_ns() // NS_PER_S)
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self._base}{path}" + (f"?{urlencode(list(query))}" if query else "")
        response = self._transport.send(
            method,
            url,
            json_body=body,
            headers=headers,
            orders=1 if places_order else 0,
            priority=priority,
            places_order=places_order,
            signed=private,
        )
        return self._transport.decode(response, model, places_order=places_order)

    def close(self) -> None:
        self._transport.close()

    # -- reference and market data ----------------------------------------------------------------------

    def product(self, product_id: str) -> CoinbaseProduct:
        """Authenticated ``/products/{id}`` with keys, the public ``/market/products/{id}`` without."""
        path = f"/products/{quote(product_id)}" if self.has_keys else f"/market/products/{quote(product_id)}"
        return self._call("GET", path, _PRODUCT, private=self.has_keys)

    def best_bid_ask(self, product_ids: Sequence[str]) -> CoinbaseBestBidAsk:
        query = [("product_ids", p) for p in product_ids]
        return self._call("GET", "/best_bid_ask", _BOOKS, query=query, priority=True)

    # -- orders -------------------------------------------------------------------------------------------

    def create_order(self, body: Mapping[str, Any], *, priority: bool) -> CoinbaseCreateResponse:
        return self._call("POST", "/orders", _CREATE, body=body, priority=priority, places_order=True)

    def preview_order(self, body: Mapping[str, Any]) -> CoinbasePreview:
        """The same body as a create, nothing placed: ``errs`` says what the venue would refuse."""
        return self._call("POST", "/orders/preview", _PREVIEW, body=body)

    def cancel_orders(self, order_ids: Sequence[str]) -> tuple[CoinbaseCancelResult, ...]:
        return self._call(
            "POST", "/orders/batch_cancel", _CANCEL, body={"order_ids": list(order_ids)}, priority=True
        ).results

    def get_order(self, order_id: str) -> CoinbaseOrder:
        return self._call("GET", f"/orders/historical/{quote(order_id)}", _ORDER, priority=True).order

    def list_orders(
        self, *, product_ids: Sequence[str] = (), statuses: Sequence[str] = (), pages_max: int = _PAGES_MAX
    ) -> list[CoinbaseOrder]:
        """Every page of ``/orders/historical/batch`` (newest first), at most ``pages_max`` pages."""
        base = [("product_ids", p) for p in product_ids] + [("order_status", s) for s in statuses]
        out: list[CoinbaseOrder] = []
        cursor = ""
        for _ in range(pages_max):
            query = base + ([("cursor", cursor)] if cursor else [])
            page = self._call("GET", "/orders/historical/batch", _ORDERS, query=query, priority=True)
            out += page.orders
            if not page.has_next or not page.cursor:
                return out
            cursor = page.cursor
        raise MalformedMessage(f"coinbase order list did not end within {pages_max} pages")

    def fills(self, order_ids: Sequence[str]) -> tuple[CoinbaseFill, ...]:
        """``/orders/historical/fills`` of the given orders: the record a derived fill is confirmed by."""
        query = [("order_ids", o) for o in order_ids]
        return self._call("GET", "/orders/historical/fills", _FILLS, query=query, priority=True).fills

    # -- account ------------------------------------------------------------------------------------------

    def accounts(self) -> list[CoinbaseAccounts]:
        """Every page of ``/accounts``."""
        pages: list[CoinbaseAccounts] = []
        cursor = ""
        for _ in range(_PAGES_MAX):
            query = [("limit", "250")] + ([("cursor", cursor)] if cursor else [])
            page = self._call("GET", "/accounts", _ACCOUNTS, query=query, priority=True)
            pages.append(page)
            if not page.has_next or not page.cursor:
                return pages
            cursor = page.cursor
        raise MalformedMessage(f"coinbase accounts did not end within {_PAGES_MAX} pages")
