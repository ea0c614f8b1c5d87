"""Kraken parsers over documented payloads (tests/fixtures/kraken) and the error strings."""

from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from autohedge.adapters.kraken.parse import (
    PairMap,
    asset_name,
    map_errors,
    parse_balances,
    parse_order,
    parse_rules,
    unwrap,
)
from autohedge.adapters.kraken.wire import KrakenAssetPair, KrakenOrderInfo
from autohedge.core.errors import (
    AuthError,
    InsufficientFunds,
    MalformedMessage,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownOrder,
    VenueUnavailable,
)
from autohedge.core.types import OrderStatus, OrderType, Side
from tests.fixture_files import fixture_json
from tests.ids import entry_id

D = Decimal


fixture = partial(fixture_json, "kraken")


def pairs() -> PairMap:
    raw = fixture("asset_pairs.json")["result"]
    return PairMap({k: KrakenAssetPair.model_validate(v) for k, v in raw.items()})


def open_order(**changes: Any) -> KrakenOrderInfo:
    raw = fixture("open_orders.json")["result"]["open"]["OQCLML-BW3P3-BUCMWZ"]
    raw.update(changes)
    return KrakenOrderInfo.model_validate(raw)


@pytest.mark.parametrize(("code", "ours"), [("XXBT", "BTC"), ("XBT", "BTC"), ("ZUSD", "USD"), ("SOL", "SOL")])
def test_parse_asset_names(code: str, ours: str) -> None:
    assert asset_name(code) == ours


def test_parse_pair_map_knows_every_spelling() -> None:
    mapping = pairs()
    assert mapping.altname("BTC/USD") == "XBTUSD"
    assert mapping.ours("XXBTZUSD") == mapping.ours("XBTUSD") == mapping.ours("XBT/USD") == "BTC/USD"
    with pytest.raises(OrderRejected):
        mapping.altname("DOGE/EUR")


def test_parse_rules_from_asset_pairs() -> None:
    rules = parse_rules(pairs().pairs["BTC/USD"], symbol="BTC/USD")
    assert (rules.tick_size, rules.lot_step) == (D("0.1"), D("1E-8"))
    assert (rules.min_qty, rules.min_notional) == (D("0.0001"), D("0.5"))


def test_parse_rules_without_tick_size_use_pair_decimals() -> None:
    raw = fixture("asset_pairs.json")["result"]["XXBTZUSD"] | {"tick_size": None, "pair_decimals": 2}
    assert parse_rules(KrakenAssetPair.model_validate(raw), symbol="BTC/USD").tick_size == D("0.01")


def test_parse_rules_refuse_a_pair_in_cancel_only() -> None:
    raw = fixture("asset_pairs.json")["result"]["XXBTZUSD"] | {"status": "cancel_only"}
    with pytest.raises(OrderRejected, match="cancel_only"):
        parse_rules(KrakenAssetPair.model_validate(raw), symbol="BTC/USD")


def test_parse_open_order_with_vol_exec_is_partially_filled() -> None:
    order = parse_order("OQCLML-BW3P3-BUCMWZ", open_order(), symbol="BTC/USD")
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.side is Side.BUY
    assert (order.qty, order.filled_qty, order.price) == (D("1.25"), D("0.375"), D("30010.0"))
    assert order.client_order_id == entry_id(1) and order.ts_event == 1_688_666_559_897_400_000


def test_parse_stop_loss_limit_has_trigger_in_price_and_limit_in_price2() -> None:
    descr = {
        "pair": "XBTUSD",
        "type": "sell",
        "ordertype": "stop-loss-limit",
        "price": "29000",
        "price2": "28900",
    }
    order = parse_order("O1", open_order(descr=descr, vol_exec="0"), symbol="BTC/USD")
    assert (order.order_type, order.stop_price, order.price) == (OrderType.STOP_LIMIT, D(29000), D(28900))


def test_parse_order_unknown_status_raises() -> None:
    with pytest.raises(MalformedMessage, match="halted"):
        parse_order("O1", open_order(status="halted"), symbol="BTC/USD")


def test_parse_order_unknown_type_raises() -> None:
    descr = {"pair": "XBTUSD", "type": "sell", "ordertype": "trailing-stop"}
    with pytest.raises(MalformedMessage, match="trailing-stop"):
        parse_order("O1", open_order(descr=descr), symbol="BTC/USD")


