"""The promise, checked: a pure invariant checker fed by the simulator after every step.

It sees both sides: the venue's books (``BookView`` per symbol: what is held, what resting sells
cover, the stop level) and what the engine did (order submits, crashes, escalations, inbox depths,
threads and memory across process restarts). It keeps no clock of its own: every call carries the
simulated time (ns) and the step number, so a violation names the step to replay from.

Kinds of violation (``KINDS``):

* ``unprotected``: a sellable holding not covered by resting exits (beyond dust) for longer than
  ``max_unprotected_s`` (time inside a venue-imposed Retry-After or ban window is excepted, and
  summed separately);
* ``duplicate_intent``: two orders on the venue for one intent: a buy sent again while an earlier
  submit of the same symbol had an unknown outcome and the venue had accepted it, never asked about
  (nor its event handled by the sender);
  or more open entries for a symbol than ``max_open_entries``;
* ``oversell``: a sell asked for more than is held (net of other resting sells);
* ``stop_not_honoured``: the bid crossed a held position's stop and, for longer than ``stop_budget_s``,
  what is still held was neither sold nor covered by sells resting at a price the market takes (at or
  below the bid): a close left resting above a falling bid counts as no cover, and a partial sale does
  not end the watch (time inside a Retry-After window excepted; a re-armed stop below the bid, after
  the position grew at a lower price, replaces the crossed one);
* ``pushback_crash``: an actor crashed on venue pushback (rate limit, ban, timeout, outcome unknown);
* ``pushback_escalation``: the kill switch tripped or a symbol was parked after pushback crashes;
* ``actor_crash``: an actor crashed on something nobody injected;
* ``inbox_growth``: an inbox held more than ``max_inbox_depth`` messages;
* ``restart_growth``: threads or memory grew across process restarts;
* ``stalled``: the actor tree did not become idle (a handler blocked or looped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from autohedge.core.actor_names import ActorKind, parse_actor_name
from autohedge.core.clock import NS_PER_S

__all__ = [
    "KINDS",
    "BookView",
    "CheckerLimits",
    "InvariantChecker",
    "RestingSell",
    "Violation",
    "exposure_at",
]

KINDS = (
    "unprotected",
    "duplicate_intent",
    "oversell",
    "stop_not_honoured",
    "pushback_crash",
    "pushback_escalation",
    "actor_crash",
    "inbox_growth",
    "restart_growth",
    "stalled",
)
_ZERO = Decimal(0)


def _symbol_of(actor: str) -> str:
    """The symbol of a strategy actor's name; "" for every other actor."""
    kind, subject = parse_actor_name(actor)
    return subject if kind is ActorKind.STRATEGY else ""


@dataclass(frozen=True)
class Violation:
    kind: str
    symbol: str
    t_s: float
    """Simulated seconds since the start of the simulation."""
    explanation: str
    step: int

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "symbol": self.symbol,
            "t_s": round(self.t_s, 3),
            "explanation": self.explanation,
            "step": self.step,
        }


@dataclass(frozen=True)
class RestingSell:
    """One resting sell on the venue: what the market may take of it at a bid."""

    group: str
    """The order list it belongs to (the legs of one OCO sell the same quantity once), else its own id."""
    price: Decimal
    """Its limit price."""
    remaining_qty: Decimal
    stop_price: Decimal | None = None
    """A stop-limit leg sells only once the bid is at or below its stop."""

    def takeable_at(self, bid: Decimal) -> Decimal:
        """What of it the market can take at ``bid`` (0 while it rests above the bid or untriggered)."""
        triggered = self.stop_price is None or bid <= self.stop_price
        return self.remaining_qty if triggered and self.price <= bid else _ZERO


def takeable_qty(sells: Iterable[RestingSell], bid: Decimal) -> Decimal:
    """What resting sells the market can take at ``bid`` cover, an order list counted once."""
    by_group: dict[str, Decimal] = {}
    for sell in sells:
        by_group[sell.group] = max(by_group.get(sell.group, _ZERO), sell.takeable_at(bid))
    return sum(by_group.values(), _ZERO)


