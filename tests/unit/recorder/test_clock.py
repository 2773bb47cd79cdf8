"""The session clock: arrival time, then the sender-report fit, slewed; new SSRCs and
re-anchors continue the track; pts never regress."""

from __future__ import annotations

import itertools

from recorder.clock import SLEW, SenderClock, TrackClock

RATE = 90000


def feed(clock: TrackClock, ssrc: int, start_ts: int, start_at: float, frames: int,
         fps: float = 30.0, delay: float = 0.0) -> list[int]:
    out = []
    for i in range(frames):
        pts, _ = clock.pts(ssrc, (start_ts + round(i * RATE / fps)) & 0xFFFFFFFF,
                           start_at + i / fps + delay)
        out.append(pts)
    return out


def test_before_any_sender_report_pts_follow_arrival_time_from_the_first_packet() -> None:
    clock = TrackClock(RATE, SenderClock())
    pts = feed(clock, 1, 4_000_000_000, 2.0, 60)  # wraps past 2^32
    assert abs(pts[0] / RATE - 2.0) < 1e-6
    assert abs(pts[-1] / RATE - (2.0 + 59 / 30)) < 1e-4
    assert all(b > a for a, b in itertools.pairwise(pts))


def test_a_sender_report_is_slewed_in_at_most_a_few_ms_per_second() -> None:
    sender = SenderClock()
    clock = TrackClock(RATE, sender)
    feed(clock, 1, 0, 1.0, 30, delay=0.03)  # arrival-based, the first packets 30 ms late
    clock.sender_report(1, 5000.0 + 0.5, RATE // 2)  # rtp 0 was sent at NTP 5000.0
    first = clock.pts(1, RATE, 2.03)[0] / RATE
    assert abs(first - 2.03) < 0.001  # no step at the report
    # from now on packets arrive on time: the mapping is 30 ms late and moves back slowly
    later = [clock.pts(1, RATE + i * 3000, 2.0 + i / 30)[0] / RATE - i / 30
             for i in range(1, 301)]
    drift = [abs(b - a) for a, b in itertools.pairwise(later)]
    assert max(drift) <= SLEW / 30 + 1e-6
    assert abs(later[-1] - 2.0) < 0.002  # caught up after 10 s (30 ms at 5 ms/s)
    assert 0.005 < later[30] - 2.0 < 0.03  # but not at once


def test_audio_and_video_of_one_participant_share_the_sender_clock() -> None:
    sender = SenderClock()
    audio, video = TrackClock(48000, sender), TrackClock(RATE, sender)
    # both captured at sender NTP 100.0 + k; audio arrives 5 ms after, video 25 ms after
    # (encoding), first packets at session time 3.0
    for k in range(400):
        t = k * 0.02
        audio.pts(7, 960 * k, 3.0 + t + 0.005)
        if k % 2 == 0:
            video.pts(8, 1800 * k, 3.0 + t + 0.025)
        if k % 50 == 0:
            audio.sender_report(7, 100.0 + t, 960 * k)
            video.sender_report(8, 100.0 + t, 1800 * k)
    a = audio.pts(7, 960 * 400, 11.005)[0] / 48000
    v = video.pts(8, 1800 * 400, 11.025)[0] / RATE
    assert abs(a - v) < 0.002  # the same capture instant, the same session time


def test_a_new_ssrc_continues_the_track_without_a_regression() -> None:
    clock = TrackClock(RATE, SenderClock())
    first = feed(clock, 1, 1000, 1.0, 30)
    second = feed(clock, 2, 777, 1.5, 30)  # a reconnect with overlapping arrival
    assert second[0] > first[-1]
    assert all(b > a for a, b in itertools.pairwise(second))
    third = feed(clock, 3, 5, 10.0, 3)
    assert abs(third[0] / RATE - 10.0) < 1e-6  # the gap is kept


def test_rtp_jumping_after_a_gap_re_anchors_on_arrival_time() -> None:
    clock = TrackClock(RATE, SenderClock())
    feed(clock, 1, 0, 1.0, 30)
    pts, changes = clock.pts(1, 30 * 3000 + 7 * RATE, 4.0)  # RTP says +7 s, arrival +3 s
    assert [c.kind for c in changes] == ["re_anchor"]
    assert abs(pts / RATE - 4.0) < 1e-6
    pts2, changes2 = clock.pts(1, 30 * 3000 + 7 * RATE + 3000, 4.0 + 1 / 30)
    assert not changes2 and pts2 > pts


def test_a_gap_that_rtp_agrees_with_is_kept_as_a_gap() -> None:
    clock = TrackClock(RATE, SenderClock())
    feed(clock, 1, 0, 1.0, 30)
    pts, changes = clock.pts(1, 30 * 3000 + 5 * RATE, 1.0 + 1 + 5)
    assert not changes
    assert abs(pts / RATE - 7.0) < 1e-3
