"""A local fake of Binance Spot (REST + combined bookTicker stream) on 127.0.0.1, backed by the paper engine.

It checks what Binance checks — API key header, the signature over the query exactly as sent (HMAC hex,
or base64 Ed25519 for a key registered with ``register_ed25519``), timestamp within recvWindow, filters
— and answers with Binance's own error payloads. Like Binance it
advertises REQUEST_WEIGHT 1200/min and ORDERS 50/10s + 160000/day in ``exchangeInfo.rateLimits``, counts
each endpoint's documented weight per wall-clock minute, answers with ``X-MBX-USED-WEIGHT-1M`` (and
``X-MBX-ORDER-COUNT-10S/1D`` on orders), returns 429 with Retry-After when the weight is spent and a 418
ban when a client keeps sending during the 429. Fault switches: 429 after N requests, a ban of N seconds,
5xx, slow responses, an order accepted whose response is lost (dropped connection or 503), rejected
keys, a dropped websocket, a malformed frame, a server clock that is off (``faults.clock_skew_s``: REST and
the WebSocket API check ``timestamp`` against recvWindow on that clock and answer -1021).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from websockets.sync.server import ServerConnection

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.clock import RealClock
from autohedge.core.messages import OrderSnapshot
from autohedge.core.types import Side
from tests.fakes.binance_keys import BinanceKeys
from tests.fakes.binance_orders import (
    Answer,
    cancel_order,
    f8,
    find_order,
    order_json,
    place_oco,
    place_order,
)
from tests.fakes.binance_user import WS_API_PATH, BinanceUserHub
from tests.fakes.venue_server import FakeVenue, StreamClient, VenueFaults, VenueHandler, WindowCounter

__all__ = ["FakeBinance"]

API_KEY = "fake-binance-key"
API_SECRET = "fake-binance-secret"


BINANCE_AMOUNT_STEP = Decimal("0.00000001")
"""Binance's precision for balances and commissions (8 decimals)."""


REQUEST_WEIGHT_PER_MINUTE = 1200
ORDERS_PER_10S = 50
ORDERS_PER_DAY = 160_000
BAN_AFTER_429_S = 120
"""A client that keeps sending after a 429 is banned (Binance: 2 minutes, growing to 3 days)."""


@dataclass
class Faults(VenueFaults):
    rate_limit_status: int = 429
    """429, or 418 for the IP ban."""
    retry_after_s: int = 7
    clock_skew_s: float = 0.0
    """The server's clock runs this far ahead of ours (negative: behind): ``/api/v3/time`` says so, and a
    signed request whose timestamp is not within recvWindow of it gets -1021."""


