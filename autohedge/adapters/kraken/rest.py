"""Kraken Spot REST: one method per endpoint over the shared ``Transport``, returning wire models.

What is Kraken's own: ``API-Key`` + ``API-Sign`` over the form body exactly as sent with a strictly
increasing nonce (``auth.py``), failures as HTTP 200 with ``error[]`` strings (``parse.unwrap``; recorded
in the venue's state through ``Transport.refusal``), and the REST call counter (15, draining 0.33/s,
a ``DecayingCounter``). Private calls are sent one at a time: nonces must arrive in increasing order,
and parallel requests could overtake each other on separate connections (``EAPI:Invalid nonce``); the
counter allows a few calls a second at most, so this costs nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr

from autohedge.adapters.kraken.auth import (
    KEY_VARIABLE,
    SECRET_VARIABLE,
    NonceSource,
    decode_secret,
    encode_form,
    sign,
)
from autohedge.adapters.kraken.constants import REST_COSTS, VENUE
from autohedge.adapters.kraken.parse import map_errors, unwrap, validate_wire
from autohedge.adapters.kraken.wire import (
    KrakenAddOrderResult,
    KrakenAssetPair,
    KrakenCancelResult,
    KrakenEnvelope,
    KrakenOrderInfo,
    KrakenWsToken,
)
from autohedge.adapters.transport import Transport
from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import AuthError, MalformedMessage, OutcomeUnknown, VenueError
from autohedge.core.ratecounter import DecayingCounter
from autohedge.core.ratelimit import RequestBudget

__all__ = ["AUTH_HINT", "KrakenDialect", "KrakenRest"]

AUTH_HINT = f"set {KEY_VARIABLE} and {SECRET_VARIABLE}"


class KrakenDialect:
    venue = VENUE

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def map_error(self, status: int, body: str, headers: Mapping[str, str]) -> VenueError:
        """Non-2xx answers (gateway errors): the body may still carry ``error[]``."""
        try:
            envelope = validate_wire(KrakenEnvelope, _json(body), "error body")
            errors = list(envelope.error) or [f"EGeneral:HTTP {status}"]
        except MalformedMessage:
            errors = [f"EService:Unavailable (HTTP {status})" if status >= 500 else f"EGeneral:HTTP {status}"]
        return map_errors(errors, mutates=True, auth_hint=AUTH_HINT, now_s=self._clock.wall_ns() / NS_PER_S)

    def observe_usage(self, headers: Mapping[str, str], budget: RequestBudget) -> None:
        """Kraken reports no usage in headers: the call counter is modelled by ``DecayingCounter``."""


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


class KrakenRest:
    """Thread-safe: private calls are serialised (nonce order); public ones run in parallel."""

    def __init__(
        self,
        *,
        rest_url: str,
        api_key: SecretStr | None,
        api_secret: SecretStr | None,
        clock: Clock,
        budget: RequestBudget,
        counter: DecayingCounter,
        nonces: NonceSource,
        timeout_s: float,
    ) -> None:
        self._base = rest_url.rstrip("/")
        self._key = api_key
        self._secret = decode_secret(api_secret) if api_secret is not None else None
        self._clock = clock
        self.budget = budget
        self.counter = counter
        self._nonces = nonces
        self._private_lock = threading.Lock()
        self._transport = Transport(dialect=KrakenDialect(clock), budget=budget, timeout_s=timeout_s)

    @property
    def has_keys(self) -> bool:
        return self._key is not None and self._secret is not None

    def _result(self, response_text: str, *, places_order: bool) -> Any:
        try:
            return unwrap(
                _json(response_text),
                mutates=places_order,
                auth_hint=AUTH_HINT,
                now_s=self._clock.wall_ns() / NS_PER_S,
            )
        except VenueError as exc:
            raise self._transport.refusal(exc, places_order=places_order) from None
        except MalformedMessage as exc:
            if places_order:  # sent, and its answer unreadable: the order may exist
                self.budget.failed("unreadable response")
                raise OutcomeUnknown(f"{exc}; the order may exist", venue=VENUE) from None
            raise

    def public(self, endpoint: str, query: Sequence[tuple[str, str]] = ()) -> Any:
        url = f"{self._base}/0/public/{endpoint}" + (f"?{urlencode(list(query))}" if query else "")
        response = self._transport.send("GET", url, priority=True)
        return self._result(response.text, places_order=False)

    def private(
        self,
        endpoint: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        priority: bool = True,
        places_order: bool = False,
    ) -> Any:
        if self._key is None or self._secret is None:
            raise AuthError(f"kraken needs API keys ({AUTH_HINT})", venue=VENUE)
        cost = REST_COSTS["order"] if endpoint in ("AddOrder", "CancelOrder") else REST_COSTS["default"]
        if cost:
            self.counter.charge(cost, priority=priority)
        path = f"/0/private/{endpoint}"
        with self._private_lock:
            nonce = str(self._nonces.next())
            body = encode_form([("nonce", nonce), *params])
            headers = {
                "API-Key": self._key.get_secret_value(),
                "API-Sign": sign(path, nonce, body, self._secret),
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            }
            response = self._transport.send(
                "POST",
                f"{self._base}{path}",
                data=body,
                headers=headers,
                orders=1 if places_order else 0,
                priority=priority,
                places_order=places_order,
                signed=True,
            )
        return self._result(response.text, places_order=places_order)

    def close(self) -> None:
        self._transport.close()

    # -- endpoints ----------------------------------------------------------------------------------------

    def asset_pairs(self, altnames: Sequence[str]) -> dict[str, KrakenAssetPair]:
        raw = self.public("AssetPairs", [("pair", ",".join(altnames))])
        if not isinstance(raw, dict):
            raise MalformedMessage("kraken AssetPairs result is not an object")
        return {k: validate_wire(KrakenAssetPair, v, f"asset pair {k}") for k, v in raw.items()}

    def ticker(self, altname: str) -> dict[str, Any]:
        raw = self.public("Ticker", [("pair", altname)])
        if not isinstance(raw, dict) or len(raw) != 1:
            raise MalformedMessage("kraken Ticker result is not one pair")
        (value,) = raw.values()
        if not isinstance(value, dict):
            raise MalformedMessage("kraken Ticker entry is not an object")
        return value

    def add_order(self, params: Sequence[tuple[str, str]], *, priority: bool) -> KrakenAddOrderResult:
        raw = self.private("AddOrder", params, priority=priority, places_order=True)
        try:
            return validate_wire(KrakenAddOrderResult, raw, "AddOrder result")
        except MalformedMessage as exc:
            raise OutcomeUnknown(f"{exc}; the order may exist", venue=VENUE) from None

    def cancel_order(self, *, txid: str) -> KrakenCancelResult:
        return validate_wire(KrakenCancelResult, self.private("CancelOrder", [("txid", txid)]), "CancelOrder")

    # Reads use the whole call counter like every venue's reads (the caller cannot say whether a read
    # serves an entry or an exit); the cancel path's read asks for it explicitly.

    def query_orders(self, txids: Sequence[str], *, priority: bool = True) -> dict[str, KrakenOrderInfo]:
        raw = self.private("QueryOrders", [("txid", ",".join(txids))], priority=priority)
        return _orders(raw, "QueryOrders")

    def open_orders(
        self, *, cl_ord_id: str | None = None, priority: bool = True
    ) -> dict[str, KrakenOrderInfo]:
        params = [("cl_ord_id", cl_ord_id)] if cl_ord_id else []
        raw = self.private("OpenOrders", params, priority=priority)
        return _orders(raw.get("open") if isinstance(raw, dict) else None, "OpenOrders")

    def closed_orders(self, *, cl_ord_id: str, priority: bool = True) -> dict[str, KrakenOrderInfo]:
        raw = self.private("ClosedOrders", [("cl_ord_id", cl_ord_id)], priority=priority)
        return _orders(raw.get("closed") if isinstance(raw, dict) else None, "ClosedOrders")

    def balances(self, *, priority: bool = True) -> dict[str, Any]:
        raw = self.private("BalanceEx", priority=priority)
        if not isinstance(raw, dict):
            raise MalformedMessage("kraken BalanceEx result is not an object")
        return raw

    def websockets_token(self) -> KrakenWsToken:
        raw = self.private("GetWebSocketsToken", priority=False)
        return validate_wire(KrakenWsToken, raw, "GetWebSocketsToken")


def _orders(raw: Any, what: str) -> dict[str, KrakenOrderInfo]:
    if not isinstance(raw, dict):
        raise MalformedMessage(f"kraken {what} result is not an object of orders")
    return {txid: validate_wire(KrakenOrderInfo, info, f"{what} {txid}") for txid, info in raw.items()}
