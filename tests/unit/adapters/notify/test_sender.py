"""Notifications through apprise to a local HTTP receiver on 127.0.0.1 (``json://``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from autohedge.adapters.notify.sender import NotificationSender
from autohedge.core.metrics import Metrics
from autohedge.core.notify import Notification, NotifyLevel, parse_url_list
from tests.actors.harness import wait_for
from tests.fakes.notify_receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _note(title: str) -> Notification:
    return Notification(title, "body text", NotifyLevel.WARNING)


def test_sender_delivers_to_a_local_json_receiver(receiver: Receiver) -> None:
    metrics = Metrics()
    sender = NotificationSender([SecretStr(receiver.url)], metrics=metrics, timeout_s=5)
    try:
        sender.submit(_note("autohedge: kill switch"))
        sender.submit(lambda: Notification("autohedge: daily summary", "3 trades", NotifyLevel.INFO))

        wait_for(lambda: metrics.get("notifications_sent") == 2, what="two notifications")
    finally:
        sender.close()
    assert [(b["title"], b["type"]) for b in receiver.bodies] == [
        ("autohedge: kill switch", "warning"),
        ("autohedge: daily summary", "info"),
    ]


def test_sender_failing_target_is_counted_and_the_next_one_still_goes(receiver: Receiver) -> None:
    metrics = Metrics()
    sender = NotificationSender([SecretStr(receiver.url)], metrics=metrics, timeout_s=5)
    try:
        receiver.status = 500
        sender.submit(_note("first"))
        wait_for(lambda: metrics.get("notifications_failed") == 1, what="a counted failure")

        def broken() -> Notification:
            raise RuntimeError("summary source broken")

        sender.submit(broken)
        wait_for(lambda: metrics.get("notifications_failed") == 2, what="a counted exception")
        receiver.status = 200
        sender.submit(_note("second"))
        wait_for(lambda: metrics.get("notifications_sent") == 1, what="delivery after failures")
    finally:
        sender.close()


def test_sender_slow_target_never_blocks_the_caller_and_a_full_queue_drops(receiver: Receiver) -> None:
    metrics = Metrics()
    sender = NotificationSender([SecretStr(receiver.url)], metrics=metrics, timeout_s=15, queue_size=2)
    receiver.hold.clear()
    try:
        sender.submit(_note("held"))
        wait_for(receiver.holding.is_set, what="the receiver holding the first request")

        accepted = [sender.submit(_note(f"queued {i}")) for i in range(3)]  # returns at once

        assert accepted == [True, True, False]
        assert metrics.get("notifications_dropped") == 1
        receiver.hold.set()
        wait_for(lambda: metrics.get("notifications_sent") == 3, what="the queue drained")
    finally:
        receiver.hold.set()
        sender.close()


def test_sender_rejects_an_unknown_url_naming_its_position() -> None:
    with pytest.raises(ValueError, match=r"notify.urls\[1\]"):
        NotificationSender(
            [SecretStr("json://127.0.0.1:1/x"), SecretStr("not a url")], metrics=Metrics(), timeout_s=1
        )


def test_sender_url_list_from_the_environment_splits_on_spaces_and_commas() -> None:
    urls = parse_url_list("json://127.0.0.1:1/a, json://127.0.0.1:2/b  ")

    assert [u.get_secret_value() for u in urls] == ["json://127.0.0.1:1/a", "json://127.0.0.1:2/b"]
    assert "127.0.0.1" not in repr(urls)
