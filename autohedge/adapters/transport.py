"""The one HTTP transport every venue's REST client uses.

It owns the pooled keep-alive connections (urllib3 directly: requests' session machinery cost about
0.17 ms of interpreter time per order on top of urllib3's, and every order holds the interpreter lock
for it), the explicit (connect, read) timeouts, the venue's ``RequestBudget`` and the single decision
about what a failure means:

* refused by our own budget or a venue pause -> ``RateLimited`` (nothing was sent);
* no connection could be made -> ``VenueUnavailable`` (retryable: the request never left);
* a timeout, a dropped connection, a 5xx or an unreadable answer after sending an order-placing request
  -> ``OutcomeUnknown`` (the order may exist: resolve by client order id); for any other request
  -> ``VenueUnavailable``;
* 429/418 with Retry-After -> ``RateLimited`` and the venue's state paused until then;
* rejected keys -> ``AuthError`` and the venue's state ``auth_failed``.

A venue folder supplies only what differs (``VenueDialect``): error-body mapping and usage headers.
Signing stays in the venue's ``auth.py``/``rest.py``, which hands over the request exactly as signed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies, proxy_bypass

import certifi
import urllib3
from pydantic import TypeAdapter, ValidationError
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError

from autohedge.core.errors import (
    AuthError,
    MalformedMessage,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from autohedge.core.ratelimit import RequestBudget
from autohedge.core.validation import first_problem

__all__ = ["HttpResponse", "Transport", "VenueDialect", "classified", "never_sent"]

T = TypeVar("T")
CONNECT_TIMEOUT_MAX_S = 5.0
POOL_CONNECTIONS_PER_HOST = 20
"""Kept-alive connections per host: the order senders (up to 16), the executor and the monitor send at
once; a connection beyond this would be closed after its request instead of kept alive."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A venue's answer, read in full (the connection goes back to the pool before anything else)."""

    method: str
    url: str
    status_code: int
    headers: Mapping[str, str]
    """Case-insensitive (urllib3's header dict)."""
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class VenueDialect(Protocol):
    """What one venue's REST differs in. Pure functions of the response; called on the caller's thread."""

    venue: str

    def map_error(self, status: int, body: str, headers: Mapping[str, str]) -> VenueError:
        """HTTP status + the venue's error body -> the typed error (before the send/retry decision)."""
        ...

    def observe_usage(self, headers: Mapping[str, str], budget: RequestBudget) -> None:
        """Feed the venue's usage headers (used weight, order counts, remaining) into the budget."""
        ...


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL."""
    scheme, _, netloc, *_ = url.split("/", 3)
    return f"{scheme}//{netloc}"


def _target(url: str) -> str:
    """The path and query of an absolute URL, as the request line carries it."""
    parts = url.split("/", 3)
    return "/" + parts[3] if len(parts) > 3 else "/"


def _unsendable_header(headers: Mapping[str, str]) -> str | None:
    """The name of the first header whose value HTTP/1.1 cannot carry (a line break, or a character
    outside Latin-1), or None. Keys travel in headers: the value itself is never quoted."""
    for name, value in headers.items():
        if "\r" in value or "\n" in value:
            return name
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            return name
    return None


def never_sent(exc: BaseException) -> bool:
    """True when the request provably never reached the venue (no connection was established)."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop()
        if id(item) in seen or item is None:
            continue
        seen.add(id(item))
        if isinstance(item, NewConnectionError | ConnectTimeoutError):
            return True
        if isinstance(item, BaseException):
            stack.extend(item.args)
            stack.append(getattr(item, "reason", None))
            stack.append(item.__cause__)
            stack.append(item.__context__)
    return False


def classified(budget: RequestBudget, error: VenueError, status: int, *, places_order: bool) -> VenueError:
    """The venue's refusal recorded in its state (pause, rejected keys, degraded, or up and listening) and
    returned with the retry policy its request needs: a server error after an order-placing request is of
    unknown outcome, after any other a retryable unavailability. Shared by REST and a venue's WebSocket
    order entry, whose errors carry the same statuses. Caller's thread."""
    if isinstance(error, RateLimited):
        budget.rate_limited(error.retry_after_s, banned=error.banned)
        return error
    if isinstance(error, AuthError):
        budget.auth_failed(str(error))
        return error
    if status >= 500 or isinstance(error, OutcomeUnknown | VenueUnavailable):
        budget.failed(f"HTTP {status}")
        if isinstance(error, VenueUnavailable):
            return error
        if places_order:
            return OutcomeUnknown(str(error), venue=budget.venue, code=error.code)
        return VenueUnavailable(str(error), venue=budget.venue, code=error.code, retry_after_s=1.0)
    budget.succeeded()  # a definitive answer: the venue is up and listening
    return error


