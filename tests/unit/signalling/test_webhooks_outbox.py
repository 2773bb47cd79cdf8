"""The webhook outbox (sans-IO): what to attempt when, backoff, give-up, limits."""

from __future__ import annotations

import pytest

from signalling.webhooks_outbox import Attempt, GiveUp, Outbox, Retry, RetryPolicy

A = "http://a.example/hook"
B = "http://b.example/hook"
POLICY = RetryPolicy(max_attempts=4, base_s=1.0, cap_s=5.0)


def test_backoff_doubles_is_capped_and_jitter_stays_in_the_upper_half() -> None:
    steps = [POLICY.delay(n, 0.999999) for n in range(1, 7)]
    assert steps == pytest.approx([1.0, 2.0, 4.0, 5.0, 5.0, 5.0], rel=1e-5)
    assert [POLICY.delay(n, 0.0) for n in range(1, 5)] == [0.5, 1.0, 2.0, 2.5]
    assert POLICY.delay(10_000, 0.5) == pytest.approx(3.75)  # no overflow, capped


def test_an_event_is_due_at_once_for_every_receiver_and_delivered_once() -> None:
    box = Outbox(POLICY)
    box.add("e1", b"{}", [A, B], now=10.0)
    attempts = box.due(10.0)
    assert {(a.event_id, a.receiver, a.number) for a in attempts} == {("e1", A, 1), ("e1", B, 1)}
    assert box.due(10.0) == []  # in flight: not handed out twice
    for attempt in attempts:
        box.succeeded(attempt)
    assert len(box) == 0 and box.next_due() is None and box.pending() == {}


def test_a_failure_retries_after_the_backoff_then_gives_up_after_max_attempts() -> None:
    box = Outbox(POLICY)
    box.add("e1", b"{}", [A], now=0.0)
    now, waits = 0.0, []
    for number in range(1, 4):
        (attempt,) = box.due(now)
        assert attempt.number == number
        decision = box.failed(attempt, now, jitter=0.999999)
        assert isinstance(decision, Retry)
        waits.append(decision.at - now)
        assert box.due(decision.at - 0.01) == []  # not before its time
        assert box.next_due() == decision.at
        now = decision.at
    assert waits == pytest.approx([1.0, 2.0, 4.0], rel=1e-5)
    (last,) = box.due(now)
    assert box.failed(last, now, jitter=0.5) == GiveUp(4)
    assert len(box) == 0


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    box = Outbox(POLICY)
    box.add("e1", b"{}", [A], now=0.0)
    (attempt,) = box.due(0.0)
    assert box.failed(attempt, 0.0, jitter=0.0, retry_after=3.0) == Retry(3.0)
    (attempt,) = box.due(3.0)
    assert box.failed(attempt, 3.0, jitter=0.0, retry_after=3600.0) == Retry(8.0)


def test_a_receiver_gets_at_most_max_in_flight_attempts_oldest_first() -> None:
    box = Outbox(POLICY, max_in_flight=2)
    for n in range(5):
        box.add(f"e{n}", b"{}", [A], now=0.0)
    box.add("b0", b"{}", [B], now=0.0)
    first = box.due(0.0)
    assert [(a.event_id, a.receiver) for a in first] == [("e0", A), ("e1", A), ("b0", B)]
    assert box.next_due() is None  # A is full, B has nothing left: woken by outcomes
    box.succeeded(first[0])
    assert box.next_due() == 0.0
    assert [a.event_id for a in box.due(0.0)] == ["e2"]


def test_one_receivers_failures_do_not_hold_back_another() -> None:
    box = Outbox(POLICY)
    box.add("e1", b"{}", [A, B], now=0.0)
    to_a, to_b = box.due(0.0)
    box.failed(to_a, 0.0, jitter=0.0)
    box.succeeded(to_b)
    assert box.pending() == {"e1": (b"{}", [A])}


def test_a_full_outbox_drops_its_oldest_deliveries_not_in_flight() -> None:
    box = Outbox(POLICY, max_deliveries=3)
    box.add("e0", b"0", [A], now=0.0)
    (in_flight,) = box.due(0.0)
    box.add("e1", b"1", [A], now=1.0)
    box.add("e2", b"2", [A], now=2.0)
    dropped = box.add("e3", b"3", [A], now=3.0)
    assert [d.event_id for d in dropped] == ["e1"]
    assert list(box.pending()) == ["e0", "e2", "e3"]
    box.succeeded(in_flight)


def test_an_attempt_cut_short_by_a_stop_does_not_count_and_stale_reports_are_ignored(
) -> None:
    box = Outbox(POLICY)
    box.add("e1", b"{}", [A], now=0.0)
    (attempt,) = box.due(0.0)
    box.released(attempt)
    (again,) = box.due(0.0)
    assert again.number == 1
    box.succeeded(again)
    box.succeeded(again)  # a second report of the same attempt changes nothing
    assert box.failed(Attempt("e1", A, b"{}", 1), 0.0, 0.0) == GiveUp(1)
    box.add("e1", b"{}", [A], now=1.0)  # re-added (a journal replay): queued again
    assert len(box) == 1