class _Handler(VenueHandler):
    # -- plumbing -------------------------------------------------------------------------------------

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        fake = self.server.fake
        now = time.time()
        with self.server.state.lock:
            used = fake.weight.current(now)
            orders_10s, orders_1d = fake.orders_10s.current(now), fake.orders_1d.current(now)
        usage = {"X-MBX-USED-WEIGHT-1M": str(used)}
        if self.command == "POST":
            usage.update({"X-MBX-ORDER-COUNT-10S": str(orders_10s), "X-MBX-ORDER-COUNT-1D": str(orders_1d)})
        self.write_json(status, payload, {**usage, **(headers or {})})

    def _error(self, status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"code": code, "msg": msg}, headers)

    def _handle(self, method: str) -> None:
        faults: Faults = self.server.state.faults
        parts = urlsplit(self.path)
        query = parts.query
        body = self.read_body().decode("utf-8")
        params = dict(parse_qsl(query, keep_blank_values=True))
        admission = self._admit(method, parts.path, params)
        route = ROUTES.get((method, parts.path))
        fake = self.server.fake
        with self.server.state.lock:
            if method == "POST":
                fake.posted_at.append((time.time(), parts.path, params))
            pushback = fake.pushback(route[2](params) if route else 1, method == "POST", time.time())
        if pushback is not None:
            status, retry_after = pushback
            text = (
                "Way too much request weight used; IP banned until later. Please use WebSocket Streams."
                if status == 418
                else f"Too much request weight used; current limit is {REQUEST_WEIGHT_PER_MINUTE} "
                "request weight per 1 MINUTE. Please use WebSocket Streams for live updates."
            )
            self._error(status, -1003, text, {"Retry-After": str(retry_after)})
            return
        if admission.rate_limited:
            status = faults.rate_limit_status
            text = (
                "Way too much request weight used; IP banned until later."
                if status == 418
                else "Too much request weight used; current limit is 1200 request weight per 1 MINUTE."
            )
            self._error(status, -1003, text, {"Retry-After": str(faults.retry_after_s)})
            return
        if admission.server_error:
            self._error(503, -1001, "Internal error; unable to process your request. Please try again.")
            return
        if route is None:
            self._error(404, -1000, f"no route {method} {parts.path}")
            return
        handler, signed, _weight = route
        if signed and not self._verify(query, body, params):
            return
        handler(self, params)

    def _verify(self, query: str, body: str, params: dict[str, str]) -> bool:
        api_key = self.headers.get("X-MBX-APIKEY") or ""
        keys = self.server.fake.keys
        if not keys.known(api_key) or self.server.state.faults.reject_keys:
            self._error(401, -2015, "Invalid API-key, IP, or permissions for action.")
            return False
        total = query + body
        if "&signature=" not in total:
            self._error(
                400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
            return False
        payload, _, signature = total.rpartition("&signature=")
        # The venue reads the parameter URL-decoded: a base64 Ed25519 signature arrives percent-encoded.
        if not keys.verify(api_key, payload, unquote(signature)):
            self._error(400, -1022, "Signature for this request is not valid.")
            return False
        refusal = self.server.fake.timestamp_refusal(params.get("timestamp", 0), params.get("recvWindow"))
        if refusal is not None:
            self._error(400, *refusal)
            return False
        return True

    def _symbol(self, params: dict[str, str]) -> str | None:
        venue_symbol = params.get("symbol", "")
        symbol: str | None = self.server.fake.symbols.get(venue_symbol)
        if symbol is None:
            self._error(400, -1121, "Invalid symbol.")
        return symbol

    # -- routes ---------------------------------------------------------------------------------------

    def r_time(self, params: dict[str, str]) -> None:
        self._send(200, {"serverTime": self.server.fake.server_ms()})

    def r_exchange_info(self, params: dict[str, str]) -> None:
        wanted = json.loads(params.get("symbols", "[]"))
        infos = []
        for venue_symbol in wanted:
            symbol = self.server.fake.symbols.get(venue_symbol)
            if symbol is None:
                self._error(400, -1121, "Invalid symbol.")
                return
            rules = self.server.state.engine.symbol_rules(symbol)
            base, quote = symbol.split("/")
            infos.append(
                {
                    "symbol": venue_symbol,
                    "status": "TRADING",
                    "baseAsset": base,
                    "quoteAsset": quote,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": f8(rules.tick_size),
                            "maxPrice": "1000000.00000000",
                            "tickSize": f8(rules.tick_size),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": f8(rules.min_qty),
                            "maxQty": "9000.00000000",
                            "stepSize": f8(rules.lot_step),
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": f8(rules.min_notional),
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                }
            )
        self._send(
            200,
            {
                "timezone": "UTC",
                "serverTime": self.server.fake.server_ms(),
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": REQUEST_WEIGHT_PER_MINUTE,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "SECOND",
                        "intervalNum": 10,
                        "limit": ORDERS_PER_10S,
                    },
                    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": ORDERS_PER_DAY},
                    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
                ],
                "symbols": infos,
            },
        )

    def r_book_ticker(self, params: dict[str, str]) -> None:
        symbol = self._symbol(params)
        if symbol is None:
            return
        quote = self.server.state.engine.best_quote(symbol)
        self._send(
            200,
            {
                "symbol": params["symbol"],
                "bidPrice": f8(quote.bid),
                "bidQty": f8(quote.bid_size),
                "askPrice": f8(quote.ask),
                "askQty": f8(quote.ask_size),
            },
        )

    def _answer(self, answer: Answer) -> None:
        """Send a trading route's answer; an order placed under a lost-response fault gets none."""
        if answer.placed and self._lose_response_if_asked():
            return
        self._send(answer.status, answer.payload)

    def _lose_response_if_asked(self) -> bool:
        if self.lose_response_if_asked():
            return True
        if self.error_after_order_asked():  # the order exists; the client hears only of an error
            self._error(503, -1001, "Internal error; unable to process your request. Please try again.")
            return True
        return False

    def r_new_order(self, params: dict[str, str]) -> None:
        self._answer(place_order(self.server.fake, params))

    def r_new_oco(self, params: dict[str, str]) -> None:
        self._answer(place_oco(self.server.fake, params))

    def _find(self, params: dict[str, str]) -> tuple[str, OrderSnapshot] | None:
        found = find_order(self.server.fake, params)
        if isinstance(found, Answer):  # not a symbol we list
            self._send(found.status, found.payload)
            return None
        return found

    def r_get_order(self, params: dict[str, str]) -> None:
        found = self._find(params)
        if found is None:
            if "symbol" in params and params["symbol"] in self.server.fake.symbols:
                self._error(400, -2013, "Order does not exist.")
            return
        self._send(200, order_json(found[1], params["symbol"]))

    def r_cancel(self, params: dict[str, str]) -> None:
        self._answer(cancel_order(self.server.fake, params))

    def r_open_orders(self, params: dict[str, str]) -> None:
        symbol = None
        if "symbol" in params:
            symbol = self._symbol(params)
            if symbol is None:
                return
        reverse = {v: k for k, v in self.server.fake.symbols.items()}
        orders = self.server.state.engine.open_orders(symbol)
        wanted = params.get("symbol")
        foreign = [o for o in self.server.fake.foreign_orders if wanted in (None, o["symbol"])]
        self._send(200, [order_json(o, reverse[o.symbol]) for o in orders] + foreign)

    def r_account(self, params: dict[str, str]) -> None:
        balances = self.server.state.engine.balances()
        self._send(
            200,
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "canTrade": True,
                "accountType": "SPOT",
                "balances": [
                    {"asset": a, "free": f8(b.free), "locked": f8(b.locked)} for a, b in balances.items()
                ],
            },
        )

    def r_my_trades(self, params: dict[str, str]) -> None:
        found = self._find(params)
        if found is None:
            self._send(200, [])
            return
        order = found[1]
        trades = (
            []
            if order.filled_qty <= 0
            else [
                {
                    "symbol": params["symbol"],
                    "id": 1,
                    "orderId": int(order.venue_order_id[1:]),
                    "price": f8(order.avg_fill_price),
                    "qty": f8(order.filled_qty),
                    "commission": f8(order.fee),
                    "commissionAsset": order.fee_asset,
                    "time": order.ts_event // 1_000_000,
                    "isBuyer": order.side is Side.BUY,
                    "isMaker": False,
                }
            ]
        )
        self._send(200, trades)


