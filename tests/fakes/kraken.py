"""A local fake of Kraken Spot (REST, WS v2 public and private) on 127.0.0.1, backed by the paper engine.

It checks what Kraken checks: ``API-Key``, ``API-Sign`` over ``uri_path + SHA256(nonce + postdata)`` of
the exact body, a nonce strictly above the last one of the key, the REST call counter (15, draining
0.33/s; AddOrder/CancelOrder excluded) and the per-pair trading counter (60, draining 1/s; +1 per add,
+8..+1 per cancel by the order's age), pair rules from its AssetPairs; it answers with HTTP 200 and
``error[]`` strings. The private websocket wants a token from ``GetWebSocketsToken`` and sends
``executions``: a snapshot of open orders, then per-fill trades with fees and status changes.

Fault switches (``fake.faults``): a rate-limit burst after N requests, 5xx, slow responses, an order
accepted whose response is lost; on the websockets: dropped sockets (``drop_clients``), a duplicated or
out-of-order execution, a sequence gap, a malformed frame.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection

from autohedge.adapters.paper.engine import PaperEngine
from autohedge.core.clock import Clock, RealClock
from autohedge.core.errors import InsufficientFunds, OrderRejected, RateLimited, UnknownOrder
from autohedge.core.messages import OrderRequest, OrderSnapshot, SymbolRules
from autohedge.core.ratecounter import DecayingCounter, PairOrderBudget
from autohedge.core.types import OrderStatus, OrderType, Side, TimeInForce
from tests.fakes.order_feed import OrderChange, OrderChangeFeed
from tests.fakes.sequenced import SequencedFaults, SequencedVenue, Subscriber
from tests.fakes.venue_server import VenueHandler

__all__ = ["API_KEY", "API_SECRET", "FakeKraken", "Faults"]

API_KEY = "fake-kraken-key"
API_SECRET = base64.b64encode(b"fake-kraken-private-key-bytes-0123456789").decode("ascii")
_CODES = {"BTC": "XXBT", "ETH": "XETH", "USD": "ZUSD", "EUR": "ZEUR"}
_ALT = {"BTC": "XBT"}
_REST_STATUS = {
    OrderStatus.NEW: "open",
    OrderStatus.PARTIALLY_FILLED: "open",
    OrderStatus.FILLED: "closed",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.REJECTED: "canceled",
    OrderStatus.EXPIRED: "expired",
}
_WS_STATUS = {
    OrderStatus.NEW: "new",
    OrderStatus.PARTIALLY_FILLED: "partially_filled",
    OrderStatus.FILLED: "filled",
    OrderStatus.CANCELED: "canceled",
    OrderStatus.REJECTED: "canceled",
    OrderStatus.EXPIRED: "expired",
}
_CANCEL_PENALTIES = ((5.0, 8.0), (10.0, 6.0), (15.0, 5.0), (45.0, 4.0), (90.0, 2.0), (300.0, 1.0))


def _iso(ts_ns: int) -> str:
    seconds, nanos = divmod(ts_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1000:06d}Z"


def _s(value: Decimal | None) -> str:
    return format(value or Decimal(0), "f")


def _n(value: Decimal | None) -> str:
    """A JSON number written from the decimal text (the websocket sends numbers, not strings)."""
    return format(value or Decimal(0), "f")


@dataclass
class Faults(SequencedFaults):
    """The shared switches (rate-limit burst, 5xx, slow responses, a lost order response) and the
    executions stream's update drills; Kraken's fake has no switch of its own."""


class _Handler(VenueHandler):
    def ok(self, result: Any) -> None:
        self.write_json(200, {"error": [], "result": result})

    def fail(self, *errors: str) -> None:
        self.write_json(200, {"error": list(errors)})

    def _handle(self, method: str) -> None:
        fake: FakeKraken = self.server.fake
        parts = urlsplit(self.path)
        body = self.read_body().decode("utf-8")
        params = dict(parse_qsl(body if method == "POST" else parts.query, keep_blank_values=True))
        admission = self._admit(method, parts.path, params)
        if admission.server_error:
            self.write_json(503, {"error": ["EService:Unavailable"]})
            return
        if parts.path.startswith("/0/public/"):
            fake.public(self, parts.path.removeprefix("/0/public/"), params)
            return
        if method != "POST" or not parts.path.startswith("/0/private/"):
            self.fail("EGeneral:Unknown method")
            return
        problem = fake.check_signature(self.headers, parts.path, body, params)
        if problem:
            self.fail(problem)
            return
        endpoint = parts.path.removeprefix("/0/private/")
        if admission.rate_limited or not fake.charge_rest_counter(endpoint):
            self.fail("EAPI:Rate limit exceeded")
            return
        fake.private(self, endpoint, params)


class FakeKraken(SequencedVenue):
    """``with FakeKraken(pairs=["BTC/USD"]) as fake:`` REST at ``fake.rest_url``, public stream at
    ``fake.ws_url``, private stream at ``fake.user_ws_url``. ``clock`` drives the counters (a
    ManualClock makes limit tests deterministic); the counters default to the Starter tier."""

    def __init__(
        self,
        *,
        pairs: list[str],
        balances: dict[str, Decimal] | None = None,
        fee_rate: Decimal = Decimal("0.0026"),
        clock: Clock | None = None,
        rest_counter_max: float = 15,
        rest_counter_decay_per_s: float = 0.33,
        trading_counter_threshold: float = 60,
        trading_counter_decay_per_s: float = 1.0,
    ) -> None:
        self.symbols = list(pairs)
        self._clock = clock or RealClock()
        rules = {
            s: SymbolRules(
                symbol=s,
                tick_size=Decimal("0.1"),
                lot_step=Decimal("0.00000001"),
                min_qty=Decimal("0.0001"),
                min_notional=Decimal("0.5"),
            )
            for s in pairs
        }
        engine = PaperEngine(
            clock=RealClock(),
            balances=balances or {"USD": Decimal(100_000)},
            fee_rate=fee_rate,
            fee_in_base=False,  # fees in the quote currency (Kraken's default without oflags=fcib)
            rules=rules,
            venue="kraken",
        )
        self.feed = OrderChangeFeed(engine)
        self._rest_counter = DecayingCounter(
            self._clock,
            venue="kraken rest",
            threshold=rest_counter_max,
            decay_per_s=rest_counter_decay_per_s,
            reserve_fraction=0,
        )
        self.trading_counter = PairOrderBudget(
            self._clock,
            venue="kraken",
            threshold=trading_counter_threshold,
            decay_per_s=trading_counter_decay_per_s,
            add_cost=1,
            cancel_penalties=_CANCEL_PENALTIES,
            reserve_fraction=0,
        )
        self._lock = threading.RLock()
        self._last_nonce = 0
        self._tokens: set[str] = set()
        self._txids: dict[str, str] = {}
        self._engine_ids: dict[str, str] = {}
        self._exec_ids = itertools.count(1)
        self.rejected_signatures = 0
        super().__init__(first_sequence=1, name="kraken", handler=_Handler, engine=engine, faults=Faults())

    @property
    def ws_url(self) -> str:
        return f"{self.ws_base_url}/v2"

    @property
    def user_ws_url(self) -> str:
        return f"{self.ws_base_url}/auth/v2"

    # -- names ----------------------------------------------------------------------------------------

    @staticmethod
    def code(asset: str) -> str:
        return _CODES.get(asset, asset)

    @staticmethod
    def altname(symbol: str) -> str:
        base, quote = symbol.split("/")
        return f"{_ALT.get(base, base)}{quote}"

    def pair_id(self, symbol: str) -> str:
        base, quote = symbol.split("/")
        return f"{self.code(base)}{self.code(quote)}"

    def _symbol_of(self, pair: str) -> str | None:
        return next((s for s in self.symbols if pair in (self.altname(s), self.pair_id(s))), None)

    def txid(self, engine_id: str) -> str:
        with self._lock:
            found = self._txids.get(engine_id)
            if found is None:
                n = int(engine_id[1:])
                found = f"O{n:05d}-FAKE{n % 10}-K{n:05d}"
                self._txids[engine_id] = found
                self._engine_ids[found] = engine_id
            return found

    # -- checks ---------------------------------------------------------------------------------------

    def check_signature(self, headers: Any, path: str, body: str, params: dict[str, str]) -> str:
        """Empty when the request is signed as Kraken wants; otherwise Kraken's error string."""
        if headers.get("API-Key") != API_KEY:
            self.rejected_signatures += 1
            return "EAPI:Invalid key"
        nonce = params.get("nonce", "")
        digest = hashlib.sha256((nonce + body).encode("utf-8")).digest()
        expected = base64.b64encode(
            hmac.new(base64.b64decode(API_SECRET), path.encode("utf-8") + digest, hashlib.sha512).digest()
        ).decode("ascii")
        if not hmac.compare_digest(headers.get("API-Sign", ""), expected):
            self.rejected_signatures += 1
            return "EAPI:Invalid signature"
        with self._lock:
            if not nonce.isdigit() or int(nonce) <= self._last_nonce:
                return "EAPI:Invalid nonce"
            self._last_nonce = int(nonce)
        return ""

    def charge_rest_counter(self, endpoint: str) -> bool:
        if endpoint in ("AddOrder", "CancelOrder"):
            return True  # the trading engine's per-pair counter charges these
        cost = 2 if endpoint in ("TradesHistory", "Ledgers", "QueryTrades") else 1
        try:
            self._rest_counter.charge(cost, priority=True)
        except RateLimited:
            return False
        return True

    # -- public ---------------------------------------------------------------------------------------

    def public(self, h: _Handler, endpoint: str, params: dict[str, str]) -> None:
        wanted = [p for p in params.get("pair", "").split(",") if p]
        symbols = [self._symbol_of(p) for p in wanted] if wanted else list(self.symbols)
        if any(s is None for s in symbols):
            h.fail("EQuery:Unknown asset pair")
            return
        if endpoint == "AssetPairs":
            h.ok({self.pair_id(s): self.asset_pair_json(s) for s in symbols if s is not None})
        elif endpoint == "Ticker":
            out = {}
            for symbol in symbols:
                assert symbol is not None
                quote = self.engine.best_quote(symbol)
                out[self.pair_id(symbol)] = {
                    "a": [_s(quote.ask), "1", "1.000"],
                    "b": [_s(quote.bid), "1", "1.000"],
                    "c": [_s(quote.bid), "0.1"],
                }
            h.ok(out)
        else:
            h.fail("EGeneral:Unknown method")

    def asset_pair_json(self, symbol: str) -> dict[str, Any]:
        rules = self.engine.symbol_rules(symbol)
        base, quote = symbol.split("/")
        return {
            "altname": self.altname(symbol),
            "wsname": f"{_ALT.get(base, base)}/{quote}",
            "aclass_base": "currency",
            "base": self.code(base),
            "aclass_quote": "currency",
            "quote": self.code(quote),
            "cost_decimals": 5,
            "pair_decimals": 1,
            "lot_decimals": 8,
            "ordermin": _s(rules.min_qty),
            "costmin": _s(rules.min_notional),
            "tick_size": _s(rules.tick_size),
            "status": "online",
        }

    # -- private --------------------------------------------------------------------------------------

    def private(self, h: _Handler, endpoint: str, params: dict[str, str]) -> None:
        handlers = {
            "AddOrder": self._add_order,
            "CancelOrder": self._cancel_order,
            "QueryOrders": self._query_orders,
            "OpenOrders": self._open_orders,
            "ClosedOrders": self._closed_orders,
            "BalanceEx": self._balances,
            "GetWebSocketsToken": self._token,
            "TradesHistory": self._trades,
        }
        handler = handlers.get(endpoint)
        if handler is None:
            h.fail("EGeneral:Unknown method")
            return
        handler(h, params)

    def _add_order(self, h: _Handler, params: dict[str, str]) -> None:
        symbol = self._symbol_of(params.get("pair", ""))
        if symbol is None:
            h.fail("EQuery:Unknown asset pair")
            return
        ordertype, side = params.get("ordertype"), params.get("type")
        if ordertype not in ("limit", "stop-loss-limit") or side not in ("buy", "sell"):
            h.fail("EGeneral:Invalid arguments")
            return
        coid = params.get("cl_ord_id", "")
        if coid and any(o.client_order_id == coid for o in self.engine.open_orders()):
            h.fail("EOrder:Duplicate order")  # UNCONFIRMED text: cl_ord_id must be unique among open orders
            return
        rules = self.engine.symbol_rules(symbol)
        try:
            volume = Decimal(params["volume"])
            price = Decimal(params["price"])
            price2 = Decimal(params["price2"]) if "price2" in params else None
        except (KeyError, ArithmeticError):
            h.fail("EGeneral:Invalid arguments")
            return
        if volume < rules.min_qty:
            h.fail("EOrder:Order minimum not met")
            return
        if volume % rules.lot_step != 0 or price % rules.tick_size != 0:
            h.fail("EGeneral:Invalid arguments:price")
            return
        stop = ordertype == "stop-loss-limit"
        if stop and price2 is None:
            h.fail("EGeneral:Invalid arguments")
            return
        request = OrderRequest(
            client_order_id=coid or f"k{secrets.token_hex(4)}",
            symbol=symbol,
            side=Side(side),
            qty=volume,
            price=price2 if stop and price2 is not None else price,
            order_type=OrderType.STOP_LIMIT if stop else OrderType.LIMIT,
            stop_price=price if stop else None,
            time_in_force=TimeInForce(params.get("timeinforce", "GTC").lower()),
        )
        if params.get("validate") == "true":
            h.ok(
                {
                    "descr": {
                        "order": f"{side} {params['volume']} {params['pair']} @ {ordertype} {params['price']}"
                    }
                }
            )
            return
        try:
            self.trading_counter.charge_add(self.altname(symbol), request.client_order_id, priority=True)
        except RateLimited:
            h.fail("EOrder:Rate limit exceeded")
            return
        try:
            with self._lock:
                order = self.engine.submit_order(request)
                txid = self.txid(order.venue_order_id)
        except InsufficientFunds:
            h.fail("EOrder:Insufficient funds")
            return
        except OrderRejected as exc:
            h.fail("EOrder:Duplicate order" if exc.code == "duplicate" else "EGeneral:Invalid arguments")
            return
        self.publish()
        if not h.lose_response_if_asked():
            h.ok(
                {
                    "descr": {
                        "order": f"{side} {params['volume']} {params['pair']} @ {ordertype} {params['price']}"
                    },
                    "txid": [txid],
                }
            )

    def _find(self, params: dict[str, str]) -> OrderSnapshot | None:
        try:
            if "txid" in params:
                engine_id = self._engine_ids.get(params["txid"])
                return None if engine_id is None else self.engine.get_order("", venue_order_id=engine_id)
            if "cl_ord_id" in params:
                return self.engine.get_order("", client_order_id=params["cl_ord_id"])
        except UnknownOrder:
            return None
        return None

    def _cancel_order(self, h: _Handler, params: dict[str, str]) -> None:
        order = self._find(params)
        if order is None or not order.status.is_open:
            h.fail("EOrder:Unknown order")
            return
        try:
            self.trading_counter.charge_cancel(self.altname(order.symbol), order.client_order_id)
        except RateLimited:
            h.fail("EOrder:Rate limit exceeded")
            return
        try:
            self.engine.cancel_order("", venue_order_id=order.venue_order_id)
        except (OrderRejected, UnknownOrder):
            h.fail("EOrder:Unknown order")
            return
        self.publish()
        h.ok({"count": 1, "pending": False})

    def order_json(self, order: OrderSnapshot) -> dict[str, Any]:
        stop = order.order_type is OrderType.STOP_LIMIT
        seconds = Decimal(order.ts_event) / Decimal(1_000_000_000)
        return {
            "refid": None,
            "userref": 0,
            "cl_ord_id": order.client_order_id,
            "status": _REST_STATUS[order.status],
            "opentm": float(seconds),
            "closetm": float(seconds) if order.status.is_terminal else None,
            "descr": {
                "pair": self.altname(order.symbol),
                "type": order.side.value,
                "ordertype": "stop-loss-limit" if stop else "limit",
                "price": _s(order.stop_price if stop else order.price),
                "price2": _s(order.price if stop else Decimal(0)),
                "order": f"{order.side.value} {_s(order.qty)} {self.altname(order.symbol)}",
            },
            "vol": _s(order.qty),
            "vol_exec": _s(order.filled_qty),
            "cost": _s((order.avg_fill_price or Decimal(0)) * order.filled_qty),
            "fee": _s(order.fee),
            "price": _s(order.avg_fill_price),
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": "fciq",
        }

    def _query_orders(self, h: _Handler, params: dict[str, str]) -> None:
        out = {}
        if "cl_ord_id" in params:
            order = self._find({"cl_ord_id": params["cl_ord_id"]})
            if order is not None:
                out[self.txid(order.venue_order_id)] = self.order_json(order)
        for txid in [t for t in params.get("txid", "").split(",") if t]:
            order = self._find({"txid": txid})
            if order is None:
                h.fail("EOrder:Invalid order")  # UNCONFIRMED: the answer for an unknown txid
                return
            out[txid] = self.order_json(order)
        h.ok(out)

    def _open_orders(self, h: _Handler, params: dict[str, str]) -> None:
        coid = params.get("cl_ord_id")
        orders = [o for o in self.engine.open_orders() if coid is None or o.client_order_id == coid]
        h.ok({"open": {self.txid(o.venue_order_id): self.order_json(o) for o in orders}})

    def _closed_orders(self, h: _Handler, params: dict[str, str]) -> None:
        coid = params.get("cl_ord_id")
        orders = [
            o
            for o in self.engine.all_orders()
            if o.status.is_terminal and (coid is None or o.client_order_id == coid)
        ]
        h.ok(
            {
                "closed": {self.txid(o.venue_order_id): self.order_json(o) for o in orders},
                "count": len(orders),
            }
        )

    def _balances(self, h: _Handler, params: dict[str, str]) -> None:
        h.ok(
            {
                self.code(asset): {"balance": _s(b.total), "hold_trade": _s(b.locked)}
                for asset, b in self.engine.balances().items()
            }
        )

    def _token(self, h: _Handler, params: dict[str, str]) -> None:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens.add(token)
        h.ok({"token": token, "expires": 900})

    def _trades(self, h: _Handler, params: dict[str, str]) -> None:
        trades = {}
        for fill in list(self.feed.fills):
            trades[f"T{fill.trade_id:05d}-FAKE-TRADE"] = {
                "ordertxid": self.txid(fill.order.venue_order_id),
                "pair": self.pair_id(fill.order.symbol),
                "time": fill.order.ts_event / 1e9,
                "type": fill.order.side.value,
                "ordertype": "limit",
                "price": _s(fill.price),
                "cost": _s(fill.price * fill.qty),
                "fee": _s(fill.fee),
                "vol": _s(fill.qty),
                "maker": False,
                "trade_id": fill.trade_id,
            }
        h.ok({"trades": trades, "count": len(trades)})

    # -- websockets -----------------------------------------------------------------------------------

    def _send(self, subscriber: Subscriber, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        with contextlib.suppress(ConnectionClosed, OSError):  # a client going away misses it
            subscriber.client.connection.send(text)

    def _executions_frame(self, subscriber: Subscriber, kind: str, entries: list[str]) -> str:
        sequence = self._next_sequence(subscriber, gap_allowed=kind == "update")
        return (
            f'{{"channel":"executions","type":"{kind}","data":[{",".join(entries)}],"sequence":{sequence}}}'
        )

    def _send_executions(self, subscriber: Subscriber, kind: str, entries: list[str]) -> None:
        with subscriber.send_lock:
            self._deliver(
                subscriber, self._executions_frame(subscriber, kind, entries), update=kind == "update"
            )

    def _ws_handler(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else ""

        def status(subscriber: Subscriber) -> str:
            online = {
                "api_version": "v2",
                "connection_id": id(subscriber),
                "system": "online",
                "version": "2.0.0",
            }
            return json.dumps({"channel": "status", "type": "update", "data": [online]})

        self._serve_subscriber(
            connection, self._on_client_message, private=path.startswith("/auth"), greeting=status
        )

    def _on_client_message(self, subscriber: Subscriber, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            self._send(
                subscriber, {"error": "EGeneral:Invalid arguments", "success": False, "method": "unknown"}
            )
            return
        method, req_id = message.get("method"), message.get("req_id")
        if method == "ping":
            self._send(
                subscriber,
                {
                    "method": "pong",
                    "req_id": req_id,
                    "time_in": _iso(time.time_ns()),
                    "time_out": _iso(time.time_ns()),
                },
            )
            return
        params = message.get("params", {})
        channel = params.get("channel")
        if method != "subscribe" or channel not in ("ticker", "executions"):
            self._send(
                subscriber,
                {"method": method, "req_id": req_id, "success": False, "error": "EGeneral:Invalid arguments"},
            )
            return
        if channel == "executions":
            with self._lock:
                valid = subscriber.private and params.get("token") in self._tokens
            if not valid:
                self._send(
                    subscriber,
                    {
                        "method": "subscribe",
                        "req_id": req_id,
                        "success": False,
                        "error": "EAccount:Invalid permissions",
                    },
                )
                return
            # As the venue: from the acknowledgement on, every change reaches the client, as part of
            # the snapshot or as an update after it (updates wait for the snapshot on the send lock).
            with subscriber.send_lock:
                self._subscribe(subscriber, ["executions"])
                ack = {"channel": "executions", "snapshot": True}
                self._send(
                    subscriber, {"method": "subscribe", "req_id": req_id, "success": True, "result": ack}
                )
                open_orders = [self._execution_entry(o, "new") for o in self.engine.open_orders()]
                self._send(subscriber, self._executions_frame(subscriber, "snapshot", open_orders))
            return
        symbols = [s for s in params.get("symbol", []) if s in self.symbols]
        if not symbols or subscriber.private:
            self._send(
                subscriber,
                {
                    "method": "subscribe",
                    "req_id": req_id,
                    "success": False,
                    "error": "EGeneral:Invalid arguments",
                },
            )
            return
        for symbol in symbols:
            self._send(
                subscriber,
                {
                    "method": "subscribe",
                    "req_id": req_id,
                    "success": True,
                    "result": {"channel": "ticker", "symbol": symbol, "snapshot": True},
                },
            )
        self._subscribe(subscriber, ["ticker", *symbols])

    def _execution_entry(self, order: OrderSnapshot, exec_type: str, **extra: str) -> str:
        """A WS v2 executions entry; numbers written from decimal text (JSON numbers, not strings)."""
        fields = {
            "order_id": json.dumps(self.txid(order.venue_order_id)),
            "exec_type": json.dumps(exec_type),
            "order_status": json.dumps(_WS_STATUS[order.status]),
            "cl_ord_id": json.dumps(order.client_order_id),
            "symbol": json.dumps(order.symbol),
            "side": json.dumps(order.side.value),
            "order_type": json.dumps(
                "stop-loss-limit" if order.order_type is OrderType.STOP_LIMIT else "limit"
            ),
            "order_qty": _n(order.qty),
            "limit_price": _n(order.price),
            "cum_qty": _n(order.filled_qty),
            "avg_price": _n(order.avg_fill_price),
            "timestamp": json.dumps(_iso(order.ts_event)),
        }
        if order.stop_price is not None:
            fields["stop_price"] = _n(order.stop_price)
        fields.update(extra)
        return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"

    def _entries_of(self, change: OrderChange) -> list[str]:
        order, before, entries = change.after, change.before, []
        if before is None:  # as placed: nothing filled yet, whatever happened right after
            entries.append(
                self._execution_entry(order, "pending_new", order_status='"pending_new"', cum_qty="0")
            )
            entries.append(self._execution_entry(order, "new", order_status='"new"', cum_qty="0"))
        fill = change.fill
        if fill is not None:
            entries.append(
                self._execution_entry(
                    order,
                    "trade",
                    exec_id=json.dumps(f"E{next(self._exec_ids):05d}-FAKE-EXEC"),
                    trade_id=str(fill.trade_id),
                    last_qty=_n(fill.qty),
                    last_price=_n(fill.price),
                    cost=_n(fill.qty * fill.price),
                    liquidity_ind='"t"',
                    fees=f'[{{"asset":"{order.symbol.split("/")[1]}","qty":{_n(fill.fee)}}}]',
                    order_status=json.dumps("partially_filled"),
                )
            )
        if order.status is OrderStatus.FILLED and (before is None or before.status is not OrderStatus.FILLED):
            entries.append(self._execution_entry(order, "filled"))
        if order.status is OrderStatus.CANCELED and (
            before is None or before.status is not OrderStatus.CANCELED
        ):
            entries.append(self._execution_entry(order, "canceled", cancel_reason='"User requested"'))
        return entries

    def publish(self) -> None:
        """Send every order change since the last call to the ``executions`` subscribers."""
        entries = [e for change in self.feed.changes() for e in self._entries_of(change)]
        if not entries:
            return
        for subscriber in self._subscribers_on("executions"):
            self._send_executions(subscriber, "update", entries)

    def push_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        """Move the market: the engine matches, ticker subscribers get a frame, executions the changes."""
        now = self.quote_engine(symbol, bid, ask)
        frame = (
            f'{{"channel":"ticker","type":"update","data":[{{"symbol":"{symbol}","bid":{_n(bid)},"bid_qty":1.0,'
            f'"ask":{_n(ask)},"ask_qty":1.0,"last":{_n(bid)},"timestamp":"{_iso(now)}"}}]}}'
        )
        for subscriber in self._subscribers_on(symbol):
            self._send(subscriber, frame)
        self.publish()

    def send_heartbeat(self) -> None:
        for subscriber in self._subscribers_on("ticker") + self._subscribers_on("executions"):
            self._send(subscriber, '{"channel":"heartbeat"}')

    def send_malformed(self, text: str = '{"channel":"ticker","data":[{"symbol":"BTC/USD","bid":') -> None:
        self.broadcast(text)
