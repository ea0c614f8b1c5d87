"""OrderSenderActor: sends the executor's entries to the venue, one blocking round trip at a time.

A few of them run per venue (``executor.submit_workers``), so entries for independent symbols that
are decided on the same tick reach the venue concurrently over the transport's pooled keep-alive
connections, instead of queueing behind each other's round trips on the executor's thread. A sender
decides nothing: the executor has already sized, reserved and journaled the entry, and the venue's
answer goes back to it as ``OrderSent`` (never retried here, so an entry is never sent twice). The
venue's budget is spent at the door of every request under the budget's lock, so concurrent senders
never exceed it, and a refusal there comes back as ``REFUSED`` like any other pushback.
"""

from __future__ import annotations

from loguru import logger

from autohedge.actors.base import ActorContext, SupervisedActor
from autohedge.actors.protocol import OrderSent, SendOrder
from autohedge.core.actor_names import EXECUTOR, ActorName
from autohedge.core.errors import OrderRefused, VenueError
from autohedge.core.messages import EntryProtection, OrderRequest, OrderSnapshot
from autohedge.core.ports import Exchange
from autohedge.core.sending import SendOutcome, outcome_of_error

__all__ = ["OrderSenderActor", "order_sent", "send_order"]


def order_sent(
    request: OrderRequest,
    protection: EntryProtection | None,
    sender: ActorName | None,
    snapshot: OrderSnapshot | None,
    error: BaseException | None,
) -> OrderSent:
    """The answer to one sent order as the executor reads it: the acknowledged order, or the error whose
    type says what the entry does next. Pure."""
    if snapshot is not None:
        return OrderSent(request, protection, sender, SendOutcome.PLACED, snapshot=snapshot)
    assert error is not None  # one or the other, always
    return OrderSent(request, protection, sender, outcome_of_error(error), error=error)


def send_order(
    exchange: Exchange, request: OrderRequest, protection: EntryProtection | None, sender: ActorName | None
) -> OrderSent:
    """Send ``request`` once and describe the answer. Runs on the calling thread (a sender's, or the
    executor's when no sender is running). Never raises for what the venue or the way to it does."""
    try:
        snapshot = exchange.submit_order(request)
    except (VenueError, OrderRefused) as exc:
        return order_sent(request, protection, sender, None, exc)
    except Exception as exc:  # noqa: BLE001 - a bug reading the answer: the order may exist, so ask for it
        logger.exception("{}: unexpected error sending {}", sender or EXECUTOR, request.client_order_id)
        return order_sent(request, protection, sender, None, exc)
    return order_sent(request, protection, sender, snapshot, None)


class OrderSenderActor(SupervisedActor):
    def __init__(self, ctx: ActorContext, *, exchange: Exchange) -> None:
        """Runs in the creating thread (the supervisor's)."""
        super().__init__(ctx)
        self._exchange = exchange

    def on_send_order(self, message: SendOrder) -> None:
        """Sender thread: one round trip; the answer goes to the executor now running (a restarted one
        finds the entry by its client id)."""
        sent = send_order(self._exchange, message.request, message.protection, self.ctx.name)
        self.ctx.directory.tell(EXECUTOR, sent)