def _w(weight: int) -> Callable[[dict[str, str]], int]:
    return lambda _params: weight


ROUTES: dict[tuple[str, str], tuple[Any, bool, Callable[[dict[str, str]], int]]] = {
    ("GET", "/api/v3/time"): (_Handler.r_time, False, _w(1)),
    ("GET", "/api/v3/exchangeInfo"): (_Handler.r_exchange_info, False, _w(20)),
    ("GET", "/api/v3/ticker/bookTicker"): (_Handler.r_book_ticker, False, _w(2)),
    ("POST", "/api/v3/order"): (_Handler.r_new_order, True, _w(1)),
    ("POST", "/api/v3/orderList/oco"): (_Handler.r_new_oco, True, _w(1)),
    ("DELETE", "/api/v3/order"): (_Handler.r_cancel, True, _w(1)),
    ("GET", "/api/v3/order"): (_Handler.r_get_order, True, _w(4)),
    ("GET", "/api/v3/openOrders"): (_Handler.r_open_orders, True, lambda p: 6 if "symbol" in p else 80),
    ("GET", "/api/v3/account"): (_Handler.r_account, True, _w(20)),
    ("GET", "/api/v3/myTrades"): (_Handler.r_my_trades, True, _w(20)),
}
"""(method, path) -> (handler, signed, weight of the call): the weights Binance documents."""


