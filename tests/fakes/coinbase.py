"""A local fake of Coinbase Advanced Trade (REST, market and user websockets) on 127.0.0.1, backed by the
paper engine.

It checks what Coinbase checks: an ES256 JWT per request (signature, ``kid``/``sub`` = the key name,
``iss`` cdp, at most 120 s, inside its validity window, ``uri`` = method + host + path, a nonce never
used before), the 30 requests/s private limit, order configurations and increments; it answers create
orders with HTTP 200 ``success: false`` bodies and other failures with the venue's status codes. The
``user`` channel sends cumulative order state (a snapshot of open orders, then updates), never fills.

Brackets (``trigger_bracket_gtc``) are accepted, previewed and executed as the venue does (one order: the
take-profit rests as a limit, the stop triggers when the price falls to it and then rests as a limit 5%
below; when one leg executes the other is gone), except for the products named in ``bracket_refused``,
which refuse them with the venue's error body (and say so in a preview).

Fault switches (``fake.faults``): 429 after N requests, 5xx, slow responses, an order accepted whose
response is lost; on the websockets: dropped sockets
(``drop_clients``), a duplicated or out-of-order user update, a sequence gap, a malformed frame.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.sync.server import ServerConnection

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.clock import RealClock
from autohedge.core.errors import InsufficientFunds, OrderRejected, UnknownOrder, VenueUnavailable
from autohedge.core.messages import OcoRequest, OrderRequest, OrderSnapshot, SymbolRules
from autohedge.core.types import OrderStatus, OrderType, Side, quantize_down
from tests.fakes.order_feed import OrderChange, OrderChangeFeed
from tests.fakes.sequenced import SequencedFaults, SequencedVenue, Subscriber
from tests.fakes.venue_server import VenueHandler

__all__ = ["API_KEY", "API_SECRET", "FakeCoinbase", "Faults"]

API_KEY = "organizations/fake-org/apiKeys/fake-key"
_PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
API_SECRET = _PRIVATE_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
).decode("ascii")
PREFIX = "/api/v3/brokerage"
PRIVATE_REQUESTS_PER_S = 30
_STATUS = {
    OrderStatus.NEW: "OPEN",
    OrderStatus.PARTIALLY_FILLED: "OPEN",
    OrderStatus.FILLED: "FILLED",
    OrderStatus.CANCELED: "CANCELLED",
    OrderStatus.REJECTED: "FAILED",
    OrderStatus.EXPIRED: "EXPIRED",
}
_PREVIEW_REASONS = {"UNSUPPORTED_ORDER_CONFIGURATION": "PREVIEW_INVALID_ORDER_CONFIG"}
"""Create failure reason -> the preview's (the rest are the create reason with ``PREVIEW_`` in front)."""
_RATE_LIMIT_BODY = {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}


def _iso(ts_ns: int) -> str:
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def _s(value: Decimal | None) -> str:
    return format(value or Decimal(0), "f")


@dataclass
class Faults(SequencedFaults):
    """The shared switches (429 burst, 5xx, slow responses, a lost order response, the user stream's
    update drills); which products refuse brackets is the fake's ``bracket_refused``, not a switch."""


@dataclass
class _Entry:
    """One Coinbase order: a single engine order, or a bracket = an engine OCO (TP limit + stop)."""

    order_id: str
    client_order_id: str
    product_id: str
    legs: tuple[str, ...]
    """Engine venue order ids: one, or (take-profit, stop) for a bracket."""
    stop_trigger: Decimal | None = None


class _Handler(VenueHandler):
    def _error(self, status: int, error: str, message: str) -> None:
        self.write_json(status, {"error": error, "code": status, "message": message, "details": []})

    def _handle(self, method: str) -> None:
        fake: FakeCoinbase = self.server.fake
        parts = urlsplit(self.path)
        params = parse_qs(parts.query)
        raw_body = self.read_body()
        admission = self._admit(method, parts.path, json.loads(raw_body) if raw_body else params)
        public = parts.path.startswith(f"{PREFIX}/market/")
        if not public:
            authorization = self.headers.get("Authorization", "")
            problem = fake.check_jwt(authorization, method, self.headers.get("Host", ""), parts.path)
            if problem:
                self._error(401, "UNAUTHENTICATED", problem)
                return
        if admission.rate_limited or (not public and not fake.take_private_slot()):
            self.write_json(429, _RATE_LIMIT_BODY, {"Retry-After": "1"})
            return
        if admission.server_error:
            self._error(503, "INTERNAL", "service unavailable")
            return
        body = json.loads(raw_body) if raw_body else {}
        path = parts.path.removeprefix(PREFIX)
        fake.route(self, method, path, params, body)


