"""A local fake of Alpaca (Trading API v2, market data REST and streams) on 127.0.0.1, backed by the paper
engine.

It checks the key headers, order parameters and the one-connection-per-endpoint stream limit, and
answers with Alpaca's own status codes and error bodies. Like Alpaca it allows 200 requests a minute per
account, answers every request with ``X-Ratelimit-Limit/Remaining/Reset`` and a 429 once Remaining is 0.
Fault switches: 429 after N requests, a pause of N seconds, 5xx, slow responses, an order accepted whose
response is lost (dropped connection or 503), rejected keys, a dropped stream, a malformed frame.
"""

from __future__ import annotations

import json
import math
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.clock import RealClock
from autohedge.core.errors import InsufficientFunds, OrderRejected, UnknownOrder
from autohedge.core.messages import OrderRequest, OrderSnapshot, SymbolRules
from autohedge.core.types import OrderStatus, OrderType, Side, TimeInForce
from tests.fakes.alpaca_user import TRADING_STREAM_PATH, AlpacaTradeHub
from tests.fakes.venue_server import FakeVenue, StreamClient, VenueFaults, VenueHandler, WindowCounter

__all__ = ["KEY_ID", "SECRET_KEY", "FakeAlpaca"]

KEY_ID = "fake-alpaca-key"
SECRET_KEY = "fake-alpaca-secret"
_STATUS = {
    OrderStatus.NEW: "new",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.REJECTED: "rejected",
    OrderStatus.EXPIRED: "expired",
}


def _uuid(venue_order_id: str) -> str:
    return f"00000000-0000-4000-8000-{int(venue_order_id[1:]):012d}"


def _engine_id(order_id: str) -> str:
    return f"P{int(order_id.rsplit('-', 1)[1])}"


def _iso(ts_ns: int) -> str:
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


REQUESTS_PER_MINUTE = 200


