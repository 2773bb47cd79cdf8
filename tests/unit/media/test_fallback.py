"""The audio-only fallback's decisions (media/fallback.py), with time passed in."""

from __future__ import annotations

from media.fallback import Change, FallbackPolicy, StreamView, VideoBudget, VideoFallback

STEP = 0.25  # the node's tick


class Video:
    """One video sent to the subscriber: its rate and the estimate the subscriber sends."""

    def __init__(self, key: str, rate: float, estimate: int | None, tutor: bool = False,
                 policy: FallbackPolicy | None = None) -> None:
        self.key, self.rate, self.estimate, self.tutor = key, rate, estimate, tutor
        self.state = VideoFallback(policy)

    def view(self) -> StreamView:
        return StreamView(self.key, self.tutor, self.rate, self.state)


def run(budget: VideoBudget, videos: list[Video], start: float, end: float
        ) -> list[tuple[float, str, Change]]:
    """Tick from start to end; each video's estimate arrives every tick (None: no REMB)."""
    changes = []
    t = start
    while t < end:
        for video in videos:
            if video.estimate is not None:
                video.state.estimate(video.estimate, t)
        changes += [(t, str(key), change) for key, change in
                    budget.check([v.view() for v in videos], t)]
        t = round(t + STEP, 6)
    return changes


def test_a_link_that_carries_the_videos_is_left_alone() -> None:
    budget = VideoBudget()
    videos = [Video("tutor", 300_000, 280_000, tutor=True), Video("lee", 300_000, 260_000)]
    assert run(budget, videos, 0.0, 60.0) == []  # 540 of 600 kbit/s: 0.9, enough


def test_one_video_too_big_for_the_link_is_paused_then_tried_again() -> None:
    budget = VideoBudget()
    tutor = Video("tutor", 254_000, 120_000, tutor=True)  # 0.47 of its rate
    assert run(budget, [tutor], 0.0, 4.0) == []
    assert run(budget, [tutor], 4.0, 4.25) == [(4.0, "tutor", Change.PAUSE)]
    assert tutor.state.paused
    assert run(budget, [tutor], 4.25, 14.0) == []  # estimates ignored while paused
    assert run(budget, [tutor], 14.0, 14.25) == [(14.0, "tutor", Change.RESUME)]
    assert not tutor.state.paused and tutor.state.pauses == 1


def test_learners_videos_go_before_the_tutors_largest_first_one_at_a_time() -> None:
    budget = VideoBudget()
    tutor = Video("tutor", 250_000, 200_000, tutor=True)
    small = Video("ann", 200_000, 120_000)
    big = Video("lee", 300_000, 130_000)
    videos = [tutor, small, big]  # 450 of 750 kbit/s: 0.6, over-full
    changes = run(budget, videos, 0.0, 8.5)
    assert changes[0] == (4.0, "lee", Change.PAUSE)
    # 320 of 450 still over-full: the next learner goes 4 s later, never the tutor
    assert changes[1] == (8.25, "ann", Change.PAUSE)
    assert not tutor.state.paused


def test_the_budget_counts_all_videos_not_each_alone() -> None:
    # each video alone looks fine (0.65 and 0.8 of its rate), together they do not fit
    budget = VideoBudget(FallbackPolicy(ratio=0.8))
    videos = [Video("tutor", 300_000, 240_000, tutor=True), Video("lee", 300_000, 195_000)]
    assert run(budget, videos, 0.0, 4.25) == [(4.0, "lee", Change.PAUSE)]


def test_a_retry_that_fails_doubles_the_wait_up_to_the_maximum() -> None:
    budget = VideoBudget(FallbackPolicy(max_retry=30.0))
    tutor = Video("tutor", 250_000, 100_000, tutor=True, policy=FallbackPolicy(max_retry=30.0))
    changes = run(budget, [tutor], 0.0, 120.0)
    kinds = [change for _, _, change in changes]
    assert kinds == [Change.PAUSE, Change.RESUME] * 4 + [Change.PAUSE]
    times = [at for at, _, _ in changes]
    waits = [times[i + 1] - times[i] for i in range(0, len(times) - 1, 2)]
    assert waits == [10.0, 20.0, 30.0, 30.0]  # each try held ~4 s, then failed


def test_a_retry_that_holds_resets_the_wait() -> None:
    budget = VideoBudget()
    tutor = Video("tutor", 250_000, 100_000, tutor=True)
    run(budget, [tutor], 0.0, 19.0)  # paused at 4, tried at 14, paused again at 19
    assert tutor.state.paused and tutor.state.retry == 20.0
    tutor.estimate = None
    run(budget, [tutor], 19.0, 39.5)  # tried again at 39
    assert not tutor.state.paused
    tutor.estimate = 400_000  # the link got better
    run(budget, [tutor], 39.5, 70.0)
    assert not tutor.state.paused and tutor.state.retry == 10.0


def test_no_estimate_a_stale_one_or_no_video_never_pauses() -> None:
    budget = VideoBudget()
    assert run(budget, [Video("tutor", 300_000, None, tutor=True)], 0.0, 30.0) == []
    stale = Video("lee", 300_000, None, policy=FallbackPolicy(max_age=2.0))
    stale.state.estimate(50_000, 30.0)
    assert run(VideoBudget(), [stale], 30.0, 60.0) == []  # stale after 2 s < pause_after
    assert run(VideoBudget(), [Video("ann", 0.0, 50_000)], 0.0, 30.0) == []  # muted


def test_the_fallback_can_be_switched_off() -> None:
    budget = VideoBudget(FallbackPolicy(enabled=False))
    assert run(budget, [Video("tutor", 300_000, 10_000, tutor=True)], 0.0, 30.0) == []


def test_as_many_videos_as_it_takes_are_paused_at_once_and_tried_again_one_at_a_time() -> None:
    budget = VideoBudget()
    tutor = Video("tutor", 250_000, 150_000, tutor=True)
    ann = Video("ann", 300_000, 100_000)
    lee = Video("lee", 300_000, 100_000)
    changes = run(budget, [tutor, ann, lee], 0.0, 4.25)
    # the estimates add up to 350 kbit/s: both learners go, the tutor's 250 fits
    assert sorted(key for _, key, _ in changes) == ["ann", "lee"]
    assert {at for at, _, _ in changes} == {4.0}
    tutor.estimate = 300_000
    changes = run(budget, [tutor, ann, lee], 4.25, 21.0)
    resumes = [(at, key) for at, key, change in changes if change is Change.RESUME]
    assert resumes[0][0] == 14.0
    assert resumes[1][0] - resumes[0][0] >= 6.0  # retry_spacing
