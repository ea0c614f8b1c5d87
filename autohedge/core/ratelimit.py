"""Rate limits: the per-symbol minimum interval between orders and a venue's request budget.

Neither ever sleeps. They answer "go" or "wait N seconds" (``RateLimited.retry_after_s``) and the
caller schedules a timer message, so a rate limit never blocks an actor thread and tests stay
deterministic under a ManualClock.

The ``RequestBudget`` is also where a venue's pushback lives as data (DESIGN section 5): the transport
records 429/418 (``rate_limited``), a run of 5xx/timeouts (``degraded``) and rejected keys
(``auth_failed``); every actor reads ``wait_s()`` and ``status()`` instead of learning it from a crash.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum

from autohedge.core.clock import NS_PER_S, Clock
from autohedge.core.errors import RateLimited

__all__ = [
    "DEGRADED_AFTER_FAILURES",
    "ROLLING_GUARD_S",
    "LimitKind",
    "LimitRule",
    "RequestBudget",
    "SymbolRateLimiter",
    "VenueStatus",
]

DEGRADED_AFTER_FAILURES = 3
"""Consecutive 5xx / timeouts / unreachable answers after which a venue is reported degraded."""
_USAGE_WINDOW_NS = 60 * NS_PER_S
_USAGE_STEP_NS = NS_PER_S // 10
"""Requests per minute are counted in steps of this much (at most 600 counts kept, whatever the rate):
a step leaves the minute once its start is a minute old."""
ROLLING_GUARD_S = 1.0
"""A rolling rule keeps a unit whose answer the sender does not wait for (``acquire``) this much longer
than its interval: we count it when we send it, the venue when it arrives. A request whose answer is
waited for (``in_flight``) is kept for its interval after the answer instead, however long it was on the
way: it arrived before it was answered."""


class SymbolRateLimiter:
    """At most one order per symbol every ``min_interval_ms``, measured from the stored time of
    the last order for that symbol (not from when the strategy last asked)."""

    def __init__(self, clock: Clock, min_interval_ms: int) -> None:
        self._clock = clock
        self._interval_ns = min_interval_ms * 1_000_000
        self._last_order_ns: dict[str, int] = {}

    def wait_s(self, symbol: str) -> float:
        """Seconds until ``symbol`` may place its next order (0.0 = now)."""
        last = self._last_order_ns.get(symbol)
        if last is None:
            return 0.0
        remaining = last + self._interval_ns - self._clock.monotonic_ns()
        return max(0, remaining) / NS_PER_S

    def record_order(self, symbol: str) -> None:
        """Store the time of an order just sent for ``symbol``."""
        self._last_order_ns[symbol] = self._clock.monotonic_ns()


class LimitKind(StrEnum):
    WEIGHT = "weight"
    """Request weight (Binance REQUEST_WEIGHT) or plain request count (Alpaca: every request weighs 1)."""
    ORDERS = "orders"
    """Orders placed (Binance ORDERS); cancels and reads do not count."""


@dataclass(frozen=True)
class LimitRule:
    """One advertised limit: ``limit`` units per ``interval_s``, in windows aligned to wall time (as the
    venue counts them: a Binance minute window resets on the minute). ``rolling``: the limit also holds
    over any ``interval_s`` (Alpaca's 200 a minute), so a window's end is no licence to send a second
    full window's worth right after the first (kept ``ROLLING_GUARD_S`` longer, for the way there)."""

    kind: LimitKind
    limit: float
    interval_s: float
    rolling: bool = False


@dataclass
class _Sent:
    """Units a rolling rule counts for one request (monotonic ns)."""

    sent_ns: int
    units: float
    answered_ns: int | None
    """When its answer came or it failed (the latest it can have reached the venue); None while in
    flight: then it counts whatever its age."""

    def expires_ns(self, interval_ns: int, now_ns: int) -> int:
        """When it leaves the rolling window; one in flight at the earliest ``interval_ns`` from now."""
        return (now_ns if self.answered_ns is None else self.answered_ns) + interval_ns


@dataclass
class _Window:
    rule: LimitRule
    used: float = 0.0
    ends_wall_ns: int = 0
    sent: deque[_Sent] = field(default_factory=deque)
    """For a rolling rule: what was sent, oldest first, until it expires (``_Sent.expires_ns``)."""
    sent_units: float = 0.0
    in_flight: float = 0.0
    """Units of awaited requests sent and not answered yet: one sent late in a window may reach the venue
    in its next one, so a new window starts with them counted."""

    def rolling_wait_ns(self, need: float, cap: float, now_ns: int) -> int:
        """Nanoseconds until ``need`` more units fit under ``cap`` in the rolling window (0 = now)."""
        interval_ns = int(self.rule.interval_s * NS_PER_S)
        while self.sent and self.sent[0].expires_ns(interval_ns, now_ns) <= now_ns:
            self.sent_units -= self.sent.popleft().units
        excess = self.sent_units + need - cap
        if excess <= 0:
            return 0
        # Answers come out of order: what expires first frees first (an expired one held behind one still
        # in flight frees now).
        for expires_ns, units in sorted((x.expires_ns(interval_ns, now_ns), x.units) for x in self.sent):
            excess -= units
            if excess <= 0:
                return max(0, expires_ns - now_ns)
        return interval_ns  # more than the whole limit at once: the most any wait can be

    def spend(self, units: float, now_ns: int, *, awaited: bool) -> _Sent | None:
        """Count ``units`` sent now; for a rolling rule, the record to mark answered (None otherwise).
        ``awaited``: the sender says when the answer came; else the units are kept ``ROLLING_GUARD_S``
        past their interval."""
        self.used += units
        if awaited:
            self.in_flight += units
        if not self.rule.rolling or units <= 0:
            return None
        guard_ns = int(ROLLING_GUARD_S * NS_PER_S)
        record = _Sent(now_ns, units, None if awaited else now_ns + guard_ns)
        self.sent.append(record)
        self.sent_units += units
        return record

    def roll(self, now_wall_ns: int) -> None:
        if now_wall_ns >= self.ends_wall_ns:
            interval_ns = int(self.rule.interval_s * NS_PER_S)
            self.used = self.in_flight
            self.ends_wall_ns = (now_wall_ns // interval_ns + 1) * interval_ns


@dataclass(frozen=True)
class VenueStatus:
    """A venue's pushback as data: shown in /health, the status page and the run summary."""

    venue: str
    rate_limited_until_ns: int | None
    """Wall time until which the venue said wait (the latest such instruction; may be in the past)."""
    rate_limited: bool
    """Sending is paused right now."""
    banned: bool
    """The pause is a ban (Binance 418)."""
    auth_failed: str | None
    degraded: str | None
    rate_limit_events: int
    requests_per_minute_max: int
    weight_share_max: float
    limits: tuple[LimitRule, ...] = field(default=())


class RequestBudget:
    """One budget per venue, shared by every actor and stream of the process (thread-safe).

    Limits come from the venue (``apply_limits`` with Binance ``exchangeInfo.rateLimits``; Alpaca's
    ``X-Ratelimit-*`` headers through ``observe_remaining``); the constructor's ``capacity`` per
    ``per_s`` is only the safe default until the venue has said. Usage is counted in wall-aligned
    windows like the venue counts it, and every response's usage header overrides our own count
    upward (``observe_used``). Exits and cancels (``priority=True``) may use the whole window;
    entries only up to ``1 - reserve_fraction`` of it, less the order slots that the exits of the
    entries already in flight or resting can need (``exits_owed``): when many entries fill together,
    each fill's exit finds its slots in the window, so protection never waits behind entries.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        venue: str,
        capacity: float,
        per_s: float,
        reserve_fraction: float = 0.2,
        rolling: bool = False,
    ) -> None:
        if capacity <= 0 or per_s <= 0:
            raise ValueError("request budget capacity and period must be positive")
        self._clock = clock
        self.venue = venue
        self._reserve_fraction = reserve_fraction
        self._lock = threading.Lock()
        self._windows: list[_Window] = [_Window(LimitRule(LimitKind.WEIGHT, capacity, per_s, rolling))]
        self._paused_until_ns = 0  # monotonic
        self._paused_until_wall_ns: int | None = None
        self._banned = False
        self._rate_limit_events = 0
        self._auth_failed: str | None = None
        self._failures = 0
        self._degraded: str | None = None
        self._recent: deque[list[int]] = deque()  # [step, requests] over the last minute (monotonic)
        self._recent_requests = 0
        self._rpm_max = 0
        self._share_max = 0.0
        self.used_total = 0.0

    # -- limits -----------------------------------------------------------------------------------------

    def apply_limits(self, rules: Sequence[LimitRule]) -> None:
        """Replace the limits with the venue's own (keeping what this window has used)."""
        if not rules:
            return
        with self._lock:
            now = self._clock.wall_ns()
            old = {(w.rule.kind, w.rule.interval_s): w for w in self._windows}
            windows = []
            for rule in rules:
                window = _Window(rule)
                window.roll(now)
                previous = old.get((rule.kind, rule.interval_s))
                if previous is not None:
                    window.in_flight = previous.in_flight
                    same = previous.ends_wall_ns == window.ends_wall_ns
                    window.used = previous.used if same else previous.in_flight
                if previous is not None and rule.rolling:
                    window.sent, window.sent_units = previous.sent, previous.sent_units
                windows.append(window)
            if not any(w.rule.kind is LimitKind.WEIGHT for w in windows):
                windows += [w for w in self._windows if w.rule.kind is LimitKind.WEIGHT]
            self._windows = windows

    @property
    def limits(self) -> tuple[LimitRule, ...]:
        with self._lock:
            return tuple(w.rule for w in self._windows)

    @property
    def capacity(self) -> float:
        """The per-minute (or shortest) request-weight limit."""
        return self._weight_window().rule.limit

    def _weight_window(self) -> _Window:
        weights = [w for w in self._windows if w.rule.kind is LimitKind.WEIGHT]
        minute = [w for w in weights if w.rule.interval_s == 60]
        return (minute or sorted(weights, key=lambda w: w.rule.interval_s))[0]

    # -- spending ---------------------------------------------------------------------------------------

    def _refusal_s(
        self, weight: float, orders: int, priority: bool, now_ns: int, now_wall: int, exits_owed: int = 0
    ) -> float:
        """Seconds until a request of this size may go (0.0 = now). Lock held."""
        if now_ns < self._paused_until_ns:
            return (self._paused_until_ns - now_ns) / NS_PER_S
        floor = 0.0 if priority else self._reserve_fraction
        owed = 0 if priority else max(0, exits_owed)
        wait_ns = 0
        for window in self._windows:
            window.roll(now_wall)
            need = orders if window.rule.kind is LimitKind.ORDERS else weight
            if need <= 0:
                continue
            # Every exit order is at least one unit of either kind, so the owed exits are kept free
            # in the weight window too (Alpaca counts exits and reads in the same one).
            cap = window.rule.limit * (1.0 - floor)
            if window.used + need + owed > cap:
                wait_ns = max(wait_ns, window.ends_wall_ns - now_wall)
            if window.rule.rolling:
                wait_ns = max(wait_ns, window.rolling_wait_ns(need + owed, cap, now_ns))
        return wait_ns / NS_PER_S

    def wait_s(
        self, *, priority: bool = False, weight: float = 1.0, orders: int = 0, exits_owed: int = 0
    ) -> float:
        """Seconds until a request of this size may be sent (0.0 = now). Spends nothing.

        ``exits_owed``: for an entry, the exit orders that this entry and the entries already in flight
        or resting can need once filled (``exit_orders_owed``); the window must still hold them."""
        with self._lock:
            return self._refusal_s(
                weight, orders, priority, self._clock.monotonic_ns(), self._clock.wall_ns(), exits_owed
            )

    def acquire(self, weight: float = 1.0, *, priority: bool = False, orders: int = 0) -> None:
        """Spend ``weight`` (and ``orders`` order slots) now or raise ``RateLimited`` with the wait. For a
        request whose answer the caller does not wait for (a rolling rule keeps it ``ROLLING_GUARD_S``
        past its interval); a request whose answer it waits for is sent inside ``in_flight``."""
        with self._lock:
            self._spend(weight, priority, orders, awaited=False)

    def acquire_up_to(
        self, count: int, weight: float = 1.0, *, priority: bool = False, orders: int = 0
    ) -> int:
        """``acquire`` each of ``count`` requests of this size, in order, under one lock: how many were
        spent (from the front) before the budget refused one. For a burst written together."""
        admitted = 0
        with self._lock:
            if count > 1:  # the usual case: all of them fit (one check and one record, not one each)
                try:
                    self._spend(weight * count, priority, orders * count, awaited=False, requests=count)
                    return count
                except RateLimited:
                    pass
            while admitted < count:
                try:
                    self._spend(weight, priority, orders, awaited=False)
                except RateLimited:
                    break
                admitted += 1
        return admitted

    @contextmanager
    def in_flight(self, weight: float = 1.0, *, priority: bool = False, orders: int = 0) -> Iterator[None]:
        """``with budget.in_flight(...):`` send one request and read its answer inside the block. Spends
        like ``acquire`` on entry (``RateLimited``: nothing may be sent). Until the block ends (answered,
        or failed) the request may still reach the venue, so a window that begins meanwhile counts it
        too, and a rolling rule keeps it until its interval after the answer (after the failure and
        ``ROLLING_GUARD_S``: the block raised): held up on its way, however long, it is never counted out
        before the venue could count it in. Runs in the sender's thread."""
        with self._lock:
            records = self._spend(weight, priority, orders, awaited=True)
            spent_in = {(w.rule.kind, w.rule.interval_s) for w in self._windows}
        answered = False
        try:
            yield
            answered = True
        finally:
            with self._lock:
                now = self._clock.monotonic_ns()
                # Given up without an answer (a timeout), it may still be on its way: the guard applies.
                ended_ns = now if answered else now + int(ROLLING_GUARD_S * NS_PER_S)
                for record in records:
                    record.answered_ns = ended_ns
                for window in self._windows:  # the venue's limits may have replaced them meanwhile
                    if (window.rule.kind, window.rule.interval_s) in spent_in:
                        units = orders if window.rule.kind is LimitKind.ORDERS else weight
                        window.in_flight = max(0.0, window.in_flight - units)

    def _spend(
        self, weight: float, priority: bool, orders: int, *, awaited: bool, requests: int = 1
    ) -> list[_Sent]:
        """Spend now or raise ``RateLimited``; the rolling rules' records of the spend (``requests`` sent
        at once, together this size). Lock held."""
        now, now_wall = self._clock.monotonic_ns(), self._clock.wall_ns()
        wait_s = self._refusal_s(weight, orders, priority, now, now_wall)
        if wait_s > 0:
            paused = now < self._paused_until_ns
            raise RateLimited(
                f"{self.venue}: sending paused by the venue for {wait_s:.1f}s more"
                if paused
                else f"{self.venue}: request budget spent, next window in {wait_s:.3f}s",
                venue=self.venue,
                retry_after_s=wait_s,
                banned=paused and self._banned,
            )
        records = []
        for window in self._windows:
            units = orders if window.rule.kind is LimitKind.ORDERS else weight
            record = window.spend(units, now, awaited=awaited)
            if record is not None:
                records.append(record)
        self.used_total += weight
        self._count_recent(now, requests)
        self._note_share()
        return records

    def _count_recent(self, now_ns: int, requests: int) -> None:
        """Count ``requests`` sent at ``now_ns`` in the last minute's steps. Lock held."""
        step = now_ns // _USAGE_STEP_NS
        recent = self._recent
        if recent and recent[-1][0] == step:
            recent[-1][1] += requests
        else:
            recent.append([step, requests])
        self._recent_requests += requests
        while recent[0][0] * _USAGE_STEP_NS <= now_ns - _USAGE_WINDOW_NS:
            self._recent_requests -= recent.popleft()[1]
        self._rpm_max = max(self._rpm_max, self._recent_requests)

    def _note_share(self) -> None:
        """The largest share of the weight limit used in one of the venue's own windows."""
        window = self._weight_window()
        self._share_max = max(self._share_max, window.used / window.rule.limit)

    # -- what the venue said ----------------------------------------------------------------------------

    def rate_limited(self, retry_after_s: float, *, banned: bool = False) -> None:
        """The venue said stop (429, or a 418 ban) for ``retry_after_s``: nothing is sent until then."""
        with self._lock:
            now = self._clock.monotonic_ns()
            until = now + int(max(retry_after_s, 0.0) * NS_PER_S)
            if until >= self._paused_until_ns:
                self._paused_until_ns = until
                self._paused_until_wall_ns = self._clock.wall_ns() + (until - now)
                self._banned = banned
            self._rate_limit_events += 1

    def ban(self, retry_after_s: float) -> None:
        """The venue said stop with a Retry-After: no request until it has passed."""
        self.rate_limited(retry_after_s)

    def observe_used(
        self, used: float, *, kind: LimitKind = LimitKind.WEIGHT, interval_s: float = 60
    ) -> None:
        """Align with the venue's own count of this window (``X-MBX-USED-WEIGHT-1M``,
        ``X-MBX-ORDER-COUNT-10S``): never count less than the venue does."""
        with self._lock:
            now_wall = self._clock.wall_ns()
            for window in self._windows:
                if window.rule.kind is kind and window.rule.interval_s == interval_s:
                    window.roll(now_wall)
                    window.used = max(window.used, used)
            self._note_share()

    def observe_remaining(self, *, limit: float, remaining: float, reset_wall_s: float) -> None:
        """Alpaca's ``X-Ratelimit-Limit/Remaining/Reset``: the venue's window, its size and its end.
        Remaining 0 means nothing more is sent until the reset."""
        with self._lock:
            window = self._weight_window()
            if limit > 0 and limit != window.rule.limit:
                window.rule = replace(window.rule, limit=limit)
            reset_ns = int(reset_wall_s * NS_PER_S)
            venue_used = max(0.0, limit - remaining)
            if reset_ns > self._clock.wall_ns() and reset_ns != window.ends_wall_ns:
                window.ends_wall_ns, window.used = reset_ns, venue_used  # the venue's new window
            else:
                window.used = max(window.used, venue_used)
            self._note_share()

    def succeeded(self) -> None:
        """A request got an answer from a healthy venue (any 2xx/4xx that is not pushback)."""
        with self._lock:
            self._failures = 0
            self._degraded = None

    def failed(self, reason: str) -> None:
        """A 5xx, a timeout or an unreachable venue; a run of them marks the venue degraded."""
        with self._lock:
            self._failures += 1
            if self._failures >= DEGRADED_AFTER_FAILURES:
                self._degraded = f"{self._failures} failed requests in a row: {reason}"

    def auth_failed(self, reason: str) -> None:
        """The venue rejected our keys. Stays set until a signed request succeeds again."""
        with self._lock:
            self._auth_failed = reason

    def auth_ok(self) -> None:
        with self._lock:
            self._auth_failed = None

    # -- reading ----------------------------------------------------------------------------------------

    @property
    def used_fraction(self) -> float:
        """Share of the current request-weight window in use (0..1)."""
        with self._lock:
            window = self._weight_window()
            window.roll(self._clock.wall_ns())
            return min(1.0, window.used / window.rule.limit)

    @property
    def auth_failure(self) -> str | None:
        with self._lock:
            return self._auth_failed

    def status(self) -> VenueStatus:
        with self._lock:
            now = self._clock.monotonic_ns()
            paused = now < self._paused_until_ns
            return VenueStatus(
                venue=self.venue,
                rate_limited_until_ns=self._paused_until_wall_ns,
                rate_limited=paused,
                banned=paused and self._banned,
                auth_failed=self._auth_failed,
                degraded=self._degraded,
                rate_limit_events=self._rate_limit_events,
                requests_per_minute_max=self._rpm_max,
                weight_share_max=round(self._share_max, 4),
                limits=tuple(w.rule for w in self._windows),
            )
