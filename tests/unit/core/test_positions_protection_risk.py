import random
from decimal import Decimal

import pytest

from autohedge.core.config import SymbolParams
from autohedge.core.errors import InsufficientBalance, OrderRefused
from autohedge.core.messages import EntryProtection, OrderFilled, SymbolRules
from autohedge.core.positions import FillInFlight, GrowthCredit, Holding, net_base_qty
from autohedge.core.protection import (
    close_price,
    close_price_for,
    close_remainder,
    close_reprice,
    dust_beside_closes_sellable,
    exit_falls_short,
    exit_prices,
    exit_qty,
    is_dust,
    join_dust,
    qty_text,
)
from autohedge.core.risk import refuse_rule_violations, rule_violations, size_entry
from autohedge.core.types import OrderPurpose, Side, quantize_down
from tests.ids import entry_id

D = Decimal

RULES = SymbolRules(
    symbol="BTC/USDT",
    tick_size=Decimal("0.01"),
    lot_step=Decimal("0.0001"),
    min_qty=Decimal("0.0001"),
    min_notional=Decimal(5),
)


def fill(qty: str, price: str, fee: str = "0", fee_asset: str = "BTC", side: Side = Side.BUY) -> OrderFilled:
    return OrderFilled(
        symbol="BTC/USDT",
        client_order_id=entry_id(1),
        venue_order_id="1",
        side=side,
        purpose=OrderPurpose.ENTRY,
        fill_qty=Decimal(qty),
        fill_price=Decimal(price),
        fee=Decimal(fee),
        fee_asset=fee_asset,
        cum_filled_qty=Decimal(qty),
        order_qty=Decimal(qty),
        ts_event=0,
        ts_init=0,
    )


def test_net_base_qty_buy_with_base_fee_is_reduced() -> None:
    assert net_base_qty(fill("1.0", "100", fee="0.001")) == Decimal("0.999")


def test_net_base_qty_quote_fee_does_not_reduce() -> None:
    assert net_base_qty(fill("1.0", "100", fee="0.1", fee_asset="USDT")) == Decimal("1.0")


def test_holding_two_partial_fills_average_and_net() -> None:
    holding = (
        Holding().after_fill(fill("0.5", "100", fee="0.0005")).after_fill(fill("0.5", "110", fee="0.0005"))
    )
    assert holding.qty == Decimal("0.999")
    assert holding.entry_price == Decimal(105)


def test_exit_prices_from_config_rounded_outwards() -> None:
    params = SymbolParams(take_profit_pct=Decimal(1), stop_loss_pct=Decimal(2))
    prices = exit_prices(Decimal("100.005"), params, RULES)
    assert prices.take_profit == Decimal("101.01")  # 101.00505 rounded up
    assert prices.stop_loss == Decimal("98.00")  # 98.0049 rounded down
    assert prices.stop_limit < prices.stop_loss


def test_exit_prices_proposal_on_wrong_side_is_ignored() -> None:
    params = SymbolParams(take_profit_pct=Decimal(1), stop_loss_pct=Decimal(1))
    prices = exit_prices(
        Decimal(100), params, RULES, EntryProtection(take_profit=Decimal(90), stop_loss=Decimal(120))
    )
    assert (prices.take_profit, prices.stop_loss) == (Decimal("101.00"), Decimal("99.00"))


def test_exit_prices_proposal_within_bounds_is_used() -> None:
    params = SymbolParams(take_profit_pct=Decimal(1), stop_loss_pct=Decimal(1))
    prices = exit_prices(
        Decimal(100), params, RULES, EntryProtection(take_profit=Decimal(103), stop_loss=Decimal("98.5"))
    )
    assert (prices.take_profit, prices.stop_loss) == (Decimal(103), Decimal("98.5"))


def test_exit_qty_never_exceeds_the_holding() -> None:
    assert exit_qty(Decimal("0.99987"), RULES) == Decimal("0.9998")
    assert exit_qty(Decimal("0.00005"), RULES) == Decimal(0)


def test_close_price_is_marketable_below_the_bid_and_never_below_a_tick() -> None:
    assert close_price(D(100), RULES) == D("99.50")
    assert close_price(D("0.01"), RULES) == D("0.01")


