"""Per-connection sequence numbers: gaps, duplicates and late frames."""

from autohedge.core.sequence import SequenceTracker


def test_sequence_in_order_frames_are_new_without_gaps() -> None:
    tracker = SequenceTracker()
    assert all(tracker.observe(n) for n in range(5)) and tracker.gaps == 0


def test_sequence_jump_counts_one_gap_and_the_missed_frames() -> None:
    tracker = SequenceTracker()
    tracker.observe(1)
    assert tracker.observe(5) and (tracker.gaps, tracker.missed) == (1, 3)


def test_sequence_duplicate_and_late_frames_are_stale() -> None:
    tracker = SequenceTracker()
    tracker.observe(3)
    assert not tracker.observe(3) and not tracker.observe(2) and tracker.stale == 2