class _Handler(VenueHandler):
    def _send(self, status: int, payload: Any | None) -> None:
        fake, now = self.server.fake, time.time()
        with self.server.state.lock:
            used = fake.requests_window.current(now)
            reset = fake.requests_window.resets_at_s(now)
            if now < fake.paused_until_s:  # the account is held at zero until the pause ends
                used, reset = REQUESTS_PER_MINUTE, math.ceil(fake.paused_until_s)
        usage = {
            "X-Ratelimit-Limit": str(REQUESTS_PER_MINUTE),
            "X-Ratelimit-Remaining": str(max(0, REQUESTS_PER_MINUTE - used)),
            "X-Ratelimit-Reset": str(reset),
        }
        self.write_json(status, payload, usage)

    def _error(self, status: int, code: int | None, message: str) -> None:
        self._send(status, {"code": code, "message": message} if code is not None else {"message": message})

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        params = dict(parse_qsl(parts.query))
        raw_body = self.read_body()
        body = json.loads(raw_body) if raw_body else None
        admission = self._admit(method, path, body if body is not None else params)
        fake, now = self.server.fake, time.time()
        with self.server.state.lock:
            over = fake.requests_window.add(1, now) > REQUESTS_PER_MINUTE or now < fake.paused_until_s
            if over:
                fake.answered_429 += 1
        if (
            self.headers.get("APCA-API-KEY-ID") != KEY_ID
            or self.headers.get("APCA-API-SECRET-KEY") != SECRET_KEY
            or self.server.state.faults.reject_keys
        ):
            self._error(401, None, "unauthorized")
            return
        if over or admission.rate_limited:
            self._error(429, 42910000, "rate limit exceeded")
            return
        if admission.server_error:
            self._error(500, 50010000, "internal server error occurred")
            return
        self._route(method, path, params, body)

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> None:
        fake = self.server.fake
        if method == "GET" and path == "/v2/assets":
            self._send(200, [fake.asset_json(s) for s in fake.crypto])
        elif method == "GET" and path.startswith("/v2/assets/"):
            ticker = path.split("/v2/assets/", 1)[1]
            symbol = fake.stocks.get(ticker)
            if symbol is None:
                self._error(404, 40410000, "asset not found")
            else:
                self._send(
                    200,
                    {
                        "id": ticker,
                        "class": "us_equity",
                        "symbol": ticker,
                        "status": "active",
                        "tradable": True,
                        "fractionable": True,
                    },
                )
        elif method == "POST" and path == "/v2/orders":
            self._new_order(body)
        elif method == "GET" and path == "/v2/orders":
            self._open_orders(params)
        elif method == "GET" and path == "/v2/orders:by_client_order_id":
            self._get(client_order_id=params.get("client_order_id", ""))
        elif path.startswith("/v2/orders/") and method in ("GET", "DELETE"):
            order_id = path.rsplit("/", 1)[1]
            if method == "GET":
                self._get(order_id=order_id)
            else:
                self._cancel(order_id)
        elif method == "GET" and path == "/v2/positions":
            self._send(200, fake.positions_json())
        elif method == "GET" and path == "/v2/account":
            cash = fake.engine.balances().get("USD")
            free = str(cash.free if cash else Decimal(0))
            self._send(
                200,
                {
                    "id": "acct",
                    "currency": "USD",
                    "cash": free,
                    "buying_power": free,
                    "non_marginable_buying_power": free,
                    "status": "ACTIVE",
                },
            )
        elif method == "GET" and path == "/v1beta3/crypto/us/latest/quotes":
            symbol = params.get("symbols", "")
            self._send(200, {"quotes": {symbol: fake.quote_json(symbol)}})
        elif method == "GET" and path.startswith("/v2/stocks/") and path.endswith("/quotes/latest"):
            ticker = path.split("/")[3]
            self._send(200, {"symbol": ticker, "quote": fake.quote_json(fake.stocks[ticker])})
        else:
            self._error(404, 40410000, f"no route {method} {path}")

    def _new_order(self, body: dict[str, Any]) -> None:
        fake = self.server.fake
        symbol = fake.crypto.get(body.get("symbol", "")) or fake.stocks.get(body.get("symbol", ""))
        if symbol is None:
            self._error(422, 40010001, f"asset {body.get('symbol')} not found")
            return
        if body.get("type") not in ("limit", "stop_limit") or body.get("time_in_force") not in ("gtc", "ioc"):
            self._error(422, 40010001, "invalid order type or time_in_force for crypto")
            return
        for key in ("qty", "limit_price"):
            if not isinstance(body.get(key), str):
                self._error(422, 40010001, f"{key} must be a decimal string")
                return
        request = OrderRequest(
            client_order_id=body["client_order_id"],
            symbol=symbol,
            side=Side(body["side"]),
            qty=Decimal(body["qty"]),
            price=Decimal(body["limit_price"]),
            time_in_force=TimeInForce(body["time_in_force"]),
            order_type=OrderType.STOP_LIMIT if body["type"] == "stop_limit" else OrderType.LIMIT,
            stop_price=Decimal(body["stop_price"]) if body.get("stop_price") else None,
        )
        try:
            order = fake.engine.submit_order(request)
        except InsufficientFunds as exc:
            self._send(403, {"code": 40310000, "message": f"insufficient balance ({exc})", "symbol": "USD"})
            return
        except OrderRejected as exc:
            message = "client_order_id must be unique" if exc.code == "duplicate" else str(exc)
            self._error(422, 40010001, message)
            return
        if self.lose_response_if_asked():
            return
        if self.error_after_order_asked():  # the order exists; the client hears only of an error
            self._error(503, 50310000, "service unavailable")
            return
        self._send(200, fake.order_json(order))

    def _get(self, *, order_id: str = "", client_order_id: str = "") -> None:
        engine = self.server.fake.engine
        try:
            order = (
                engine.get_order("", venue_order_id=_engine_id(order_id))
                if order_id
                else engine.get_order("", client_order_id=client_order_id)
            )
        except (UnknownOrder, ValueError, IndexError):
            self._error(404, 40410000, "order not found")
            return
        self._send(200, self.server.fake.order_json(order))

    def _cancel(self, order_id: str) -> None:
        engine = self.server.fake.engine
        try:
            engine.cancel_order("", venue_order_id=_engine_id(order_id))
        except (UnknownOrder, ValueError, IndexError):
            self._error(404, 40410000, "order not found")
            return
        except OrderRejected:
            self._error(422, 42210000, "order is not cancelable")
            return
        self._send(204, None)

    def _open_orders(self, params: dict[str, str]) -> None:
        fake = self.server.fake
        wanted = params.get("symbols")
        symbol = (fake.crypto.get(wanted) or fake.stocks.get(wanted)) if wanted else None
        orders = [fake.order_json(o) for o in fake.engine.open_orders(symbol)]
        self._send(200, orders + [o for o in fake.foreign_orders if wanted in (None, o["symbol"])])