class FakeCoinbase(SequencedVenue):
    """``with FakeCoinbase(products=["BTC/USD"]) as fake:`` REST at ``fake.rest_url``, market stream at
    ``fake.ws_url``, user stream at ``fake.user_ws_url``."""

    def __init__(
        self,
        *,
        products: list[str],
        balances: dict[str, Decimal] | None = None,
        fee_rate: Decimal = Decimal("0.004"),
        bracket_refused: Sequence[str] = (),
    ) -> None:
        """``bracket_refused``: symbols whose product does not take ``trigger_bracket_gtc``."""
        self.products = {s.replace("/", "-"): s for s in products}
        self.bracket_refused = frozenset(bracket_refused)
        rules = {
            s: SymbolRules(
                symbol=s,
                tick_size=Decimal("0.01"),
                lot_step=Decimal("0.00000001"),
                min_qty=Decimal("0.00000001"),
                min_notional=Decimal(1),
            )
            for s in products
        }
        engine = PaperEngine(
            clock=RealClock(),
            balances=balances or {"USD": Decimal(100_000)},
            fee_rate=fee_rate,
            fee_in_base=False,  # Coinbase charges fees in the quote currency
            rules=rules,
            venue="coinbase",
        )
        self.feed = OrderChangeFeed(engine)
        self._entries: dict[str, _Entry] = {}
        self._by_client_id: dict[str, str] = {}
        self._by_leg: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._book_lock = threading.RLock()
        self._nonces: set[str] = set()
        self._private_times: deque[float] = deque()
        self.rejected_jwts = 0
        self.previews = 0
        self.foreign_orders: list[dict[str, Any]] = []
        """Orders of another client on the account (listed as they are, never matched)."""
        self.live_status: dict[str, str] = {}
        """Order id -> the status a live order is reported in instead of ``OPEN`` (``PENDING``,
        ``QUEUED``, ``CANCEL_QUEUED``): the venue's ``OPEN`` filter and snapshot leave it out."""
        self.monotonic: Callable[[], float] = time.monotonic
        """The clock of the 30 requests/s window (tests freeze it to make the limit deterministic)."""
        super().__init__(first_sequence=0, name="coinbase", handler=_Handler, engine=engine, faults=Faults())

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}{PREFIX}"

    @property
    def ws_url(self) -> str:
        return self.ws_base_url

    @property
    def user_ws_url(self) -> str:
        return f"{self.ws_base_url}/user"

    # -- checks ---------------------------------------------------------------------------------------

    def check_jwt(self, authorization: str, method: str | None, host: str, path: str) -> str:
        """Empty when the token is acceptable; otherwise why not. ``method`` None: a websocket JWT."""
        problem = self._jwt_problem(authorization, method, host, path)
        if problem:
            self.rejected_jwts += 1
        return problem

    def _jwt_problem(self, authorization: str, method: str | None, host: str, path: str) -> str:
        token = authorization.removeprefix("Bearer ") if method is not None else authorization
        if method is not None and not authorization.startswith("Bearer "):
            return "missing bearer token"
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                _PRIVATE_KEY.public_key(),
                algorithms=["ES256"],
                issuer="cdp",
                options={"require": ["exp", "nbf", "sub", "iss"]},
            )
        except jwt.PyJWTError as exc:
            return f"invalid token: {exc}"
        if header.get("kid") != API_KEY or claims.get("sub") != API_KEY:
            return "unknown api key"
        if int(claims["exp"]) - int(claims["nbf"]) > 120:
            return "token lifetime above 120 s"
        nonce = str(header.get("nonce", ""))
        with self._book_lock:
            if not nonce or nonce in self._nonces:
                return "nonce missing or reused"
            self._nonces.add(nonce)
        if method is None:
            return "" if "uri" not in claims else "websocket token must not carry uri"
        expected = f"{method} {host}{path}"
        if claims.get("uri") != expected:
            return f"uri claim {claims.get('uri')!r} does not match {expected!r}"
        return ""

    def take_private_slot(self) -> bool:
        """The venue's own limit: 30 private requests in any second."""
        now = self.monotonic()
        with self._book_lock:
            while self._private_times and now - self._private_times[0] >= 1.0:
                self._private_times.popleft()
            if len(self._private_times) >= PRIVATE_REQUESTS_PER_S:
                return False
            self._private_times.append(now)
            return True

    # -- routes ---------------------------------------------------------------------------------------

    def route(self, h: _Handler, method: str, path: str, params: dict[str, list[str]], body: Any) -> None:
        if method == "GET" and (path.startswith(("/products/", "/market/products/"))):
            self._product(h, path.rsplit("/", 1)[1])
        elif method == "GET" and path == "/best_bid_ask":
            self._best_bid_ask(h, params.get("product_ids", []))
        elif method == "POST" and path == "/orders":
            self._create(h, body)
        elif method == "POST" and path == "/orders/preview":
            self._preview(h, body)
        elif method == "POST" and path == "/orders/batch_cancel":
            self._cancel(h, body)
        elif method == "GET" and path == "/orders/historical/batch":
            self._list(h, params)
        elif method == "GET" and path == "/orders/historical/fills":
            self._fills(h, params)
        elif method == "GET" and path.startswith("/orders/historical/"):
            self._get(h, path.rsplit("/", 1)[1])
        elif method == "GET" and path == "/accounts":
            self._accounts(h, params)
        else:
            h._error(404, "NOT_FOUND", f"no route {method} {path}")

    def _product(self, h: _Handler, product: str) -> None:
        symbol = self.products.get(product)
        if symbol is None:
            h._error(404, "NOT_FOUND", "product not found")
            return
        rules = self.engine.symbol_rules(symbol)
        base, quote = symbol.split("/")
        try:
            last = self.engine.best_quote(symbol)
            price = _s((last.bid + last.ask) / 2)
        except VenueUnavailable:  # no trade yet
            price = ""
        h.write_json(
            200,
            {
                "product_id": product,
                "base_currency_id": base,
                "quote_currency_id": quote,
                "base_increment": _s(rules.lot_step),
                "quote_increment": _s(rules.tick_size),
                "price_increment": _s(rules.tick_size),
                "base_min_size": _s(rules.min_qty),
                "base_max_size": "3400",
                "quote_min_size": _s(rules.min_notional),
                "quote_max_size": "150000000",
                "status": "online",
                "trading_disabled": False,
                "cancel_only": False,
                "limit_only": False,
                "post_only": False,
                "view_only": False,
                "product_type": "SPOT",
                "price": price,
            },
        )

    def _best_bid_ask(self, h: _Handler, products: list[str]) -> None:
        books = []
        for product in products:
            quote = self.engine.best_quote(self.products[product])
            books.append(
                {
                    "product_id": product,
                    "bids": [{"price": _s(quote.bid), "size": _s(quote.bid_size)}],
                    "asks": [{"price": _s(quote.ask), "size": _s(quote.ask_size)}],
                    "time": _iso(quote.ts_event),
                }
            )
        h.write_json(200, {"pricebooks": books})

    def _failure(self, h: _Handler, error: str, message: str, preview: str = "") -> None:
        h.write_json(
            200,
            {
                "success": False,
                "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": "",
                "error_response": {
                    "error": error,
                    "message": message,
                    "error_details": "",
                    "preview_failure_reason": preview,
                    "new_order_failure_reason": error,
                },
            },
        )

    def _requests_of(self, body: dict[str, Any]) -> tuple[str, list[OrderRequest] | OcoRequest] | str:
        """The engine request(s) for a create body, or the failure reason."""
        coid, product = str(body.get("client_order_id", "")), str(body.get("product_id", ""))
        symbol = self.products.get(product)
        if not coid:
            return "INVALID_CLIENT_ORDER_ID"
        if symbol is None:
            return "INVALID_PRODUCT_ID"
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(str(body.get("side")))
        configs = body.get("order_configuration") or {}
        if side is None or len(configs) != 1:
            return "INVALID_SIDE" if side is None else "INVALID_ORDER_CONFIG"
        ((key, config),) = configs.items()
        rules = self.engine.symbol_rules(symbol)
        try:
            size = Decimal(config["base_size"])
            price = Decimal(config["limit_price"])
        except (KeyError, ArithmeticError):
            return "INVALID_ORDER_CONFIG"
        if size % rules.lot_step != 0 or size < rules.min_qty:
            return "INVALID_SIZE_PRECISION"
        if price % rules.tick_size != 0:
            return "INVALID_LIMIT_PRICE_PRECISION"
        if key == "limit_limit_gtc":
            return symbol, [
                OrderRequest(client_order_id=coid, symbol=symbol, side=side, qty=size, price=price)
            ]
        if key == "stop_limit_stop_limit_gtc":
            if config.get("stop_direction") != "STOP_DIRECTION_STOP_DOWN" or side is not Side.SELL:
                return "INVALID_STOP_DIRECTION"
            stop = Decimal(config["stop_price"])
            request = OrderRequest(
                client_order_id=coid,
                symbol=symbol,
                side=side,
                qty=size,
                price=price,
                order_type=OrderType.STOP_LIMIT,
                stop_price=stop,
            )
            return symbol, [request]
        if key == "trigger_bracket_gtc":
            if symbol in self.bracket_refused or side is not Side.SELL:
                return "UNSUPPORTED_ORDER_CONFIGURATION"
            stop = Decimal(config["stop_trigger_price"])
            # When triggered, the stop rests as a limit 5% below the trigger (sells).
            stop_limit = quantize_down(stop * Decimal("0.95"), rules.tick_size)
            return symbol, OcoRequest(
                list_client_id=coid,
                symbol=symbol,
                side=side,
                qty=size,
                take_profit_price=price,
                stop_price=stop,
                stop_limit_price=stop_limit,
                take_profit_client_order_id=f"{coid}:tp",
                stop_loss_client_order_id=f"{coid}:sl",
            )
        return "UNSUPPORTED_ORDER_CONFIGURATION"

    def _preview(self, h: _Handler, body: dict[str, Any]) -> None:
        """Nothing placed; ``errs`` carries the preview failure reason a create would fail with."""
        self.previews += 1
        parsed = self._requests_of({**body, "client_order_id": body.get("client_order_id") or "preview"})
        errs = [_PREVIEW_REASONS.get(parsed, f"PREVIEW_{parsed}")] if isinstance(parsed, str) else []
        h.write_json(
            200, {"order_total": "0", "commission_total": "0", "errs": errs, "warning": [], "preview_id": "p"}
        )

    def _create(self, h: _Handler, body: dict[str, Any]) -> None:
        coid = str(body.get("client_order_id", ""))
        with self._book_lock:
            existing = self._by_client_id.get(coid)
            if existing is not None:  # "the order corresponding with that ID will be returned instead"
                entry = self._entries[existing]
                h.write_json(200, self._success(entry, body))
                return
            parsed = self._requests_of(body)
            if isinstance(parsed, str):
                preview = _PREVIEW_REASONS.get(parsed, f"PREVIEW_{parsed}")
                self._failure(h, parsed, f"order refused: {parsed}", preview)
                return
            _symbol, requests = parsed
            try:
                if isinstance(requests, OcoRequest):
                    result = self.engine.submit_oco(requests)
                    legs = tuple(o.venue_order_id for o in result.orders)
                    stop: Decimal | None = requests.stop_price
                else:
                    legs = (self.engine.submit_order(requests[0]).venue_order_id,)
                    stop = None
            except InsufficientFunds:
                self._failure(
                    h,
                    "INSUFFICIENT_FUND",
                    "Insufficient balance in source account",
                    "PREVIEW_INSUFFICIENT_FUND",
                )
                return
            except OrderRejected as exc:
                self._failure(h, "INVALID_ORDER_CONFIG", str(exc))
                return
            entry = _Entry(
                f"00000000-0000-4000-8000-{next(self._ids):012d}", coid, str(body["product_id"]), legs, stop
            )
            self._entries[entry.order_id] = entry
            self._by_client_id[coid] = entry.order_id
            for leg in legs:
                self._by_leg[leg] = entry.order_id
        self.publish()
        if not h.lose_response_if_asked():
            h.write_json(200, self._success(entry, body))

    def _success(self, entry: _Entry, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": entry.order_id,
            "success_response": {
                "order_id": entry.order_id,
                "product_id": entry.product_id,
                "side": body.get("side", ""),
                "client_order_id": entry.client_order_id,
            },
            "order_configuration": body.get("order_configuration", {}),
        }

    def _cancel(self, h: _Handler, body: dict[str, Any]) -> None:
        results = []
        for order_id in body.get("order_ids", []):
            entry = self._entries.get(order_id)
            reason = ""
            if entry is None:
                reason = "UNKNOWN_CANCEL_ORDER"
            else:
                # A bracket is cancelled by cancelling its leg still working (the engine ends its OCO).
                live = [leg.venue_order_id for leg in self._legs(entry) if leg.status.is_open]
                try:
                    self.engine.cancel_order("", venue_order_id=live[0] if live else entry.legs[0])
                except (OrderRejected, UnknownOrder):
                    reason = "ORDER_IS_FULLY_FILLED"
            results.append(
                {
                    "success": not reason,
                    "failure_reason": reason or "UNKNOWN_CANCEL_FAILURE_REASON",
                    "order_id": order_id,
                }
            )
        self.publish()
        h.write_json(200, {"results": results})

    def _get(self, h: _Handler, order_id: str) -> None:
        entry = self._entries.get(order_id)
        if entry is None:
            h._error(404, "NOT_FOUND", "order with this orderID was not found")
            return
        h.write_json(200, {"order": self.order_json(entry)})

    def _list(self, h: _Handler, params: dict[str, list[str]]) -> None:
        wanted_status = set(params.get("order_status", []))
        wanted_products = set(params.get("product_ids", []))
        orders = [
            self.order_json(e)
            for e in list(self._entries.values())
            if (not wanted_products or e.product_id in wanted_products)
        ]
        orders += [
            o for o in self.foreign_orders if o["product_id"] in (wanted_products or {o["product_id"]})
        ]
        orders = [o for o in orders if not wanted_status or o["status"] in wanted_status]
        h.write_json(200, {"orders": orders, "sequence": "0", "has_next": False, "cursor": ""})

    def _fills(self, h: _Handler, params: dict[str, list[str]]) -> None:
        wanted = set(params.get("order_ids", []))
        out = []
        for fill in list(self.feed.fills):
            order_id = self._by_leg.get(fill.order.venue_order_id, "")
            if wanted and order_id not in wanted:
                continue
            out.append(
                {
                    "entry_id": f"e{fill.trade_id}",
                    "trade_id": f"t{fill.trade_id}",
                    "order_id": order_id,
                    "trade_time": _iso(fill.order.ts_event),
                    "trade_type": "FILL",
                    "price": _s(fill.price),
                    "size": _s(fill.qty),
                    "commission": _s(fill.fee),
                    "product_id": fill.order.symbol.replace("/", "-"),
                    "sequence_timestamp": _iso(fill.order.ts_event),
                    "liquidity_indicator": "TAKER",
                    "side": fill.order.side.value.upper(),
                }
            )
        h.write_json(200, {"fills": out, "cursor": ""})

    def _accounts(self, h: _Handler, params: dict[str, list[str]]) -> None:
        """Two accounts per page, so clients must follow the cursor."""
        balances = sorted(self.engine.balances().items())
        start = int((params.get("cursor") or ["0"])[0] or 0)
        page = balances[start : start + 2]
        accounts = [
            {
                "uuid": f"acct-{asset}",
                "currency": asset,
                "available_balance": {"value": _s(b.free), "currency": asset},
                "hold": {"value": _s(b.locked), "currency": asset},
            }
            for asset, b in page
        ]
        more = start + 2 < len(balances)
        h.write_json(
            200,
            {
                "accounts": accounts,
                "has_next": more,
                "cursor": str(start + 2) if more else "",
                "size": len(accounts),
            },
        )

    # -- order shapes ---------------------------------------------------------------------------------

    def _legs(self, entry: _Entry) -> list[OrderSnapshot]:
        return [self.engine.get_order("", venue_order_id=leg) for leg in entry.legs]

    def order_json(self, entry: _Entry) -> dict[str, Any]:
        legs = self._legs(entry)
        main = legs[0]
        config: dict[str, dict[str, Any]]
        traded = next((leg for leg in legs if leg.filled_qty > 0), main)
        if len(legs) == 1:
            if main.order_type is OrderType.STOP_LIMIT:
                config = {
                    "stop_limit_stop_limit_gtc": {
                        "base_size": _s(main.qty),
                        "limit_price": _s(main.price),
                        "stop_price": _s(main.stop_price),
                        "stop_direction": "STOP_DIRECTION_STOP_DOWN",
                    }
                }
            else:
                config = {
                    "limit_limit_gtc": {
                        "base_size": _s(main.qty),
                        "limit_price": _s(main.price),
                        "post_only": False,
                    }
                }
            status = _STATUS[main.status]
        else:
            config = {
                "trigger_bracket_gtc": {
                    "base_size": _s(main.qty),
                    "limit_price": _s(main.price),
                    "stop_trigger_price": _s(entry.stop_trigger),
                }
            }
            if any(leg.status is OrderStatus.FILLED for leg in legs):
                status = "FILLED"
            elif all(leg.status.is_terminal for leg in legs):
                status = "CANCELLED"
            else:
                status = "OPEN"
        if status == "OPEN":
            status = self.live_status.get(entry.order_id, status)
        avg = traded.avg_fill_price or Decimal(0)
        stops = [leg for leg in legs if leg.order_type is OrderType.STOP_LIMIT]
        if not stops:
            trigger_status = "INVALID_ORDER_TYPE"
        else:  # the engine's stop is known to have triggered once it traded
            trigger_status = "STOP_TRIGGERED" if stops[0].filled_qty > 0 else "STOP_PENDING"
        return {
            "order_id": entry.order_id,
            "product_id": entry.product_id,
            "user_id": "fake-user",
            "order_configuration": config,
            "side": main.side.value.upper(),
            "client_order_id": entry.client_order_id,
            "status": status,
            "time_in_force": "GOOD_UNTIL_CANCELLED",
            "created_time": _iso(main.ts_event),
            "filled_size": _s(traded.filled_qty),
            "average_filled_price": _s(avg),
            "filled_value": _s(avg * traded.filled_qty),
            "total_fees": _s(sum((leg.fee for leg in legs), Decimal(0))),
            "number_of_fills": str(sum(1 for f in self.feed.fills if f.order.venue_order_id in entry.legs)),
            "order_type": "BRACKET"
            if len(legs) > 1
            else ("STOP_LIMIT" if main.order_type is OrderType.STOP_LIMIT else "LIMIT"),
            "product_type": "SPOT",
            "last_fill_time": _iso(traded.ts_event) if traded.filled_qty > 0 else None,
            "trigger_status": trigger_status,
        }

    def user_order_json(self, entry: _Entry) -> dict[str, Any]:
        """The ``user`` channel's cumulative view of an order."""
        order = self.order_json(entry)
        config = next(iter(order["order_configuration"].values()))
        size, filled = Decimal(config["base_size"]), Decimal(order["filled_size"])
        open_ = order["status"] in ("OPEN", *self.live_status.values())
        return {
            "order_id": entry.order_id,
            "client_order_id": entry.client_order_id,
            "product_id": entry.product_id,
            "product_type": "SPOT",
            "status": order["status"],
            "order_side": order["side"],
            "order_type": order["order_type"].title(),
            "cumulative_quantity": order["filled_size"],
            "leaves_quantity": _s(size - filled if open_ else Decimal(0)),
            "avg_price": order["average_filled_price"],
            "filled_value": order["filled_value"],
            "number_of_fills": order["number_of_fills"],
            "total_fees": order["total_fees"],
            "limit_price": config.get("limit_price", ""),
            "stop_price": config.get("stop_price", config.get("stop_trigger_price", "")),
            "creation_time": order["created_time"],
            "cancel_reason": "User requested cancel" if order["status"] == "CANCELLED" else "",
            "reject_reason": "",
            "trigger_status": order["trigger_status"],
        }

    # -- streams --------------------------------------------------------------------------------------

    def _frame(self, subscriber: Subscriber, channel: str, events: list[dict[str, Any]]) -> str:
        sequence = self._next_sequence(subscriber, gap_allowed=channel == "user")
        return json.dumps(
            {
                "channel": channel,
                "client_id": "",
                "timestamp": _iso(time.time_ns()),
                "sequence_num": sequence,
                "events": events,
            }
        )

    def _send_to(self, subscriber: Subscriber, channel: str, events: list[dict[str, Any]]) -> None:
        with subscriber.send_lock:
            update = channel == "user" and bool(events) and events[0].get("type") == "update"
            self._deliver(subscriber, self._frame(subscriber, channel, events), update=update)

    def _ws_handler(self, connection: ServerConnection) -> None:
        self._serve_subscriber(connection, self._on_client_message)

    def _on_client_message(self, subscriber: Subscriber, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            subscriber.client.connection.send(json.dumps({"type": "error", "message": "malformed message"}))
            return
        channel = str(message.get("channel", ""))
        if message.get("type") != "subscribe" or channel not in ("ticker", "heartbeats", "user"):
            subscriber.client.connection.send(
                json.dumps({"type": "error", "message": f"unsupported {channel}"})
            )
            return
        if channel == "user" or "jwt" in message:
            problem = self.check_jwt(str(message.get("jwt", "")), None, "", "")
            if problem:
                subscriber.client.connection.send(
                    json.dumps({"type": "error", "message": f"authentication failure: {problem}"})
                )
                subscriber.client.connection.close()
                return
        products = [p for p in message.get("product_ids", []) if p in self.products] or list(self.products)
        self._subscribe(subscriber, [channel, *products])
        self._send_to(
            subscriber,
            "subscriptions",
            [{"subscriptions": {channel: products if channel != "heartbeats" else ["heartbeats"]}}],
        )
        if channel == "user":
            self._send_snapshot(subscriber)

    def _send_snapshot(self, subscriber: Subscriber) -> None:
        with self._book_lock:
            entries = list(self._entries.values())
        open_orders = [o for o in (self.user_order_json(e) for e in entries) if o["status"] == "OPEN"]
        for start in range(0, len(open_orders) + 1, 50):
            batch = open_orders[start : start + 50]
            self._send_to(subscriber, "user", [{"type": "snapshot", "orders": batch, "positions": {}}])
            if len(batch) < 50:
                break

    def publish(self) -> None:
        """Send every order change since the last call to the ``user`` subscribers (cumulative state)."""
        changes: list[OrderChange] = self.feed.changes()
        order_ids: list[str] = []
        for change in changes:
            order_id = self._by_leg.get(change.after.venue_order_id)
            if order_id is not None and order_id not in order_ids:
                order_ids.append(order_id)
        if not order_ids:
            return
        orders = [self.user_order_json(self._entries[i]) for i in order_ids]
        for subscriber in self._subscribers_on("user"):
            self._send_to(subscriber, "user", [{"type": "update", "orders": orders}])

    def push_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        """Move the market: the engine matches, ticker subscribers get a frame, user subscribers the
        order changes."""
        self.quote_engine(symbol, bid, ask)
        product = symbol.replace("/", "-")
        ticker = {
            "type": "ticker",
            "product_id": product,
            "price": _s((bid + ask) / 2),
            "best_bid": _s(bid),
            "best_bid_quantity": "1",
            "best_ask": _s(ask),
            "best_ask_quantity": "1",
        }
        for subscriber in self._subscribers_on("ticker"):
            if product in subscriber.client.topics:
                self._send_to(subscriber, "ticker", [{"type": "update", "tickers": [ticker]}])
        self.publish()

    def send_heartbeat(self, counter: int = 1) -> None:
        for subscriber in self._subscribers_on("heartbeats"):
            self._send_to(
                subscriber,
                "heartbeats",
                [{"current_time": _iso(time.time_ns()), "heartbeat_counter": counter}],
            )

    def send_malformed(self, text: str = '{"channel":"ticker","sequence_num":') -> None:
        self.broadcast(text)