@dataclass(frozen=True)
class BookView:
    """One symbol on the venue, at one instant."""

    symbol: str
    sellable_qty: Decimal
    """The held quantity a sell may ask for (lot step and minimum quantity applied); 0 = nothing held.
    What is no more than the dust is no exposure either."""
    covered_qty: Decimal
    """Remaining quantity of resting sells (an OCO list counted once)."""
    stop_price: Decimal | None
    """The stop of the resting stop-loss leg, if any."""
    sold_qty: Decimal
    """Sell quantity filled so far (grows only)."""
    open_entries: int
    dust_qty: Decimal = _ZERO
    """An uncovered remainder this small is below the venue's minimum order: not an exposure (while no
    bid is known, or without ``dust_at``)."""
    sells: tuple[RestingSell, ...] = ()
    """The resting sells one by one: after a stop was crossed only those the market can take count."""
    dust_at: Callable[[Decimal], Decimal] | None = None
    """The dust at a bid. The minimum order value is met at the price an exit asks, which follows the
    market: a remainder is judged again at every bid, never at one since gone (judged at a bid the
    market left a second before, 0.000020 BTC looked sellable while no exit of it was valid:
    simulation, config.yaml seed 133)."""

    def uncovered_at(self, bid: Decimal | None) -> Decimal:
        """What of the holding resting sells leave uncovered beyond the dust at ``bid`` (None: no bid
        known); 0 is the promise kept."""
        return exposure_at(self.sellable_qty, self.covered_qty, self.dust_qty, self.dust_at, bid)[2]


def exposure_at(
    held: Decimal,
    covered: Decimal,
    fixed_dust: Decimal,
    dust_at: Callable[[Decimal], Decimal] | None,
    bid: Decimal | None,
) -> tuple[Decimal, Decimal, Decimal]:
    """The promise's one definition of a symbol's exposure: (dust, sellable, uncovered) of a sellable
    holding ``held`` with ``covered`` in resting sells, at ``bid``. The dust is ``dust_at(bid)`` once a
    bid is known, else ``fixed_dust``; a holding no more than the dust is no exposure (sellable 0), and
    neither is an uncovered part no more than the dust (no exit of it alone would be valid): uncovered 0."""
    dust = fixed_dust
    if dust_at is not None and bid is not None and held > 0:
        dust = dust_at(bid)
    sellable = held if held > dust else _ZERO
    short = sellable - covered
    return dust, sellable, short if sellable > 0 and short > dust else _ZERO


@dataclass(frozen=True)
class CheckerLimits:
    max_unprotected_s: float
    stop_budget_s: float
    max_open_entries: int
    max_inbox_depth: int
    max_restart_growth_threads: int
    max_restart_growth_rss_mb: float


@dataclass
class _Exposure:
    since_ns: int
    accounted_ns: int
    excepted_ns: int = 0
    reported: bool = False
    violation: int = -1
    """Index of its violation in ``violations`` once reported: its explanation gets the whole length."""


@dataclass
class _StopWatch:
    stop: Decimal
    waiting_since_ns: int | None
    """Since when what is held has been neither sold nor covered by sells the market can take; None
    while it is (the guard is honoured)."""
    accounted_ns: int
    excepted_ns: int = 0
    reported: bool = False


@dataclass
class _SymbolState:
    exposure: _Exposure | None = None
    last_stop: Decimal | None = None
    held: Decimal = _ZERO
    """The book's sellable quantity, dust or not."""
    covered: Decimal = _ZERO
    fixed_dust: Decimal = _ZERO
    dust_at: Callable[[Decimal], Decimal] | None = None
    sellable: Decimal = _ZERO
    """What is held beyond the dust at the newest bid (0 when that is dust)."""
    sold: Decimal = _ZERO
    bid: Decimal | None = None
    stop_watch: _StopWatch | None = None
    dust: Decimal = _ZERO
    sells: tuple[RestingSell, ...] = ()


@dataclass
class _Unknown:
    client_order_id: str
    accepted: bool