@pytest.mark.parametrize(
    ("bid", "rested_s", "new_price"),
    [
        ("100", 30.0, None),  # the bid takes it: it is filling, keep it
        ("99.50", 30.0, None),  # at the bid: still taken
        ("99", 0.5, None),  # below, but placed (or re-priced) too recently: re-pricing is bounded
        ("99", 1.0, "98.50"),  # below for long enough: at the new bid less the slippage
        ("90", 5.0, "89.55"),
    ],
)
def test_close_reprice_keeps_a_close_the_bid_takes_and_chases_one_it_fell_below(
    bid: str, rested_s: float, new_price: str | None
) -> None:
    decided = close_reprice(D("99.50"), D(bid), rested_s=rested_s, reprice_after_s=1.0, rules=RULES)

    assert decided == (D(new_price) if new_price is not None else None)


def test_close_reprice_never_raises_the_price_of_a_close() -> None:
    # A bid a hair below a close at one tick cannot price a lower close: nothing to gain by replacing it.
    assert close_reprice(D("0.01"), D("0.009"), rested_s=9.0, reprice_after_s=1.0, rules=RULES) is None


def test_size_entry_quantizes_down_to_lot_and_tick() -> None:
    size = size_entry(
        symbol="BTC/USDT",
        price=Decimal("60000.123"),
        params=SymbolParams(order_amount=Decimal(100)),
        rules=RULES,
        position_qty=Decimal(0),
        open_entry_qty=Decimal(0),
        free_quote=Decimal(1000),
        fee_rate=Decimal("0.002"),
    )
    assert size.price == Decimal("60000.12") and size.qty == Decimal("0.0016")


def test_size_entry_max_position_reached_refuses() -> None:
    params = SymbolParams(order_amount=Decimal(100), max_position_size=Decimal(150))
    with pytest.raises(OrderRefused, match="max_position_size"):
        size_entry(
            symbol="BTC/USDT",
            price=Decimal(100),
            params=params,
            rules=RULES,
            position_qty=Decimal("1.5"),
            open_entry_qty=Decimal(0),
            free_quote=Decimal(1000),
            fee_rate=Decimal(0),
        )


def test_size_entry_insufficient_balance_is_typed() -> None:
    with pytest.raises(InsufficientBalance, match="insufficient balance"):
        size_entry(
            symbol="BTC/USDT",
            price=Decimal(100),
            params=SymbolParams(order_amount=Decimal(100)),
            rules=RULES,
            position_qty=Decimal(0),
            open_entry_qty=Decimal(0),
            free_quote=Decimal(50),
            fee_rate=Decimal(0),
        )


def test_size_entry_below_min_notional_refuses() -> None:
    params = SymbolParams(order_amount=Decimal(3), max_position_size=Decimal(10))
    with pytest.raises(OrderRefused, match="minimum notional"):
        size_entry(
            symbol="BTC/USDT",
            price=Decimal(100),
            params=params,
            rules=RULES,
            position_qty=Decimal(0),
            open_entry_qty=Decimal(0),
            free_quote=Decimal(1000),
            fee_rate=Decimal(0),
        )


def test_refuse_rule_violations_names_the_venue_the_symbol_and_every_problem() -> None:
    refuse_rule_violations("binance", "BTC/USDT", RULES, Decimal("0.001"), Decimal("60000.01"))
    with pytest.raises(OrderRefused, match=r"^binance BTC/USDT: price 60000\.001 .*; quantity 0\.00001 "):
        refuse_rule_violations("binance", "BTC/USDT", RULES, Decimal("0.00001"), Decimal("60000.001"))


@pytest.mark.parametrize(
    ("qty", "price", "dust"),
    [
        ("0.00009", "60000", True),  # below the lot step and the minimum quantity
        ("0.0000312", "60000", True),  # what a base-asset fee leaves
        ("0.0001", "40000", True),  # 4 USDT: below the minimum order value
        ("0.00019", "30000", True),  # 0.0001 sellable, worth 3 USDT
        ("0.0001", "60000", False),  # 6 USDT: sellable
        ("0.00019", "60000", False),  # 0.0001 sellable (the rest rides along later), worth 6 USDT
    ],
)
def test_is_dust_uses_every_venue_minimum(qty: str, price: str, dust: bool) -> None:
    assert is_dust(Decimal(qty), RULES, Decimal(price)) is dust


