"""LateBurst: after a quiet spell, packets sent long ago are dropped, a resuming source not."""

from __future__ import annotations

from media.lateness import LateBurst

RATE = 90000


def test_a_burst_queued_during_an_outage_is_dropped_and_the_source_resumes_after() -> None:
    late = LateBurst(RATE)
    ts = 1000
    for i in range(30):  # a normal stream: 30 fps, sent and received in step
        assert not late.late(ts + i * 3000, i / 30)
    last_at, last_ts = 29 / 30, ts + 29 * 3000
    # the link was down 5 s; what was sent in its first 2 s arrives at once when it returns
    for i in range(1, 60):
        assert late.late(last_ts + i * 3000, last_at + 5.0 + i * 0.001)
    assert late.dropped == 59
    # then packets sent now: on time
    assert not late.late(last_ts + 151 * 3000, last_at + 5.04)
    assert not late.late(last_ts + 152 * 3000, last_at + 5.07)


def test_a_source_that_resumes_after_a_pause_is_not_judged_late() -> None:
    late = LateBurst(RATE)
    assert not late.late(0, 0.0)
    assert not late.late(3 * RATE, 3.0)  # 3 s quiet (muted, DTX), stamped with the time
    late = LateBurst(RATE)
    start = 2**32 - 3000
    assert not late.late(start, 0.0)
    assert not late.late((start + 2 * RATE) % 2**32, 2.0)  # across the 32-bit wrap
    assert late.dropped == 0


def test_judging_ends_after_its_window() -> None:
    late = LateBurst(RATE, window_s=2.0)
    assert not late.late(0, 0.0)
    assert late.late(3000, 5.0)  # late by ~5 s
    assert late.late(6000, 6.9)
    assert not late.late(9000, 7.1)  # past the window: accepted, the new reference
    assert not late.late(12000, 7.13)
