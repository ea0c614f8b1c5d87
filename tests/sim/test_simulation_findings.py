"""Regressions for defects ``autohedge simulate`` found with every fault on, partial fills included:
each replays the beginning of the seed that found it (the same seed gives the same run) and asserts the
violation it showed is gone. The config is CI's (.ci/simulate.yaml) with partial fills on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autohedge.core.config import AppConfig, load_config
from autohedge.sim.runner import Simulation
from tests.sim.test_simulate import config, run


def violations(report: dict[str, Any], kind: str) -> list[str]:
    found = [v for v in report["violations"] if v["kind"] == kind]
    return [f"{v['t_s']}s {v['symbol']}: {v['explanation']}" for v in found]


def assert_clean(tmp_path: Path, *, seed: int, until_s: int, kind: str) -> None:
    """The seed's first ``until_s`` simulated seconds show no violation of ``kind``."""
    report = run(config(), tmp_path, hours=until_s / 3600, seed=seed)
    assert violations(report, kind) == []


def repository_config(relative: str) -> AppConfig:
    """A config file of the repository (``config.yaml``, ``.ci/simulate.yaml``, ...)."""
    return load_config(Path(__file__).resolve().parents[2] / relative)


def run_until(loaded: AppConfig, tmp_path: Path, *, seed: int, until_s: int) -> dict[str, Any]:
    """The first ``until_s`` simulated seconds of ``seed`` with ``loaded``."""
    return Simulation(loaded, seed=seed, hours=until_s / 3600, work_dir=tmp_path).run()


def repository_run(tmp_path: Path, *, seed: int, until_s: int) -> dict[str, Any]:
    """The beginning of a seed with the repository's config.yaml (every fault at its default)."""
    return run_until(repository_config("config.yaml"), tmp_path, seed=seed, until_s=until_s)


def test_simulation_found_oco_leg_ended_before_its_siblings_fill_was_reported_is_settled_not_orphaned(
    tmp_path: Path,
) -> None:
    # Seed 1 at 152.5 s: the SL leg's cancel (its TP sibling traded) was delivered before the TP's fill;
    # the monitor took the list for an orphan and placed a new exit beside the still resting TP.
    assert_clean(tmp_path, seed=1, until_s=153, kind="oversell")


def test_simulation_found_fill_in_flight_counted_twice_when_the_ledger_had_it(tmp_path: Path) -> None:
    # Seed 1 at 171.5 s: an entry fill the ledger had already applied was added on top of it as "in
    # flight" (and a stale dust record beside it): the exit asked for more than was held.
    report = run(config(), tmp_path, hours=172 / 3600, seed=1)

    assert [v for v in violations(report, "oversell") if not v.startswith("152.")] == []


def test_simulation_found_late_entry_fill_event_left_the_fill_without_an_exit(tmp_path: Path) -> None:
    # Seed 3 at 28.5 s and 39.5 s: the rest of a resting entry traded, its event came 1-2 s late and no
    # read looked for it: the bought quantity had no exit for longer than the promise allows.
    assert_clean(tmp_path, seed=3, until_s=43, kind="unprotected")


def test_simulation_found_exit_check_took_a_legs_sale_off_the_position_twice(tmp_path: Path) -> None:
    # Seed 3 at 302 s: the check sized the position to the venue's holding (after a leg's partial sale)
    # and the cancel answer then took that sale off again: the position was dropped as dust while held.
    assert_clean(tmp_path, seed=3, until_s=303, kind="unprotected")


def test_simulation_found_lot_left_untracked_when_its_position_ended_as_dust(tmp_path: Path) -> None:
    # Seed 2 at 728.6 s: the closing position ended as dust while a lot bought during its close had its
    # own exit; the lot was forgotten and the next position's exit asked for the lot's quantity too.
    assert_clean(tmp_path, seed=2, until_s=729, kind="oversell")


def test_simulation_found_ended_legs_sale_unread_before_rearming(tmp_path: Path) -> None:
    # Seed 3 at 3025.6 s: a leg's cancel was refused because it had ended; what it sold was never read,
    # so the position stayed too large and its remainder was dropped instead of protected.
    assert_clean(tmp_path, seed=3, until_s=3026, kind="unprotected")


