"""The audio-only fallback's decisions (media/fallback.py), with time passed in."""

from __future__ import annotations

from media.fallback import Change, FallbackPolicy, VideoFallback

VIDEO = 300_000.0  # bit/s forwarded


def run(fallback: VideoFallback, estimate: int | None, start: float, end: float,
        step: float = 0.5, video: float = VIDEO) -> list[tuple[float, Change]]:
    """Feed an estimate every 0.5 s (None: no REMB) and collect the changes."""
    changes = []
    t = start
    while t < end:
        if estimate is not None:
            fallback.estimate(estimate, t)
        change = fallback.check(video, t)
        if change is not None:
            changes.append((t, change))
        t = round(t + step, 6)
    return changes


def test_a_link_that_carries_the_video_is_left_alone() -> None:
    fallback = VideoFallback()
    assert run(fallback, 250_000, 0.0, 60.0) == []  # 0.83 of the video: enough
    assert not fallback.paused


def test_video_pauses_after_the_estimate_stays_too_low_then_is_tried_again() -> None:
    fallback = VideoFallback()
    changes = run(fallback, 120_000, 0.0, 4.0)  # 0.4 of the video
    assert changes == []
    changes = run(fallback, 120_000, 4.0, 4.5)
    assert changes == [(4.0, Change.PAUSE)] and fallback.paused
    # while paused, estimates (if any) are ignored and nothing changes until the retry
    assert run(fallback, 1_000_000, 4.5, 14.0) == []
    assert run(fallback, None, 14.0, 14.5) == [(14.0, Change.RESUME)]
    assert not fallback.paused and fallback.pauses == 1


def test_a_retry_that_fails_doubles_the_wait_up_to_the_maximum() -> None:
    fallback = VideoFallback(FallbackPolicy(max_retry=30.0))
    changes = run(fallback, 100_000, 0.0, 120.0)
    kinds = [change for _, change in changes]
    assert kinds == [Change.PAUSE, Change.RESUME] * 4 + [Change.PAUSE]
    times = [at for at, _ in changes]
    waits = [times[i + 1] - times[i] for i in range(0, len(times) - 1, 2)]
    assert waits == [10.0, 20.0, 30.0, 30.0]  # each retry held 4.5 s, then failed
    assert fallback.pauses == 5


def test_a_retry_that_holds_resets_the_wait() -> None:
    fallback = VideoFallback()
    run(fallback, 100_000, 0.0, 4.5)  # paused at 4.0
    run(fallback, 100_000, 4.5, 19.0)  # resumed at 14.0, paused again at 18.5
    assert fallback.paused and fallback.retry == 20.0
    run(fallback, None, 19.0, 39.0)  # resumed at 38.5
    assert not fallback.paused
    run(fallback, 400_000, 39.0, 70.0)  # holds for 30 s
    assert fallback.retry == 10.0


def test_no_estimate_a_stale_one_or_no_video_never_pauses() -> None:
    fallback = VideoFallback(FallbackPolicy(max_age=2.0))
    assert run(fallback, None, 0.0, 30.0) == []
    fallback.estimate(50_000, 30.0)
    assert run(fallback, None, 30.0, 60.0) == []  # stale after 2 s, before pause_after
    assert run(fallback, 50_000, 60.0, 90.0, video=0.0) == []  # publisher muted
    assert not fallback.paused


def test_the_fallback_can_be_switched_off() -> None:
    fallback = VideoFallback(FallbackPolicy(enabled=False))
    assert run(fallback, 10_000, 0.0, 30.0) == []
