"""Sends notifications through apprise (one library for chat apps, e-mail, push services, webhooks)
from a worker thread of its own: the caller only enqueues. A slow or failing target delays only this
thread; a full queue drops (and counts) rather than blocks; nothing raised here reaches an actor.

Target URLs often hold tokens: they are kept as secrets and never logged (apprise's own logger is
silenced below CRITICAL for the same reason; failures are logged here without the URL).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

import apprise
from loguru import logger
from pydantic import SecretStr

from autohedge.core.metrics import Metrics
from autohedge.core.notify import Notification, NotifyLevel

__all__ = ["NotificationSender"]

_TYPES = {
    NotifyLevel.INFO: apprise.NotifyType.INFO,
    NotifyLevel.WARNING: apprise.NotifyType.WARNING,
    NotifyLevel.FAILURE: apprise.NotifyType.FAILURE,
}

Job = Notification | Callable[[], Notification | None]
"""A notification, or a function building one on the sender's thread (e.g. a daily summary)."""


class NotificationSender:
    def __init__(
        self, urls: Sequence[SecretStr], *, metrics: Metrics, timeout_s: float = 10.0, queue_size: int = 100
    ) -> None:
        """Runs in the creating thread. Raises ValueError naming the position of a URL apprise rejects."""
        logging.getLogger("apprise").setLevel(logging.CRITICAL)
        self._apprise = apprise.Apprise()
        for index, url in enumerate(urls):
            if not self._apprise.add(url.get_secret_value()):
                raise ValueError(f"notify.urls[{index}] is not a notification URL apprise understands")
        for server in self._apprise:
            # Bound every send: a target that never answers must not hold the queue for long.
            for name in ("socket_connect_timeout", "socket_read_timeout"):
                if hasattr(server, name):
                    setattr(server, name, timeout_s)
        self._metrics = metrics
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> bool:
        """Any thread; never blocks. False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._metrics.inc("notifications_dropped")
            return False
        return True

    def _run(self) -> None:
        """The sender's thread."""
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                notification = job() if callable(job) else job
                if notification is None:
                    continue
                sent = bool(
                    self._apprise.notify(
                        title=notification.title,
                        body=notification.body,
                        notify_type=_TYPES[notification.level],
                    )
                )
            except Exception as exc:  # noqa: BLE001 - no notifier failure may end this thread
                sent = False
                logger.warning("notification failed: {}: {}", type(exc).__name__, exc)
            if sent:
                self._metrics.inc("notifications_sent")
            else:
                self._metrics.inc("notifications_failed")
                logger.warning("a notification could not be delivered to every target")

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (up to ``timeout_s``), then end the thread. Caller's thread."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout=timeout_s)