@pytest.mark.parametrize(
    ("held", "covered", "price", "short"),
    [
        ("0.0100", "0.0100", "60000", False),  # covered whole
        ("0.01009", "0.0100", "60000", False),  # below the lot step: rides along with the next exit
        ("0.0101", "0.0100", "40000", False),  # one step uncovered, worth 4 USDT: below the minimum
        ("0.0101", "0.0100", "60000", True),  # one step worth 6 USDT: an order of its own would be valid
        ("0.0102", "0.0100", "30000", True),  # two remainders of 3 USDT each, together worth 6 USDT
        ("0.0100", "0.0102", "60000", False),  # nothing is left uncovered
    ],
)
def test_exit_falls_short_once_the_uncovered_part_is_worth_a_minimum_order(
    held: str, covered: str, price: str, short: bool
) -> None:
    assert exit_falls_short(D(held), D(covered), RULES, D(price)) is short


@pytest.mark.parametrize(
    ("held", "offered", "left"),
    [
        ("0.01004", "0.0100", "0.00004"),  # the part below the step the close could not offer
        ("0.0100", "0.0100", "0"),  # it sells all it holds
        ("0.0102", "0.0100", "0"),  # a step and more: not the close's rounding, its holder keeps it
        ("0.0100", "0.0102", "0"),  # offering more than is known held leaves nothing
    ],
)
def test_close_remainder_is_the_part_below_the_lot_step_the_close_leaves(
    held: str, offered: str, left: str
) -> None:
    assert close_remainder(D(held), D(offered), RULES) == D(left)


@pytest.mark.parametrize(
    ("dust", "remainders", "price", "sellable"),
    [
        ("0.00009", (), "60000", False),  # alone: below the lot step
        ("0.00009", ("0.00004",), "60000", True),  # with one close's remainder: a step worth 6 USDT
        ("0.00007", ("0.00002", "0.00001"), "60000", True),  # the remainders of two closes
        ("0.00009", ("0.00004",), "40000", False),  # a step worth 4 USDT: below the minimum order value
        ("0.00005", ("0.00004",), "60000", False),  # still below the lot step together
    ],
)
def test_dust_beside_closes_is_sellable_once_the_closes_remainders_make_a_minimum_order(
    dust: str, remainders: tuple[str, ...], price: str, sellable: bool
) -> None:
    assert dust_beside_closes_sellable(D(dust), [D(r) for r in remainders], RULES, D(price)) is sellable


Close = tuple[str, str]


@pytest.mark.parametrize(
    ("dust", "closes", "beside", "price", "joined", "taken"),
    [
        # What two ended lots left (0.00005 each): worth 6 USDT together, one lot at once.
        ("0.0001", (), "0", "60000", "0.0001", ()),
        ("0.0001", (), "0", "40000", None, ()),  # 4 USDT: below the minimum order value, kept
        # With the parts below the step resting closes leave (held, offered): taken over by the lot.
        (
            "0.00007",
            (("0.01002", "0.0100"), ("0.02001", "0.0200")),
            "0",
            "60000",
            "0.0001",
            ("0.00002", "0.00001"),
        ),
        # A close leaving a step or more leaves it to its holder: nothing to take, the dust stays alone.
        ("0.00009", (("0.0102", "0.0100"),), "0", "60000", None, ()),
        # What a closing position holds beside its close counts; the lot's arming takes it, not this.
        ("0.00006", (("0.0100", "0.0100"),), "0.00004", "60000", "0.00006", ("0",)),
        ("0.00005", (("0.01004", "0.0100"),), "0", "60000", None, ()),  # below the step together
    ],
)
def test_join_dust_makes_one_lot_of_dust_and_every_closes_remainder_once_they_are_worth_an_order(
    dust: str, closes: tuple[Close, ...], beside: str, price: str, joined: str | None, taken: tuple[str, ...]
) -> None:
    closing = [(D(held), D(offered)) for held, offered in closes]
    lot = join_dust(D(dust), closing, RULES, D(price), beside=D(beside))

    if joined is None:
        assert lot is None
    else:
        assert lot is not None and lot.qty == D(joined) and lot.taken == tuple(D(t) for t in taken)