def test_simulation_found_exit_armed_beside_a_lots_after_the_close_sold_out(tmp_path: Path) -> None:
    # Seed 1 at 6972 s: the close sold the position out while a lot bought during it rested with its own
    # exit; the position took the lot's holding from the ledger and armed an exit beside the lot's.
    assert_clean(tmp_path, seed=1, until_s=6973, kind="oversell")


def test_simulation_found_late_sell_event_made_the_ledger_look_held_after_the_close_ended(
    tmp_path: Path,
) -> None:
    # Seed 2 at 674 s: a close's partial fill event came after its final one; the ledger (counting the
    # final one's cumulative quantity as applied) looked larger than the holding, and the position was
    # sized from it beside a lot's exit.
    assert_clean(tmp_path, seed=2, until_s=675, kind="oversell")


def test_simulation_found_lot_of_a_failed_close_counted_again_by_the_exit_check(tmp_path: Path) -> None:
    # The repository's config.yaml, seed 202 at 1761.7 s: a stop close was rejected while a fill became
    # a lot with its own exit; the check later sized the position to the venue's whole holding, the
    # lot's included, and armed an exit beside the lot's.
    report = repository_run(tmp_path, seed=202, until_s=1762)

    assert violations(report, "oversell") == []


def test_simulation_found_adopted_exit_legs_earlier_sale_taken_off_again(tmp_path: Path) -> None:
    # Seed 1 at 5688.5 s: after a process restart the check adopted a partly traded TP leg; its cancel
    # answer later reported that earlier sale, which was taken off the (already smaller) holding again.
    assert_clean(tmp_path, seed=1, until_s=5689, kind="unprotected")


def test_simulation_found_stop_close_left_resting_above_a_falling_bid(tmp_path: Path) -> None:
    # The repository's config.yaml, seed 28 at 2246.6 s (seed 303 on an older main): a stop close sold
    # only part, the market fell on below its price and it rested unsold; nothing re-priced it. Once the
    # checker counted only sales and sells the bid takes as honouring a crossed stop, it showed here.
    report = repository_run(tmp_path, seed=28, until_s=2247)

    assert violations(report, "stop_not_honoured") == []


def test_simulation_found_lots_close_remainder_still_resting_counted_free_for_the_next_exit(
    tmp_path: Path,
) -> None:
    # The repository's config.yaml, seed 22 at 6267.5 s (once closes were re-priced): a lot's close of an
    # odd number of lot steps, on a venue filling half of every match, left one step resting while the
    # other positions of the symbol ended; the next position's exit was sized from what was held, that
    # step included: three oversells, each refused as insufficient.
    report = repository_run(tmp_path, seed=22, until_s=6268)

    assert violations(report, "oversell") == []


def test_simulation_found_remainders_of_several_closes_summed_to_a_sellable_order_beside_a_lots_exit(
    tmp_path: Path,
) -> None:
    # The repository's config.yaml, seed 24 at 1454.5 s: in a flash crash, lots' re-priced closes each
    # ended with a remainder below the minimum order value; each joined the lot bought meanwhile (then
    # the position) without re-arming its exit, and together they were worth a minimum order: 0.000026
    # BTC without an exit for 23 s, until the lot's take-profit traded.
    report = repository_run(tmp_path, seed=24, until_s=1455)

    assert violations(report, "unprotected") == []


def test_simulation_found_position_closed_unseen_took_what_closing_lots_hold_for_its_remainder(
    tmp_path: Path,
) -> None:
    # The repository's config.yaml, seed 33 at 740.6 s (once dust joining a lot re-armed its exit): the
    # verification found a position's close filled and took what was held less the lot for its
    # remainder, what lots still being closed held included; that "dust" joined the promoted lot, whose
    # exit then asked for it too: two oversells.
    report = repository_run(tmp_path, seed=33, until_s=741)

    assert violations(report, "oversell") == []


def test_simulation_found_adopted_exit_whose_cancel_was_refused_forgotten_beside_a_new_one(
    tmp_path: Path,
) -> None:
    # The repository's config.yaml, seed 40 at 7092 s: the monitor restarted after a crash; its
    # reconciliation found a fill its previous incarnation had not covered and went to replace the
    # resting exit, whose cancel the venue refused (rate limited). The position was kept without exits
    # beside that one, and the next fill armed an exit for the whole holding: four oversells.
    report = repository_run(tmp_path, seed=40, until_s=7094)

    assert violations(report, "oversell") == []


