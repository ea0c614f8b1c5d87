"""The monitor plans protection per symbol: the venue's OCO where it holds one for that product (as
Coinbase's bracket is held only for products that accept it), a TP limit with a guarded stop elsewhere."""

from __future__ import annotations

from collections.abc import Callable

from tests.actors.harness import Harness, wait_for


def test_oco_only_for_the_symbols_the_venue_holds_it_for(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    h.paper.capabilities = h.paper.capabilities.model_copy(update={"oco_symbols": frozenset({"BTC/USDT"})})
    h.start()
    h.trigger_buy("BTC/USDT")
    h.trigger_buy("ETH/USDT")
    wait_for(lambda: h.is_protected("BTC/USDT") and h.is_protected("ETH/USDT"), what="both protected")

    btc, eth = h.open_sells("BTC/USDT"), h.open_sells("ETH/USDT")
    assert len(btc) == 2 and len({o.list_id for o in btc}) == 1 and btc[0].list_id is not None
    assert len(eth) == 1 and eth[0].list_id is None
    assert h.held("BTC/USDT").oco and not h.held("ETH/USDT").oco