def test_parse_balances_subtract_the_trade_hold_and_drop_staking() -> None:
    raw = {
        "XXBT": {"balance": "0.5", "hold_trade": "0.1"},
        "ZUSD": {"balance": "100.0", "hold_trade": "0"},
        "XBT.F": {"balance": "9", "hold_trade": "0"},
        "XETH": {"balance": "0", "hold_trade": "0"},
    }
    balances = parse_balances(raw)
    assert sorted(balances) == ["BTC", "USD"]
    assert (balances["BTC"].free, balances["BTC"].locked) == (D("0.4"), D("0.1"))


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("EOrder:Insufficient funds", InsufficientFunds),
        ("EOrder:Unknown order", UnknownOrder),
        ("EAPI:Rate limit exceeded", RateLimited),
        ("EOrder:Rate limit exceeded", RateLimited),
        ("EAPI:Invalid nonce", VenueUnavailable),
        ("EAPI:Invalid key", AuthError),
        ("EAPI:Invalid signature", AuthError),
        ("EGeneral:Invalid arguments", OrderRejected),
        ("EOrder:Order minimum not met", OrderRejected),
        ("EService:Unavailable", VenueUnavailable),
    ],
)
def test_parse_errors_map_to_the_tree(error: str, kind: type[Exception]) -> None:
    assert type(map_errors([error], mutates=True, auth_hint="set keys", now_s=0)) is kind


def test_parse_invalid_key_names_the_variables() -> None:
    error = map_errors(["EAPI:Invalid key"], mutates=False, auth_hint="set AUTOHEDGE_KRAKEN_API_KEY", now_s=0)
    assert "AUTOHEDGE_KRAKEN_API_KEY" in str(error)


def test_parse_throttled_waits_until_the_given_time() -> None:
    error = map_errors(["EService:Throttled: 1700000010"], mutates=False, auth_hint="", now_s=1_700_000_000)
    assert isinstance(error, RateLimited) and error.retry_after_s == 10.0


def test_parse_throttled_as_the_reference_spells_it_is_rate_limited() -> None:
    # exchanges.md: concurrency -> ``EService: Throttled: [UNIX timestamp]`` (spaces after the colons).
    # Read as a definitive rejection it was a "venue said no": a throttled CancelOrder looked like an
    # ended order to the monitor, which then placed its close beside the still-resting take-profit.
    error = map_errors(["EService: Throttled: 1700000010"], mutates=True, auth_hint="", now_s=1_700_000_000)
    assert isinstance(error, RateLimited) and error.retry_after_s == 10.0


def test_parse_internal_error_on_an_order_is_outcome_unknown() -> None:
    # The engine failed somewhere inside: the order may have been placed. A definitive rejection made
    # the sender forget an order that may exist.
    for error in ("EGeneral:Internal error", "EGeneral:Internal error:engine"):
        assert isinstance(map_errors([error], mutates=True, auth_hint="", now_s=0), OutcomeUnknown)
        assert isinstance(map_errors([error], mutates=False, auth_hint="", now_s=0), VenueUnavailable)


def test_parse_deadline_elapsed_on_an_order_is_outcome_unknown() -> None:
    assert isinstance(
        map_errors(["EService:Deadline elapsed"], mutates=True, auth_hint="", now_s=0), OutcomeUnknown
    )
    assert isinstance(
        map_errors(["EService:Deadline elapsed"], mutates=False, auth_hint="", now_s=0), VenueUnavailable
    )


def test_parse_unwrap_returns_the_result_and_ignores_warnings() -> None:
    assert unwrap(
        {"error": ["WGeneral:Something"], "result": {"count": 1}}, mutates=False, auth_hint="", now_s=0
    ) == {"count": 1}


def test_parse_unwrap_raises_the_mapped_error() -> None:
    with pytest.raises(InsufficientFunds):
        unwrap({"error": ["EOrder:Insufficient funds"]}, mutates=True, auth_hint="", now_s=0)


def test_parse_unwrap_without_result_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        unwrap({"error": []}, mutates=False, auth_hint="", now_s=0)