class FakeAlpaca(FakeVenue):
    """``with FakeAlpaca(crypto=["BTC/USD"], stocks=["AAPL/USD"]) as fake:``."""

    def __init__(
        self, *, crypto: list[str], stocks: list[str] | None = None, cash: Decimal = Decimal(100_000)
    ) -> None:
        self.crypto = {s: s for s in crypto} | {s.replace("/", ""): s for s in crypto}
        self.stocks = {s.split("/")[0]: s for s in stocks or []}
        rules = {
            s: SymbolRules(
                symbol=s,
                tick_size=Decimal("0.01"),
                lot_step=Decimal("0.000000001"),
                min_qty=Decimal("0.000000001"),
                min_notional=Decimal(1),
            )
            for s in stocks or []
        }
        engine = PaperEngine(clock=RealClock(), balances={"USD": cash}, fee_rate=Decimal(0), rules=rules)
        self.rejected_connections = 0
        self.requests_window = WindowCounter(60, REQUESTS_PER_MINUTE)
        self.answered_429 = 0
        self.paused_until_s = 0.0
        super().__init__(name="alpaca", handler=_Handler, engine=engine, faults=VenueFaults())
        self.trades = AlpacaTradeHub(self, key_id=KEY_ID, secret_key=SECRET_KEY)
        self.foreign_orders: list[dict[str, Any]] = []
        """Open orders of another client on the account (listed as they are, never matched)."""
        """The trading stream's ``trade_updates`` and its fault switches (``fake.trades.faults``)."""

    @property
    def user_ws_url(self) -> str:
        return f"{self.ws_base_url}{TRADING_STREAM_PATH}"

    @staticmethod
    def iso(ts_ns: int) -> str:
        return _iso(ts_ns)

    def ban(self, seconds: int) -> None:
        """Answer every request 429 (Remaining 0, Reset at the end) for ``seconds`` from now."""
        with self.state.lock:
            self.paused_until_s = time.time() + seconds

    @property
    def endpoints(self) -> dict[str, str]:
        """What ``venues.alpaca`` in a config takes to trade crypto here (REST and data API alike)."""
        return {
            "rest_url": self.rest_url,
            "data_rest_url": self.rest_url,
            "ws_url": self.crypto_ws_url,
            "user_ws_url": self.user_ws_url,
        }

    @property
    def crypto_ws_url(self) -> str:
        return f"{self.ws_base_url}/v1beta3/crypto/us"

    @property
    def stocks_ws_url(self) -> str:
        return f"{self.ws_base_url}/v2/iex"

    # -- JSON shapes ----------------------------------------------------------------------------------

    def asset_json(self, symbol: str) -> dict[str, Any]:
        return {
            "id": symbol,
            "class": "crypto",
            "exchange": "CRYPTO",
            "symbol": symbol,
            "status": "active",
            "tradable": True,
            "fractionable": True,
            "min_order_size": "0.000001",
            "min_trade_increment": "0.000001",
            "price_increment": "0.01",
        }

    def venue_symbol(self, symbol: str) -> str:
        return symbol if symbol in self.crypto else symbol.split("/")[0]

    def order_json(self, order: OrderSnapshot) -> dict[str, Any]:
        return {
            "id": _uuid(order.venue_order_id),
            "client_order_id": order.client_order_id,
            "symbol": self.venue_symbol(order.symbol),
            "asset_class": "crypto" if order.symbol in self.crypto else "us_equity",
            "side": order.side.value,
            "type": "stop_limit" if order.order_type is OrderType.STOP_LIMIT else "limit",
            "qty": str(order.qty),
            "filled_qty": str(order.filled_qty),
            "filled_avg_price": str(order.avg_fill_price) if order.avg_fill_price is not None else None,
            "limit_price": str(order.price),
            "stop_price": str(order.stop_price) if order.stop_price else None,
            "status": _STATUS[order.status],
            "time_in_force": "gtc",
            "updated_at": _iso(order.ts_event),
        }

    def positions_json(self) -> list[dict[str, Any]]:
        symbols = list({*self.crypto.values(), *self.stocks.values()})
        return [
            {
                "symbol": p.symbol.replace("/", "") if p.symbol in self.crypto else p.symbol.split("/")[0],
                "qty": str(p.qty),
                "avg_entry_price": str(p.avg_entry_price or 0),
                "asset_class": "crypto" if p.symbol in self.crypto else "us_equity",
                "side": "long",
            }
            for p in self.engine.positions(symbols)
        ]

    def quote_json(self, symbol: str) -> dict[str, Any]:
        quote = self.engine.best_quote(symbol)
        return {
            "bp": float(quote.bid),
            "bs": 1.5,
            "ap": float(quote.ask),
            "as": 2.5,
            "t": _iso(quote.ts_event),
        }

    # -- streams --------------------------------------------------------------------------------------

    def _ws_handler(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else ""
        if path == TRADING_STREAM_PATH:
            client = StreamClient(connection, path)
            self._add_client(client)  # so drop_clients cuts it too
            try:
                self.trades.serve(connection)
            finally:
                self._remove_client(client)
            return
        connection.send(json.dumps([{"T": "success", "msg": "connected"}]))
        try:
            auth = json.loads(connection.recv(timeout=10))
        except (ConnectionClosed, OSError, ValueError):
            return  # gone, silent past the timeout or not JSON: the client never authenticated
        if auth.get("key") != KEY_ID or auth.get("secret") != SECRET_KEY:
            connection.send(json.dumps([{"T": "error", "code": 402, "msg": "auth failed"}]))
            connection.close()
            return
        if self._has_client_on(path):  # one connection per endpoint
            self.rejected_connections += 1
            connection.send(json.dumps([{"T": "error", "code": 406, "msg": "connection limit exceeded"}]))
            connection.close()
            return
        client = StreamClient(connection, path)

        def on_message(raw: str | bytes) -> None:
            message = json.loads(raw)
            if message.get("action") == "subscribe":
                client.topics.update(message.get("quotes", []))
                connection.send(
                    json.dumps(
                        [{"T": "subscription", "trades": [], "quotes": sorted(client.topics), "bars": []}]
                    )
                )

        self._serve_client(
            client, on_message, greeting=json.dumps([{"T": "success", "msg": "authenticated"}])
        )

    def push_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        now = self.quote_engine(symbol, bid, ask, size=Decimal(0))  # the engine's quote carries no sizes
        venue_symbol = self.venue_symbol(symbol)
        # Alpaca streams JSON numbers: written here from the decimal text, exactly.
        frame = (
            f'[{{"T":"q","S":"{venue_symbol}","bp":{bid},"bs":1.5,"ap":{ask},"as":2.5,"t":"{_iso(now)}"}}]'
        )
        self.broadcast(frame, venue_symbol)

    def send_malformed(self) -> None:
        self.broadcast('[{"T":"q","S":"BTC/USD","bp":"not a number"')