@dataclass
class InvariantChecker:
    """Feed it in time order. Not thread-safe: the simulator calls it from its own thread."""

    limits: CheckerLimits
    start_ns: int
    violations: list[Violation] = field(default_factory=list)
    max_unprotected_s: float = 0.0
    unprotected_in_retry_after_s: float = 0.0
    duplicate_intents: int = 0
    oversells: int = 0
    _symbols: dict[str, _SymbolState] = field(default_factory=dict)
    _pushback: tuple[int, int] = (0, 0)
    _unknown: dict[str, _Unknown] = field(default_factory=dict)
    _recent_crashes: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)
    _baseline: tuple[int, float] | None = None
    _inbox_reported: set[str] = field(default_factory=set)
    max_inbox_depth: int = 0

    def _t_s(self, now_ns: int) -> float:
        return (now_ns - self.start_ns) / NS_PER_S

    def _violate(self, kind: str, symbol: str, now_ns: int, step: int, explanation: str) -> None:
        self.violations.append(Violation(kind, symbol, self._t_s(now_ns), explanation, step))

    def _state(self, symbol: str) -> _SymbolState:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _SymbolState()
        return state

    # -- the venue's books ---------------------------------------------------------------------------

    def pushback(self, start_ns: int, until_ns: int) -> None:
        """The venue imposed a Retry-After (or ban) window: exposure inside it is excepted."""
        current_start, current_until = self._pushback
        if start_ns <= current_until:
            self._pushback = (current_start, max(current_until, until_ns))
        else:
            self._pushback = (start_ns, until_ns)

    def _excepted(self, start_ns: int, end_ns: int) -> int:
        window_start, window_until = self._pushback
        return max(0, min(end_ns, window_until) - max(start_ns, window_start))

    def observe_books(self, now_ns: int, step: int, books: Iterable[BookView]) -> None:
        """After the venue's books changed: start or end exposures, remember stops and sales."""
        for book in books:
            state = self._state(book.symbol)
            self._account(book.symbol, state, now_ns, step)
            sold = book.sold_qty > state.sold
            state.held = book.sellable_qty
            state.covered = book.covered_qty
            state.fixed_dust = book.dust_qty
            state.dust_at = book.dust_at
            state.sold = book.sold_qty
            state.sells = book.sells
            self._judge(state, now_ns)
            if state.sellable <= 0:
                state.last_stop = None
                state.stop_watch = None
            elif book.stop_price is not None:
                state.last_stop = book.stop_price
            watch = state.stop_watch
            if (
                watch is not None
                and book.stop_price is not None
                and state.bid is not None
                and state.bid > book.stop_price
            ):
                # The exits were re-armed (the position grew at a lower price) with a stop the bid is
                # above: the old level no longer applies.
                state.stop_watch = None
            elif watch is not None:
                # A sale is progress: what is left gets the guard's budget from now.
                self._update_watch(state, watch, now_ns, restart=sold)
            if book.open_entries > self.limits.max_open_entries:
                self.duplicate_intents += 1
                self._violate(
                    "duplicate_intent",
                    book.symbol,
                    now_ns,
                    step,
                    f"{book.open_entries} open entries on the venue (at most {self.limits.max_open_entries})",
                )

    def _judge(self, state: _SymbolState, now_ns: int) -> None:
        """What is held beyond the dust at the newest bid, and whether resting sells cover it: an exposure
        starts or ends (measured up to ``now_ns`` already)."""
        state.dust, state.sellable, short = exposure_at(
            state.held, state.covered, state.fixed_dust, state.dust_at, state.bid
        )
        uncovered = short > 0
        if uncovered and state.exposure is None:
            state.exposure = _Exposure(since_ns=now_ns, accounted_ns=now_ns)
        elif not uncovered and state.exposure is not None:
            self._ended(state.exposure, now_ns, "")
            state.exposure = None

    def observe_bid(self, now_ns: int, step: int, symbol: str, bid: Decimal) -> None:
        """A quote reached the venue: what is held is judged at the new bid (dust or not); a crossed stop
        starts the guard's budget."""
        state = self._state(symbol)
        state.bid = bid
        if state.held > 0 and state.dust_at is not None:
            self._account(symbol, state, now_ns, step)
            self._judge(state, now_ns)
        stop = state.last_stop
        if state.sellable > 0 and stop is not None and bid <= stop and state.stop_watch is None:
            state.stop_watch = _StopWatch(stop=stop, waiting_since_ns=now_ns, accounted_ns=now_ns)
        if state.stop_watch is not None:
            self._update_watch(state, state.stop_watch, now_ns, restart=False)

    @staticmethod
    def _update_watch(state: _SymbolState, watch: _StopWatch, now_ns: int, *, restart: bool) -> None:
        """Honoured while resting sells the market can take at the bid cover what is held; otherwise the
        guard's budget runs (from ``now_ns`` when ``restart``: a sale just happened, or cover was lost)."""
        bid = state.bid
        takeable = takeable_qty(state.sells, bid) if bid is not None else _ZERO
        if state.sellable - takeable <= state.dust:
            watch.waiting_since_ns = None
        elif watch.waiting_since_ns is None or restart:
            watch.waiting_since_ns = now_ns
            watch.excepted_ns = 0
            watch.accounted_ns = now_ns

    def tick(self, now_ns: int, step: int) -> None:
        """After every step: measure exposures and stop budgets up to ``now_ns``."""
        for symbol, state in self._symbols.items():
            self._account(symbol, state, now_ns, step)
            watch = state.stop_watch
            if watch is not None and not watch.reported and watch.waiting_since_ns is not None:
                # Nothing can be sold inside a venue's Retry-After: that time does not count.
                watch.excepted_ns += self._excepted(watch.accounted_ns, now_ns)
                watch.accounted_ns = max(watch.accounted_ns, now_ns)
                waited_s = (now_ns - watch.waiting_since_ns - watch.excepted_ns) / NS_PER_S
                if waited_s > self.limits.stop_budget_s:
                    watch.reported = True
                    self._violate(
                        "stop_not_honoured",
                        symbol,
                        now_ns,
                        step,
                        f"bid crossed the stop {watch.stop}; {state.sellable} held neither sold nor "
                        f"resting at a price the bid {state.bid} takes for {self.limits.stop_budget_s}s",
                    )

    def _account(self, symbol: str, state: _SymbolState, now_ns: int, step: int) -> None:
        exposure = state.exposure
        if exposure is None or now_ns <= exposure.accounted_ns:
            return
        excepted = self._excepted(exposure.accounted_ns, now_ns)
        exposure.excepted_ns += excepted
        self.unprotected_in_retry_after_s += excepted / NS_PER_S
        exposure.accounted_ns = now_ns
        exposed_s = (now_ns - exposure.since_ns - exposure.excepted_ns) / NS_PER_S
        self.max_unprotected_s = max(self.max_unprotected_s, exposed_s)
        if exposed_s > self.limits.max_unprotected_s and not exposure.reported:
            exposure.reported = True
            exposure.violation = len(self.violations)
            self._violate(
                "unprotected",
                symbol,
                now_ns,
                step,
                f"{state.sellable} held without resting exits for {exposed_s:.3f}s "
                f"(limit {self.limits.max_unprotected_s}s) plus {exposure.excepted_ns / NS_PER_S:.3f}s "
                "inside a venue's Retry-After",
            )

    def _ended(self, exposure: _Exposure, now_ns: int, how: str) -> None:
        """A reported exposure is over (or the run is): its violation says how long it lasted in all, so
        ``max_unprotected_s`` is found among the violations, not only the instant the limit was crossed."""
        if exposure.violation < 0:
            return
        violation = self.violations[exposure.violation]
        exposed_s = (now_ns - exposure.since_ns - exposure.excepted_ns) / NS_PER_S
        explanation = (
            f"{violation.explanation}; uncovered {exposed_s:.3f}s in all{how} "
            f"(plus {exposure.excepted_ns / NS_PER_S:.3f}s inside a venue's Retry-After)"
        )
        self.violations[exposure.violation] = replace(violation, explanation=explanation)
        exposure.violation = -1

    def finish(self, now_ns: int, step: int) -> None:
        """The run ends at ``now_ns``: measure up to it; exposures still open say so."""
        self.tick(now_ns, step)
        for state in self._symbols.values():
            if state.exposure is not None:
                self._ended(state.exposure, now_ns, ", still uncovered when the run ended")

    # -- what the engine sent --------------------------------------------------------------------------

    def submitted(
        self,
        now_ns: int,
        step: int,
        *,
        symbol: str,
        buy: bool,
        client_order_id: str,
        qty: Decimal,
        held: Decimal,
        resting_sells: Decimal,
    ) -> None:
        """An order request reached the venue (before the venue's answer)."""
        if buy:
            pending = self._unknown.get(symbol)
            if pending is not None and pending.accepted and pending.client_order_id != client_order_id:
                self.duplicate_intents += 1
                self._violate(
                    "duplicate_intent",
                    symbol,
                    now_ns,
                    step,
                    f"{client_order_id} sent while {pending.client_order_id} (accepted, outcome unknown to "
                    "the sender) was never asked about",
                )
            return
        if qty + resting_sells > held:
            self.oversells += 1
            self._violate(
                "oversell",
                symbol,
                now_ns,
                step,
                f"sell {client_order_id} for {qty} with {resting_sells} already resting; {held} held",
            )

    def outcome_unknown(self, symbol: str, client_order_id: str, *, accepted: bool, buy: bool) -> None:
        """A submit's answer was lost; the sender must ask for ``client_order_id`` before resending."""
        if buy:
            self._unknown[symbol] = _Unknown(client_order_id, accepted)

    def asked(self, symbol: str, client_order_id: str) -> None:
        """The engine asked the venue for an order by client id."""
        pending = self._unknown.get(symbol)
        if pending is not None and pending.client_order_id == client_order_id:
            del self._unknown[symbol]

    def event_handled(self, symbol: str, client_order_id: str) -> None:
        """The engine's sender of ``client_order_id`` handled the venue's event for that order: its outcome
        is known to it as if it had asked (a later buy is a new intent, not a resend)."""
        self.asked(symbol, client_order_id)

    def entry_settled(self, symbol: str) -> None:
        """The engine learnt of the open orders of ``symbol`` another way (a listing of open orders)."""
        self._unknown.pop(symbol, None)

    # -- the actor tree --------------------------------------------------------------------------------

    def crashed(
        self, now_ns: int, step: int, *, actor: str, error: str, pushback: bool, expected: bool
    ) -> None:
        """An actor's handler raised. ``expected``: injected by the simulator or a feed fault."""
        crashes = self._recent_crashes.setdefault(actor, [])
        crashes.append((now_ns, pushback))
        del crashes[:-32]
        symbol = _symbol_of(actor)
        if pushback:
            self._violate("pushback_crash", symbol, now_ns, step, f"{actor} crashed on pushback: {error}")
        elif not expected:
            self._violate("actor_crash", symbol, now_ns, step, f"{actor} crashed: {error}")

    def escalated(self, now_ns: int, step: int, *, actor: str, what: str, window_s: float) -> None:
        """The supervisor tripped the kill switch or parked a symbol because ``actor`` kept crashing."""
        recent = [p for t, p in self._recent_crashes.get(actor, []) if now_ns - t <= window_s * NS_PER_S]
        if any(recent):
            symbol = _symbol_of(actor)
            self._violate(
                "pushback_escalation",
                symbol,
                now_ns,
                step,
                f"{what} after {actor} crashed {len(recent)} times, {sum(recent)} of them on venue pushback",
            )

    def inboxes(self, now_ns: int, step: int, peaks: Mapping[str, int]) -> None:
        """Peak inbox depths seen so far."""
        for name, depth in peaks.items():
            self.max_inbox_depth = max(self.max_inbox_depth, depth)
            if depth > self.limits.max_inbox_depth and name not in self._inbox_reported:
                self._inbox_reported.add(name)
                self._violate("inbox_growth", "", now_ns, step, f"{name} held {depth} messages at once")

    def restarted(self, now_ns: int, step: int, *, threads: int, rss_mb: float) -> None:
        """After each process start: the first one is the baseline."""
        if self._baseline is None:
            self._baseline = (threads, rss_mb)
            return
        base_threads, base_rss = self._baseline
        if threads - base_threads > self.limits.max_restart_growth_threads:
            self._violate(
                "restart_growth",
                "",
                now_ns,
                step,
                f"{threads} threads after a restart ({base_threads} at first)",
            )
        if rss_mb - base_rss > self.limits.max_restart_growth_rss_mb:
            self._violate(
                "restart_growth",
                "",
                now_ns,
                step,
                f"RSS {rss_mb:.1f} MB after a restart ({base_rss:.1f} at first)",
            )

    def stalled(self, now_ns: int, step: int, explanation: str) -> None:
        self._violate("stalled", "", now_ns, step, explanation)
