import pytest
from hypothesis import given
from hypothesis import strategies as st

from autohedge.core.actor_names import (
    EXECUTOR,
    JOURNAL,
    MONITOR,
    SUPERVISOR,
    ActorKind,
    feed_name,
    kind_of,
    order_sender_name,
    parse_actor_name,
    strategy_name,
    user_stream_name,
)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (SUPERVISOR, ActorKind.SUPERVISOR),
        (EXECUTOR, ActorKind.EXECUTOR),
        (MONITOR, ActorKind.MONITOR),
        (JOURNAL, ActorKind.JOURNAL),
    ],
)
def test_one_per_process_names_have_no_subject(name: str, kind: ActorKind) -> None:
    assert parse_actor_name(name) == (kind, "")


@given(st.text(min_size=1, max_size=20))
def test_per_subject_names_round_trip(subject: str) -> None:
    assert parse_actor_name(feed_name(subject)) == (ActorKind.FEED, subject)
    assert parse_actor_name(strategy_name(subject)) == (ActorKind.STRATEGY, subject)
    assert parse_actor_name(user_stream_name(subject)) == (ActorKind.USER_STREAM, subject)


def test_text_forms() -> None:
    assert strategy_name("BTC/USDT") == "strategy:BTC/USDT"
    assert feed_name("binance") == "feed:binance"
    assert kind_of("strategy:BTC/USDT") is ActorKind.STRATEGY
    assert order_sender_name("binance", 2) == "order_sender:binance.2"
    assert kind_of(order_sender_name("binance", 0)) is ActorKind.ORDER_SENDER


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("router", "unknown kind"),
        ("feed", "needs a subject"),
        ("executor:x", "has no subject"),
        ("feed:", "empty"),
    ],
)
def test_parse_names_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_actor_name(text)


def test_a_name_needs_its_subject() -> None:
    with pytest.raises(ValueError, match="needs a subject"):
        strategy_name("")
