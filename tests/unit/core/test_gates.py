import pytest
from hypothesis import given
from hypothesis import strategies as st

from autohedge.core.gates import KILL_SWITCH, STARTUP, STOPPED, Gate, GateKind, start_refusal

subjects = st.text(min_size=1, max_size=20)


@st.composite
def gates(draw: st.DrawFn) -> Gate:
    kind = draw(st.sampled_from(GateKind))
    return Gate(kind, draw(subjects) if kind.has_subject else "")


@given(gates())
def test_encode_decode_round_trip(gate: Gate) -> None:
    assert Gate.decode(gate.encode()) == gate


def test_text_forms() -> None:
    assert Gate.parked("ETH/USDT").encode() == "parked:ETH/USDT"
    assert Gate.venue_stale("binance").encode() == "venue_stale:binance"
    assert KILL_SWITCH.encode() == "kill_switch"
    assert str(STARTUP) == "startup"


def test_a_parked_gate_blocks_only_its_symbol() -> None:
    parked = Gate.parked("ETH/USDT")
    assert parked.blocks("ETH/USDT") and not parked.blocks("BTC/USDT")
    assert KILL_SWITCH.blocks("BTC/USDT") and Gate.venue_degraded("binance").blocks("BTC/USDT")


def test_which_gates_degrade_health() -> None:
    assert Gate.venue_stale("x").degrades_health and Gate.venue_degraded("x").degrades_health
    assert not KILL_SWITCH.degrades_health and not Gate.parked("BTC/USD").degrades_health


@pytest.mark.parametrize(
    ("text", "why"),
    [("paused", "unknown kind"), ("parked", "needs a subject"), ("parked:", "empty subject")],
)
def test_decode_names_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Gate.decode(text)


def test_a_plain_gate_takes_no_subject() -> None:
    with pytest.raises(ValueError, match="takes no subject"):
        Gate(GateKind.KILL_SWITCH, "binance")


def test_start_refusal_names_the_kill_switch_and_a_stop_begun() -> None:
    assert start_refusal({}, shutting_down=False) is None
    assert start_refusal({STOPPED: "by the operator"}, shutting_down=False) is None
    refusal = start_refusal({KILL_SWITCH: "monitor crash loop: boom"}, shutting_down=False)
    assert refusal is not None and "kill switch" in refusal and "monitor crash loop: boom" in refusal
    stopping = start_refusal({}, shutting_down=True)
    assert stopping is not None and "stopping" in stopping