class Transport:
    """Thread-safe (the pool manager pools connections per host; the budget locks)."""

    def __init__(
        self,
        *,
        dialect: VenueDialect,
        budget: RequestBudget,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.dialect = dialect
        self.venue = dialect.venue
        self.budget = budget
        self.timeout = (min(timeout_s, CONNECT_TIMEOUT_MAX_S), timeout_s)
        self._headers = {"User-Agent": "autohedge", "Accept": "*/*", **(headers or {})}
        # The environment (proxies, CA bundle) is read once per host, never per request.
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._pool_options: dict[str, Any] = {
            "maxsize": POOL_CONNECTIONS_PER_HOST,
            "retries": False,  # one send, classified here: never a silent resend of an order
            "timeout": urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1]),
            "ca_certs": ca_bundle or certifi.where(),
        }
        self._direct = urllib3.PoolManager(**self._pool_options)
        self._via_proxy: dict[str, urllib3.ProxyManager] = {}
        self._routes: dict[str, HTTPConnectionPool | urllib3.ProxyManager] = {}
        self._proxies: dict[str, dict[str, str]] = {}
        self._route_lock = threading.Lock()

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        data: str | None = None,
        headers: Mapping[str, str] | None = None,
        weight: float = 1.0,
        orders: int = 0,
        priority: bool = False,
        places_order: bool = False,
        signed: bool = False,
    ) -> HttpResponse:
        """Spend from the budget, send once, classify. Returns only a 2xx response. Caller's thread.

        ``data``: a body sent byte for byte as signed (form-encoded); ``headers``: this request's own
        (a per-request token or signature)."""
        label = f"{self.venue} {method} {url.split('?', 1)[0]}"
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        request_headers = {**self._headers, **headers} if headers else dict(self._headers)
        unsendable = _unsendable_header(request_headers)
        if unsendable is not None:
            # http.client would refuse it with a ValueError quoting the value: often an API key.
            raise AuthError(
                f"{label}: header {unsendable} holds a line break or a character outside Latin-1 "
                "(check the API key's environment variable for a trailing newline)",
                venue=self.venue,
            )
        body: bytes | None = None
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            request_headers["Content-Type"] = "application/json"
        elif data is not None:
            body = data.encode("utf-8")
        # Counted from the send until the answer (or the failure): held up on its way, it still counts.
        with self.budget.in_flight(weight, priority=priority, orders=orders):
            try:
                route = self._route_for(url)
                if isinstance(route, HTTPConnectionPool):  # straight to the host's pool: no URL parsing again
                    raw = route.urlopen(
                        method,
                        _target(url),
                        body=body,
                        headers=request_headers,
                        redirect=False,
                        retries=False,
                        assert_same_host=False,
                    )
                else:
                    raw = route.request(
                        method, url, body=body, headers=request_headers, redirect=False, retries=False
                    )
                response = HttpResponse(method, url, raw.status, raw.headers, raw.data)
            except (HTTPError, OSError) as exc:
                self.budget.failed(type(exc).__name__)
                if never_sent(exc):
                    raise VenueUnavailable(
                        f"{label}: cannot connect ({type(exc).__name__})", venue=self.venue, retry_after_s=1.0
                    ) from None
                if places_order:
                    raise OutcomeUnknown(
                        f"{label}: no answer after sending ({type(exc).__name__})", venue=self.venue
                    ) from None
                raise VenueUnavailable(
                    f"{label}: no answer ({type(exc).__name__})", venue=self.venue, retry_after_s=1.0
                ) from None
        self.dialect.observe_usage(response.headers, self.budget)
        if response.status_code < 400:
            self.budget.succeeded()
            if signed:
                self.budget.auth_ok()
            return response
        error = self.dialect.map_error(response.status_code, response.text, response.headers)
        raise self._classified(error, response.status_code, places_order) from None

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The environment's proxies for ``url``'s host (none when ``no_proxy`` names it), read once."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        proxies = self._proxies.get(key)
        if proxies is None:
            found = {k: v for k, v in getproxies().items() if k != "no"}
            bypass = bool(found) and bool(proxy_bypass(parts.hostname or ""))
            proxies = self._proxies[key] = {} if bypass else found
        return proxies

    def _route_for(self, url: str) -> HTTPConnectionPool | urllib3.ProxyManager:
        """The kept-alive pool of ``url``'s host, or the manager sending through the environment's proxy
        for its scheme; decided once per host."""
        origin = _origin(url)
        route = self._routes.get(origin)
        if route is not None:
            return route
        with self._route_lock:
            route = self._routes.get(origin)
            if route is None:
                proxy = self._proxies_for(url).get(urlsplit(url).scheme)
                if proxy is None:
                    route = self._direct.connection_from_url(origin)
                else:
                    manager = self._via_proxy.get(proxy)
                    if manager is None:
                        manager = self._via_proxy[proxy] = urllib3.ProxyManager(proxy, **self._pool_options)
                    route = manager
                self._routes[origin] = route
            return route

    def refusal(self, error: VenueError, *, places_order: bool = False) -> VenueError:
        """An error the venue reported inside a 2xx body (Kraken's ``error[]``): recorded in the venue's
        state like the same error over HTTP status, and returned classified for the caller to raise."""
        return self._classified(error, 200, places_order)

    def _classified(self, error: VenueError, status: int, places_order: bool) -> VenueError:
        return classified(self.budget, error, status, places_order=places_order)

    def decode(self, response: HttpResponse, model: TypeAdapter[T], *, places_order: bool = False) -> T:
        """The body as the venue's wire model. JSON numbers become ``Decimal``, never float."""
        label = f"{self.venue} {response.method} {response.url.split('?', 1)[0]}"
        try:
            raw = json.loads(response.text, parse_float=Decimal) if response.content else None
        except (ValueError, RecursionError):  # not JSON, or JSON no parser takes (digits, depth)
            self.budget.failed("unreadable response")
            if places_order:
                raise OutcomeUnknown(f"{label}: unreadable response", venue=self.venue) from None
            raise VenueUnavailable(f"{label}: unreadable response", venue=self.venue) from None
        try:
            return model.validate_python(raw)
        except ValidationError as exc:
            message = f"{label}: {first_problem(exc, whole='<body>')}"
            if places_order:
                raise OutcomeUnknown(f"{message}; the order may exist", venue=self.venue) from None
            raise MalformedMessage(message) from None

    def close(self) -> None:
        """Close every kept-alive connection (a later request opens new ones)."""
        with self._route_lock:
            self._routes.clear()
            self._direct.clear()
            for manager in self._via_proxy.values():
                manager.clear()
