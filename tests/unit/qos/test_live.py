"""Live participant quality from stream counters (no event loop)."""

from __future__ import annotations

from qos.live import ParticipantQuality, StreamCounters
from qos.score import Quality


def video(received: int, lost: int = 0, jitter: float = 900.0, rtt: float | None = 0.02) -> (
    StreamCounters
):
    return StreamCounters(received, lost, jitter, 90000, rtt)


def test_nothing_to_judge_alone_in_a_room() -> None:
    q = ParticipantQuality()
    report = q.update(0.0, [], [])
    assert report.quality is None and not report.changed


def test_a_clean_stream_is_excellent_and_told_once() -> None:
    q = ParticipantQuality()
    q.update(0.0, [video(0)], [])
    first = q.update(1000.0, [video(100)], [video(100)])
    assert first.quality is Quality.EXCELLENT and first.changed
    assert first.up.loss == 0.0 and first.up.jitter_ms == 10.0 and first.down.rtt_ms == 20.0
    again = q.update(2000.0, [video(200)], [video(200)])
    assert again.quality is Quality.EXCELLENT and not again.changed


def test_heavy_loss_downstream_falls_fast_and_recovers_slowly() -> None:
    q = ParticipantQuality()
    q.update(0.0, [video(0)], [video(0)])
    q.update(1000.0, [video(100)], [video(100)])
    t, up, down, lost = 1000.0, 100, 100, 0
    for _ in range(3):  # 3 s at 20% loss downstream
        t, up, down, lost = t + 1000, up + 100, down + 80, lost + 20
        bad = q.update(t, [video(up)], [video(down, lost)])
    assert bad.quality is Quality.POOR and bad.down.loss is not None and bad.down.loss > 0.1
    t, up, down = t + 1000, up + 100, down + 100  # clean again, window still holds the loss
    assert q.update(t, [video(up)], [video(down, lost)]).quality is not Quality.EXCELLENT
    for _ in range(10):
        t, up, down = t + 1000, up + 100, down + 100
        report = q.update(t, [video(up)], [video(down, lost)])
    assert report.quality is not Quality.EXCELLENT  # recovers slowly (tau 10 s)
    for _ in range(30):
        t, up, down = t + 1000, up + 100, down + 100
        report = q.update(t, [video(up)], [video(down, lost)])
    assert report.quality is Quality.EXCELLENT


def test_upstream_media_that_stops_for_two_seconds_is_lost() -> None:
    q = ParticipantQuality()
    q.update(0.0, [video(0)], [])
    assert q.update(1000.0, [video(100)], []).quality is Quality.EXCELLENT
    assert q.update(2000.0, [video(100)], []).quality is Quality.EXCELLENT  # 1 s: not yet
    report = q.update(3000.0, [video(100)], [])
    assert report.quality is Quality.LOST and report.changed


def test_receiver_reports_slower_than_the_updates_are_not_a_loss_of_media() -> None:
    # Chrome reports on audio every 5 s ±50%; aiortc every 0.5-1.5 s. Updates every second
    # see the same counters several times in a row; that is not "media stopped".
    q = ParticipantQuality()
    up, down = 0, 0
    for second in range(60):
        up += 50
        if second % 7 == 0:  # a receiver report every 7 s
            down = up
        report = q.update(1000.0 * second, [video(up)], [video(down)])
        assert report.quality is (Quality.EXCELLENT if second else None), second


def test_receiver_reports_that_stop_for_eight_seconds_are_lost() -> None:
    q = ParticipantQuality()
    q.update(0.0, [video(0)], [video(0)])
    q.update(1000.0, [video(50)], [video(50)])
    qualities = [q.update(1000.0 * s, [video(50 * s)], [video(50)]).quality
                 for s in range(2, 10)]
    assert qualities == [Quality.EXCELLENT] * 7 + [Quality.LOST]


def test_a_negative_round_trip_time_is_ignored() -> None:
    q = ParticipantQuality()
    q.update(0.0, [], [video(0, rtt=-16.0)])
    report = q.update(1000.0, [], [video(100, rtt=-16.0)])
    assert report.down.rtt_ms is None and report.quality is Quality.EXCELLENT
