"""What every real venue's adapter makes of its local fake's fault switches (the paper venue has faults
of its own and is skipped): a lost order response is an unknown outcome that a lookup by client order
id resolves without a duplicate; a rate limit pauses the venue's budget, which then refuses locally; a
server error on a submit is of unknown outcome (unless the venue's answer says nothing ran), and on a
read a retryable unavailability."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autohedge.core.errors import OutcomeUnknown, RateLimited, VenueUnavailable
from autohedge.core.types import OrderStatus, Side
from tests.contract.conftest import FakeServer, VenueUnderTest
from tests.contract.test_exchange_contract import limit

D = Decimal


@pytest.fixture
def fake(venue: VenueUnderTest) -> FakeServer:
    if venue.fake is None:
        pytest.skip(f"{venue.name} has no fake server")
    venue.push_quote(venue.symbol, D(50000), D(50001))
    venue.exchange.symbol_rules(venue.symbol)  # the rules are loaded before any fault is switched on
    return venue.fake


def test_contract_lost_response_is_outcome_unknown_and_the_order_is_found_not_duplicated(
    venue: VenueUnderTest, fake: FakeServer
) -> None:
    resting = limit(venue, "ct-lost", Side.BUY, D("0.01"), D(49000))
    fake.faults.lose_next_order_response = True
    with pytest.raises(OutcomeUnknown):
        venue.exchange.submit_order(resting)
    assert venue.exchange.get_order(venue.symbol, client_order_id="ct-lost").status is OrderStatus.NEW
    assert len(fake.engine.all_orders()) == 1


def test_contract_rate_limit_pauses_the_venue_and_the_budget_stops_sending(
    venue: VenueUnderTest, fake: FakeServer
) -> None:
    fake.faults.rate_limit_after = len(fake.requests())
    with pytest.raises(RateLimited):
        venue.exchange.open_orders(venue.symbol)
    assert venue.exchange.request_budget.wait_s(priority=True) > 0
    sent = len(fake.requests())
    with pytest.raises(RateLimited):
        venue.exchange.open_orders(venue.symbol)
    assert len(fake.requests()) == sent  # the budget refused locally: nothing more was sent


def test_contract_server_error_is_unknown_on_submit_and_retryable_on_read(
    venue: VenueUnderTest, fake: FakeServer
) -> None:
    resting = limit(venue, "ct-5xx", Side.BUY, D("0.01"), D(49000))
    fake.faults.server_errors = 2
    expected = VenueUnavailable if venue.server_error_means_not_run else OutcomeUnknown
    with pytest.raises(expected):
        venue.exchange.submit_order(resting)
    with pytest.raises(VenueUnavailable):
        venue.exchange.open_orders(venue.symbol)
    assert fake.engine.all_orders() == ()  # the fake refused both before the engine saw them