def test_qty_text_is_plain_digits_at_the_lot_precision() -> None:
    assert qty_text(Decimal("1E-7"), RULES) == "0.0000001"
    assert qty_text(Decimal("3.0E-7"), RULES) == "0.0000003"
    assert qty_text(Decimal("0.0117"), RULES) == "0.0117"
    assert qty_text(Decimal("1E+1"), RULES) == "10.0000"


def test_simulation_found_fill_in_flight_adds_only_its_share_the_ledger_lacks() -> None:
    fill = FillInFlight(
        client_order_id=entry_id(1), cum_qty=D(2), gross_qty=D(1), net_qty=D("0.999"), ts_event=10
    )

    assert fill.unapplied_net(D(0)) == 0
    assert fill.unapplied_net(D(1)) == D("0.999")
    assert fill.unapplied_net(D(2)) == D("0.999")  # never more than this report added
    assert fill.unapplied_net(D("0.5")) == D("0.4995")


def test_simulation_found_growth_credit_never_absorbs_a_fill_it_cannot_hold() -> None:
    from_rest = GrowthCredit(qty=D("0.5"), as_of_ns=100, from_ledger=False)
    from_ledger = GrowthCredit(qty=D("0.5"), as_of_ns=100, from_ledger=True)

    assert from_rest.may_include(90, applied_by_ledger=False)
    assert not from_rest.may_include(110, applied_by_ledger=True)  # traded after the read
    assert not from_ledger.may_include(90, applied_by_ledger=False)  # the ledger had not heard of it
    assert from_ledger.may_include(90, applied_by_ledger=True)


def test_simulation_found_growth_credit_is_used_up_and_rounding_is_no_further_fill() -> None:
    credit = GrowthCredit(qty=D("0.5"), as_of_ns=100, from_ledger=False)

    counted, rest = credit.use(D("0.3"), lot_step=D("0.001"))
    assert counted == D("0.3") and rest is not None and rest.qty == D("0.2")
    counted, rest = rest.use(D("0.1995"), lot_step=D("0.001"))
    assert counted == D("0.1995") and rest is None


def test_simulation_found_growth_credit_goes_with_the_dust_it_is_in() -> None:
    credit = GrowthCredit(qty=D("0.006"), as_of_ns=100, from_ledger=True)

    kept = credit.carried(D("0.0060005"))  # the whole holding is kept as dust: all of the credit with it
    assert kept == credit
    assert credit.carried(D("0.004")).qty == D("0.004")  # never more than the dust holds

    # Joined to a holding that has a credit of its own: either may hold a later report.
    other = GrowthCredit(qty=D("0.5"), as_of_ns=200, from_ledger=False)
    joined = credit.carried(D("0.0060005"), other)
    assert joined == GrowthCredit(qty=D("0.506"), as_of_ns=200, from_ledger=False)


def test_close_price_for_below_min_notional_is_raised_to_the_lowest_valid_tick_at_or_below_the_bid() -> None:
    rules = RULES.model_copy(update={"min_notional": Decimal("98.3")})
    price = close_price_for(D("98.80"), D("0.999799"), rules)
    assert price == D("98.32")
    assert price is not None and D("0.999799") * price >= rules.min_notional


def test_close_price_for_no_valid_limit_at_or_below_the_bid_is_none() -> None:
    rules = RULES.model_copy(update={"min_notional": Decimal("98.3")})
    assert close_price_for(D("98.00"), D("0.999799"), rules) is None


def test_close_price_for_invariant_valid_order_marketable_or_none() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        tick = D(rng.choice(["0.00000001", "0.01", "0.5", "1", "5"]))
        lot = D(rng.choice(["1", "0.001", "0.00000001"]))
        rules = SymbolRules(
            symbol="BTC/USDT",
            tick_size=tick,
            lot_step=lot,
            min_qty=lot,
            min_notional=D(rng.choice(["0", "1", "5", "10", "98.3"])),
        )
        bid = tick * rng.randint(1, 10**6)
        qty = lot * rng.randint(1, 10**5)
        price = close_price_for(bid, qty, rules)
        if price is None:
            assert rule_violations(rules, qty, quantize_down(bid, tick))
        else:
            assert price <= bid and not rule_violations(rules, qty, price)
