"""The wake-up budget: per batch at most one wake per strategy and one for the monitor, newest wins."""

from __future__ import annotations

from autohedge.core.conflate import LatestSlots, WatchedSlots


def test_a_batch_wakes_each_idle_key_once_and_later_batches_wait_for_the_take() -> None:
    slots: LatestSlots[int] = LatestSlots()

    assert slots.offer_batch({"A": 1, "B": 2}) == ["A", "B"]
    assert slots.offer_batch({"A": 3, "B": 4}) == []  # both still pending: no second wake
    assert slots.conflated == 2
    assert slots.take("A") == 3  # the receiver acts on the newest

    assert slots.offer_batch({"A": 5, "B": 6}) == ["A"]  # only A's receiver had taken
    assert slots.take("B") == 6
    assert slots.take("B") is None
    assert slots.peek("B") == 6  # the newest stays readable after the take


def test_offer_and_offer_batch_share_the_pending_mark() -> None:
    slots: LatestSlots[int] = LatestSlots()
    assert slots.offer("A", 1) is True
    assert slots.offer_batch({"A": 2}) == []
    slots.reset("A")  # the told message was lost
    assert slots.offer_batch({"A": 3}) == ["A"]


def test_unwatched_keys_never_wake_the_receiver_but_keep_their_newest_value() -> None:
    slots: WatchedSlots[int] = WatchedSlots()

    assert slots.offer_batch({"A": 1, "B": 2}) is False
    assert slots.take_all() == {}
    assert slots.peek("A") == 1
    assert slots.watch("A") == 1  # a new holding starts from the newest quote seen so far
    assert slots.watch("C") is None


def test_one_wake_until_the_receiver_takes_and_it_takes_the_newest_of_each_watched_key() -> None:
    slots: WatchedSlots[int] = WatchedSlots()
    slots.watch("A")
    slots.watch("B")

    assert slots.offer_batch({"A": 1, "X": 9}) is True
    assert slots.offer_batch({"A": 2, "B": 3}) is False  # a wake is outstanding
    assert slots.offer_batch({"B": 4}) is False
    assert slots.conflated == 2
    assert slots.take_all() == {"A": 2, "B": 4}

    assert slots.offer_batch({"X": 10}) is False  # unwatched moves do not wake
    assert slots.offer_batch({"B": 5}) is True
    assert slots.take_all() == {"B": 5}
    assert slots.take_all() == {}


def test_a_lost_wake_is_told_again_on_the_next_offer() -> None:
    slots: WatchedSlots[int] = WatchedSlots()
    slots.watch("A")
    assert slots.offer_batch({"A": 1}) is True
    slots.wake_lost()  # the receiver was not running
    assert slots.offer_batch({"A": 2}) is True
    assert slots.take_all() == {"A": 2}


def test_unwatch_drops_the_pending_value_and_reset_forgets_every_watch() -> None:
    slots: WatchedSlots[int] = WatchedSlots()
    slots.watch("A")
    slots.watch("B")
    assert slots.offer_batch({"A": 1, "B": 2}) is True
    slots.unwatch("A")
    assert slots.take_all() == {"B": 2}

    slots.reset()  # a new receiver incarnation: it watches what it holds
    assert slots.watching() == frozenset()
    assert slots.offer_batch({"B": 3}) is False
    assert slots.peek("B") == 3


def test_watched_slots_take_all_gives_the_keys_in_the_order_offered() -> None:
    # The strategy runner and the monitor act on what ``take_all`` gives in its order (two symbols' entries
    # reach the venue in it): in a set's order, which follows the process's string hashing, two runs of
    # one simulation seed took different paths.
    slots: WatchedSlots[int] = WatchedSlots()
    keys = [f"S{n}/USDT" for n in range(32)]
    for key in keys:
        slots.watch(key)
    slots.offer_batch(dict.fromkeys(reversed(keys[::2]), 1))
    slots.offer_batch(dict.fromkeys(keys, 2))

    taken = slots.take_all()

    assert list(taken) == [*reversed(keys[::2]), *keys[1::2]]
    assert set(taken.values()) == {2}