def ci_config(**executor: Any) -> AppConfig:
    """CI's simulation config (.ci/simulate.yaml) as it was when these seeds found their defects, with
    partial fills off, and with executor settings changed."""
    loaded = repository_config(".ci/simulate.yaml")
    return loaded.model_copy(
        update={
            "executor": loaded.executor.model_copy(update=executor),
            "simulate": loaded.simulate.model_copy(update={"partial_fill_ratio": 0.0}),
        }
    )


def test_simulation_found_entry_in_flight_lost_with_a_crashed_executor(tmp_path: Path) -> None:
    # CI's config, seed 2 at 2322 s: the executor crashed on a sender's answer; the entry it answered
    # (filled on the venue, its fill event queued behind the answer) was known only to the dead
    # incarnation, so no exit covered it until the position's stop leg traded 1.5 s later.
    report = run_until(ci_config(), tmp_path, seed=2, until_s=2323)

    assert violations(report, "unprotected") == []


def test_simulation_found_monitor_restart_backoff_longer_than_the_promise(tmp_path: Path) -> None:
    # CI's config with entries sent on the executor's thread, seed 2 at 161.7 s: the monitor crashed a
    # third time (on a fill), and its backoff kept it down 1.15 s: the fill had no exit for that long.
    report = run_until(ci_config(submit_workers=0), tmp_path, seed=2, until_s=162)

    assert violations(report, "unprotected") == []


def test_simulation_found_oco_stop_gapped_through_while_the_feed_stalled(tmp_path: Path) -> None:
    # The repository's config.yaml, seed 303 at 5945 s (once its lot at 5360 s was closed whole, see
    # tests/actors/test_simulation_findings.py): the feed stalled while the market gapped below an OCO's
    # stop-limit price; the leg rested unsold and the monitor polled prices only for stops without an
    # OCO, so nothing sold within the stop's budget.
    report = repository_run(tmp_path, seed=303, until_s=5946)

    assert violations(report, "stop_not_honoured") == violations(report, "unprotected") == []


def test_simulation_found_dust_of_a_lot_beside_a_resting_close_left_without_an_exit(tmp_path: Path) -> None:
    # The repository's config.yaml, seed 26931 at 12578.6 s: a lot traded down below the minimum order
    # value while its position's close rested; the dust joined the closing position and, with what fees
    # left, stayed without an exit once it was worth one (see tests/actors/test_simulation_findings.py).
    report = repository_run(tmp_path, seed=26931, until_s=12579)

    assert violations(report, "unprotected") == []


def ci_partial_fills_run(tmp_path: Path, *, seed: int, until_s: int) -> dict[str, Any]:
    """The beginning of a seed with CI's config as it is now (.ci/simulate.yaml: partial fills on)."""
    loaded = repository_config(".ci/simulate.yaml")
    assert loaded.simulate.partial_fill_ratio > 0
    return run_until(loaded, tmp_path, seed=seed, until_s=until_s)


def test_simulation_found_sub_minimum_remainders_of_lots_beside_a_resting_close(tmp_path: Path) -> None:
    # CI's config with partial fills on, seed 2 at 2624 s and seed 7 at 2229.5 s: lots bought while their
    # position's close rested traded down to remainders below the minimum order value; folded into the
    # closing position (whose close never sells them) they added up to more than the minimum, without
    # an exit, for 109 s and 353 s.
    assert violations(ci_partial_fills_run(tmp_path / "2", seed=2, until_s=2625), "unprotected") == []
    assert violations(ci_partial_fills_run(tmp_path / "7", seed=7, until_s=2231), "unprotected") == []


def test_simulation_found_repriced_close_sized_past_what_closing_lots_keep_left_the_rest_unsold(
    tmp_path: Path,
) -> None:
    # CI's config with partial fills on, seed 1 at 169.5 s (found while re-pricing closes was built): in a
    # crash, a position's close and its lots' closes rested above the bid; the position's re-priced close
    # was sized from the holding less what the lots keep, which a sale not yet reported made look like
    # nothing, and the position was dropped unsold. A re-priced close sells what the old one had left.
    report = ci_partial_fills_run(tmp_path, seed=1, until_s=171)

    assert violations(report, "unprotected") == violations(report, "stop_not_honoured") == []