class FakeBinance(FakeVenue):
    """``with FakeBinance(symbols=["BTC/USDT"]) as fake:`` REST at ``fake.rest_url``, stream at
    ``fake.ws_url``."""

    def __init__(self, *, symbols: list[str], balances: dict[str, Decimal] | None = None) -> None:
        self.symbols = {s.replace("/", ""): s for s in symbols}
        # Binance charges commissions in 8-decimal units: its balances are exactly what it reports (an
        # unrounded fee would hold a hair less than the 8-decimal balance the fake reports, and an exit
        # sized from that report would be refused for insufficient balance).
        engine = PaperEngine(
            clock=RealClock(),
            balances=balances or {"USDT": Decimal(100_000)},
            fee_rate=Decimal("0.001"),
            fee_step=BINANCE_AMOUNT_STEP,
        )
        super().__init__(name="binance", handler=_Handler, engine=engine, faults=Faults())
        self.weight = WindowCounter(60, REQUEST_WEIGHT_PER_MINUTE)
        self.orders_10s = WindowCounter(10, ORDERS_PER_10S)
        self.orders_1d = WindowCounter(86_400, ORDERS_PER_DAY)
        self.limited_until_s = 0.0
        self.banned_until_s = 0.0
        self.answered_429 = 0
        self.answered_418 = 0
        self.max_weight_used = 0
        self.posted_at: list[tuple[float, str, dict[str, str]]] = []
        """(wall time s, path, params) of every order-placing request, for latency measurements; the
        WebSocket API's carry the method as the path (``order.place``, ``orderList.place.oco``)."""
        self.keys = BinanceKeys()
        """API key -> HMAC secret or Ed25519 public key; ``API_KEY`` holds ``API_SECRET``."""
        self.keys.add_hmac(API_KEY, API_SECRET)
        self.user = BinanceUserHub(self)
        """The WebSocket API's user data stream and its fault switches (``fake.user.faults``)."""
        self.foreign_orders: list[dict[str, Any]] = []
        """Open orders of another client on the account (listed as they are, never matched)."""

    def register_ed25519(self, api_key: str, public_key: Ed25519PublicKey) -> None:
        """Register an Ed25519 API key (as one uploads its public key to Binance): its REST and WebSocket
        API signatures are verified with ``public_key``, and it may log a WebSocket API session on."""
        self.keys.add_ed25519(api_key, public_key)

    def server_ms(self) -> int:
        """Now on the server's clock (epoch ms), ``faults.clock_skew_s`` off ours."""
        return int((time.time() + self.state.faults.clock_skew_s) * 1000)

    def timestamp_refusal(self, timestamp: object, recv_window: object) -> tuple[int, str] | None:
        """Binance's rule for a signed request's ``timestamp`` on the server's clock: at most 1 s ahead,
        at most ``recvWindow`` (default 5000 ms) behind. (code, msg) when refused, else None."""
        now_ms = self.server_ms()
        timestamp_ms, window_ms = int(str(timestamp)), int(str(recv_window or 5000))
        if timestamp_ms >= now_ms + 1000 or now_ms - timestamp_ms > window_ms:
            return -1021, "Timestamp for this request is outside of the recvWindow."
        return None

    def _take(self, switch: str) -> bool:
        """Take a one-shot fault switch: True when it was set (it is cleared)."""
        with self.state.lock:
            value = bool(getattr(self.state.faults, switch))
            setattr(self.state.faults, switch, False)
        return value

    def take_lost_response(self) -> bool:
        """The WebSocket API's ``lose_next_order_response``: the order is placed, the answer lost."""
        return self._take("lose_next_order_response")

    def take_error_after_order(self) -> bool:
        """The WebSocket API's ``error_after_next_order``: the order is placed, the answer a 503."""
        return self._take("error_after_next_order")

    def take_server_error(self) -> bool:
        """The WebSocket API's ``server_errors``: one 503 before the engine sees the request."""
        with self.state.lock:
            if self.state.faults.server_errors <= 0:
                return False
            self.state.faults.server_errors -= 1
            return True

    def ban(self, seconds: int) -> None:
        """Ban this client's IP for ``seconds`` from now (418 with Retry-After to every request)."""
        with self.state.lock:
            self.banned_until_s = time.time() + seconds

    def pushback(self, weight: int, places_order: bool, now_s: float) -> tuple[int, int] | None:
        """Binance's limit rules for one request (lock held): (status, Retry-After) or None to serve it."""
        if now_s < self.banned_until_s:
            self.answered_418 += 1
            return 418, max(1, math.ceil(self.banned_until_s - now_s))
        if now_s < self.limited_until_s:  # still sending after a 429: banned
            self.banned_until_s = now_s + BAN_AFTER_429_S
            self.answered_418 += 1
            return 418, BAN_AFTER_429_S
        used = self.weight.add(weight, now_s)
        self.max_weight_used = max(self.max_weight_used, min(used, REQUEST_WEIGHT_PER_MINUTE))
        over_orders = places_order and (
            self.orders_10s.current(now_s) >= ORDERS_PER_10S
            or self.orders_1d.current(now_s) >= ORDERS_PER_DAY
        )
        if used > REQUEST_WEIGHT_PER_MINUTE or over_orders:
            counter = self.weight if used > REQUEST_WEIGHT_PER_MINUTE else self.orders_10s
            self.limited_until_s = counter.resets_at_s(now_s)
            self.answered_429 += 1
            return 429, max(1, math.ceil(self.limited_until_s - now_s))
        if places_order:
            self.orders_10s.add(1, now_s)
            self.orders_1d.add(1, now_s)
        return None

    @property
    def ws_url(self) -> str:
        return self.ws_base_url

    @property
    def user_ws_url(self) -> str:
        return f"{self.ws_base_url}{WS_API_PATH}"

    def _ws_handler(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else ""
        client = StreamClient(connection, path)
        if path.startswith(WS_API_PATH):
            self._add_client(client)  # so drop_clients cuts it too
            try:
                self.user.serve(connection, client)
            finally:
                self._remove_client(client)
            return
        if "streams=" in path:
            client.topics = {s.split("@")[0].upper() for s in path.split("streams=", 1)[1].split("/")}
        # The client sends nothing we need; pings are answered by the library.
        self._serve_client(client, on_message=None)

    def push_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        """Move the market: the engine matches, and every subscribed client gets a bookTicker frame."""
        now = self.quote_engine(symbol, bid, ask)
        venue_symbol = symbol.replace("/", "")
        frame = json.dumps(
            {
                "stream": f"{venue_symbol.lower()}@bookTicker",
                "data": {
                    "u": now,
                    "s": venue_symbol,
                    "b": f8(bid),
                    "B": "1.00000000",
                    "a": f8(ask),
                    "A": "1.00000000",
                },
            }
        )
        self.broadcast(frame, venue_symbol)

    def send_malformed(
        self, text: str = '{"stream": "btcusdt@bookTicker", "data": {"s": "BTCUSDT", "b": "oops"}'
    ) -> None:
        self.broadcast(text)
