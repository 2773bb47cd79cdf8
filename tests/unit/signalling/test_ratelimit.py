"""The per-socket token bucket, with time passed in (no event loop)."""

from __future__ import annotations

import pytest

from signalling.ratelimit import Admission, TokenBucket


def test_a_burst_is_accepted_then_refused_then_closed() -> None:
    bucket = TokenBucket(rate=10.0, burst=5, now=0.0)
    taken = [bucket.take(0.0) for _ in range(12)]
    assert taken[:5] == [Admission.ACCEPT] * 5
    assert taken[5:9] == [Admission.REFUSE] * 4
    assert taken[9] is Admission.CLOSE  # `burst` requests of debt


def test_a_client_that_keeps_to_the_rate_is_never_refused() -> None:
    bucket = TokenBucket(rate=10.0, burst=2, now=0.0)
    assert all(bucket.take(i * 0.1) is Admission.ACCEPT for i in range(1000))


def test_a_refused_client_that_slows_down_recovers() -> None:
    bucket = TokenBucket(rate=10.0, burst=5, now=0.0)
    for _ in range(8):
        bucket.take(0.0)
    assert bucket.take(0.0) is Admission.REFUSE  # 4 in debt
    assert bucket.take(1.0) is Admission.ACCEPT  # a second later: refilled, capped at burst
    assert bucket.tokens == pytest.approx(4.0)


def test_a_flood_is_closed_after_at_most_twice_the_burst() -> None:
    bucket = TokenBucket(rate=20.0, burst=100, now=0.0)
    admissions = [bucket.take(i * 1e-5) for i in range(10_000)]
    closed_at = admissions.index(Admission.CLOSE)
    assert admissions.count(Admission.ACCEPT) <= 101 and closed_at <= 201


def test_time_going_backwards_adds_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=10.0)
    assert [bucket.take(10.0) for _ in range(3)] == [Admission.ACCEPT] * 3
    assert bucket.take(5.0) is Admission.REFUSE
    assert bucket.take(10.0) is Admission.REFUSE  # no refill for the time that went back


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (1.0, 0), (-1.0, 5)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst, now=0.0)