def test_simulation_found_entry_confirmed_by_its_event_counted_as_never_asked_about(tmp_path: Path) -> None:
    # CI's config with partial fills on, seed 10 at 1980.8 s (a checker defect, shown once the seeds of
    # config.yaml 24, 33 and 40 were fixed): an entry's answer was lost and the venue refused the question
    # about it (a ban); its order event confirmed it to the executor. The checker knew only questions, so
    # every later entry of the symbol was taken for a resend of it: 225 duplicate intents.
    report = ci_partial_fills_run(tmp_path, seed=10, until_s=1981)

    assert violations(report, "duplicate_intent") == []


def test_simulation_found_closing_lots_refused_close_taken_by_the_promoted_lot(tmp_path: Path) -> None:
    # The repository's config.yaml, seed 41 at 5029 s: in a flash crash, a closing lot's re-priced close was
    # refused (429); the position's close then sold out and the lot bought during it was promoted, taking
    # the refused close as its own. When the venue allowed again the promoted position was closed instead,
    # and the closing lot's rest waited for the next quote: 1.006 s past the Retry-After.
    report = repository_run(tmp_path, seed=41, until_s=5030)

    assert violations(report, "unprotected") == []


def test_simulation_found_dust_joining_a_protected_lot_left_beyond_its_exit(tmp_path: Path) -> None:
    # The repository's config.yaml, seed 27 at 5742.5 s: in a flash crash, lots' closes and the position's
    # close ended with remainders below the venue minimum; each joined the lot bought during the close
    # (then promoted to the position), whose exit had been armed before: together worth more than the
    # minimum, they stayed without an exit until the safety verification re-armed it 11.7 s later.
    report = repository_run(tmp_path, seed=27, until_s=5743)

    assert violations(report, "unprotected") == []


def test_simulation_found_entry_traded_on_the_venue_while_the_feed_stalled_and_its_event_was_late(
    tmp_path: Path,
) -> None:
    # The repository's config.yaml, seed 53 at 6561 s: the feed stalled while an entry rested; the venue's
    # market traded the rest of it and the fill event came 1.9 s late. The check for unreported fills
    # compared the entry with our own quotes only, which the stall had frozen: nothing looked for the fill.
    report = repository_run(tmp_path, seed=53, until_s=6562)

    assert violations(report, "unprotected") == []


def test_simulation_found_close_sized_short_by_lots_sales_the_ledger_had_before_the_monitor(
    tmp_path: Path,
) -> None:
    # The repository's config.yaml, seed 75 at 1937.6 s: in a flash crash, lots' closes traded when the
    # quote came; the ledger applied their sales while their events still waited in the monitor's inbox.
    # The position's re-priced close, refused once and re-sized from what is held less what the lots keep
    # (their quantities before those sales), asked 0.018781 ETH of 0.040308: 0.0215 ETH uncovered 1.98 s.
    report = repository_run(tmp_path, seed=75, until_s=1938)

    assert violations(report, "unprotected") == []


def oco_off_run(tmp_path: Path, *, seed: int, until_s: int) -> dict[str, Any]:
    """The beginning of a seed on CI's venue without OCO lists (.ci/simulate-oco-off.yaml)."""
    loaded = repository_config(".ci/simulate-oco-off.yaml")
    assert not loaded.paper.oco
    return run_until(loaded, tmp_path, seed=seed, until_s=until_s)


def test_simulation_found_sub_minimum_lot_kept_beside_a_close_with_what_the_position_kept(
    tmp_path: Path,
) -> None:
    # CI's venue without OCO lists, seed 1 at 5813 s: a stop's close left the position a remainder below
    # the lot step; a lot bought during the close was below the minimum order value alone, but not with
    # that remainder, which no close sells: 0.000018 BTC without an exit for 1.004 s, until the close ended
    # (see tests/actors/test_simulation_findings.py).
    report = oco_off_run(tmp_path, seed=1, until_s=5815)

    assert violations(report, "unprotected") == []


