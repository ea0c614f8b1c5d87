"""Planted defects: executor and monitor doubles that break one promise each (proving the checker)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from autohedge.actors.executor import ExecutorActor, TrackedEntry
from autohedge.actors.monitor import PositionMonitorActor, TrackedPosition
from autohedge.actors.protocol import OrderSent
from autohedge.actors.sender import send_order
from autohedge.core.client_ids import ClientId
from autohedge.core.messages import PositionSnapshot, Signal
from autohedge.core.sending import SendOutcome
from autohedge.core.types import OrderPurpose

__all__ = ["ExitNeverPlaced", "ExitSizedByOrderedQty", "RaisesOnRateLimited", "ResendsAfterUnknown"]


class ExitNeverPlaced(PositionMonitorActor):
    """Tracks positions but never places their exits."""

    def _arm(self, pos: TrackedPosition) -> None:
        pos.exit_ids = ()


class ResendsAfterUnknown(ExecutorActor):
    """On an unknown outcome, sends the entry again under a new client id instead of asking."""

    def _sent(self, entry: TrackedEntry, signal: Signal | None, sent: OrderSent) -> None:
        if sent.outcome is SendOutcome.UNKNOWN:
            coid = ClientId(self._prefix, OrderPurpose.ENTRY, self._keys.next_key()).encode()
            request = sent.request.model_copy(update={"client_order_id": coid})
            sent = send_order(self._exchange, request, sent.protection, None)
            entry = replace(entry, client_order_id=coid)
        super()._sent(entry, signal, sent)


class _OrderedQtyView:
    """The exchange, except that positions report the quantity ordered (before the fee in base)."""

    def __init__(self, inner: Any, fee_rate: Decimal) -> None:
        self._inner = inner
        self._fee_rate = fee_rate

    def positions(self, symbols: Any) -> tuple[PositionSnapshot, ...]:
        return tuple(
            p.model_copy(update={"qty": (p.qty / (1 - self._fee_rate)).quantize(Decimal("0.000001"))})
            for p in self._inner.positions(symbols)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ExitSizedByOrderedQty(PositionMonitorActor):
    """Sizes exits by the quantity ordered instead of the quantity held (fees in base ignored)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._exchange = _OrderedQtyView(self._exchange, self._config.paper.fee_rate)

    def on_order_filled(self, fill: Any) -> None:
        super().on_order_filled(fill.model_copy(update={"fee": Decimal(0)}))


class RaisesOnRateLimited(ExecutorActor):
    """Reads the balances on every signal and lets the venue's pushback escape the handler."""

    def on_signal(self, signal: Signal) -> None:
        self._exchange.balances()
        super().on_signal(signal)