def test_simulation_found_fill_whose_event_crashed_the_executor_in_a_retry_after_left_unread(
    tmp_path: Path,
) -> None:
    # CI's venue without OCO lists, seed 36 at 908 s: the executor crashed (an injected handler fault) on
    # an entry's last fill event while the venue held a Retry-After; the next incarnation's re-read of
    # the entries it tracked was held off and left to the safety poll a minute later: 0.015512 BTC
    # without an exit for 1.5 s past the Retry-After (see tests/actors/test_simulation_findings.py).
    report = oco_off_run(tmp_path, seed=36, until_s=912)

    assert violations(report, "unprotected") == []


def test_simulation_found_remainders_of_lots_closes_unjoined_while_the_symbols_lot_was_being_closed(
    tmp_path: Path,
) -> None:
    # The speed measurement's config (bench/simulate.yaml, four symbols), seed 1 at 1999.75 s: in a flash
    # crash, two closing lots' re-priced closes each ended leaving 0.00501 SOL below the minimum order
    # value beside the position's close; the symbol's lot was being closed too, so they were never judged
    # together (0.01002 SOL, a sellable order) until the next fill: 1.23 s without an exit. About 4 s of
    # wall time. Since the known sales were kept across monitor restarts this seed's run no longer reaches
    # that shape (nor do 3 h of config.yaml seeds 1-37): the regression that fails without the fix is the
    # scenario of the same name in tests/actors/test_lots.py; this keeps the seed's window clean.
    report = run_until(repository_config("bench/simulate.yaml"), tmp_path, seed=1, until_s=2000)

    assert violations(report, "unprotected") == []


FAULTS_TURNED_UP = {
    "reject_rate": 0.05,
    "rate_limit_rate": 0.01,
    "ban_rate": 0.0005,
    "outcome_unknown_rate": 0.05,
    "latency_ms": 20.0,
    "feed_disconnects_per_hour": 6.0,
    "feed_stalls_per_hour": 6.0,
    "order_event_duplicate_rate": 0.05,
    "order_event_delay_rate": 0.05,
    "order_event_reorder_rate": 0.05,
    "order_event_max_delay_s": 4.0,
    "handler_exception_rate": 0.001,
    "crashes_per_hour": 4.0,
}
"""CI's faults at five to ten times their rate, order events up to 4 s late, a process crash every 15
simulated minutes."""


def faults_turned_up_run(tmp_path: Path, *, seed: int, until_s: int) -> dict[str, Any]:
    """The beginning of a seed with CI's config (.ci/simulate.yaml) and ``FAULTS_TURNED_UP``."""
    loaded = repository_config(".ci/simulate.yaml")
    simulate = loaded.simulate.model_copy(update=FAULTS_TURNED_UP)
    return run_until(loaded.model_copy(update={"simulate": simulate}), tmp_path, seed=seed, until_s=until_s)


def test_simulation_found_entry_reached_in_a_retry_after_left_unread_when_it_ended(tmp_path: Path) -> None:
    # CI's config with its faults turned up, seed 4 at 83.6 s: the market traded a resting entry's rest
    # inside a Retry-After and its event came 3.4 s late; once reads were allowed the quote that reached
    # the entry was gone: 0.016713 ETH without an exit for 1.06 s past the Retry-After (see
    # tests/actors/test_simulation_findings.py).
    report = faults_turned_up_run(tmp_path, seed=4, until_s=85)

    assert violations(report, "unprotected") == []


def test_simulation_found_read_dated_by_its_answer_and_entry_adopted_from_its_event_reported_whole(
    tmp_path: Path,
) -> None:
    # CI's config with its faults turned up, seed 6. At 1119.7 s: the executor read a resting entry while
    # the venue traded it at the next quote; the read was dated by its answer, later than that quote, so
    # the check for unreported fills took the quote as seen and the late event left the fill 1.15 s
    # without an exit. At 1883.5 s: the process crashed while an entry was half filled; the restarted
    # executor heard of it first by its next fill event and reported its whole cumulative fill, the half
    # the reconciliation had protected included: exits for 0.035 ETH more than was held (oversells).
    report = faults_turned_up_run(tmp_path, seed=6, until_s=1884)

    assert violations(report, "unprotected") == violations(report, "oversell") == []
