"""The session clock: a new SSRC's frames wait for its first sender report and are stamped
through it (or, without one, anchored on the least delayed frame); later changes of mapping
are slewed; new SSRCs and re-anchors continue the track; pts never regress."""

from __future__ import annotations

import itertools

from recorder.clock import HOLD_FRAMES, HOLD_S, SLEW, SenderClock, TrackClock

RATE = 90000
NTP = 5000.0  # the sender's NTP clock reads NTP + t at session time t (plus the path delay)


def stamp(clock: TrackClock[int], ssrc: int, ts: int, at: float) -> list[int]:
    return [pts for _, pts in clock.push(0, ssrc, ts & 0xFFFFFFFF, at).frames]


def feed(clock: TrackClock[int], ssrc: int, start_ts: int, start_at: float, frames: int,
         fps: float = 30.0, delay: float = 0.0, rate: int = RATE) -> list[int]:
    out = []
    for i in range(frames):
        out += stamp(clock, ssrc, start_ts + round(i * rate / fps), start_at + i / fps + delay)
    return out


def test_a_new_ssrc_is_held_until_its_first_sender_report_and_stamped_through_it() -> None:
    clock: TrackClock[int] = TrackClock(RATE, SenderClock())
    # captured at 1.0 + i/30; the first three frames come at once 70 ms late (a starting
    # encoder), the rest 5 ms after capture
    out = [stamp(clock, 1, 3000 * i, 1.08 if i < 3 else 1.0 + i / 30 + 0.005)
           for i in range(20)]
    assert all(x == [] for x in out)  # held
    clock.sender_report(1, NTP + 1.0 + 15 / 30, 15 * 3000)  # frame 15 sent at its capture
    released = stamp(clock, 1, 20 * 3000, 1.0 + 20 / 30 + 0.005)
    assert len(released) == 21
    # each frame at its capture time plus the path's floor (5 ms), the late ones too
    for i, pts in enumerate(released):
        assert abs(pts / RATE - (1.0 + i / 30 + 0.005)) < 0.001, i
    assert stamp(clock, 1, 21 * 3000, 1.0 + 21 / 30 + 0.005) == [released[-1] + 3000]


def test_audio_and_video_starting_late_by_different_amounts_are_in_sync_at_once() -> None:
    # the measured cause of 50 ms A/V offsets: the first video frames came 70 ms late, the
    # first audio 20 ms late; anchoring each on its first packet put video 50 ms behind
    sender = SenderClock()
    audio: TrackClock[int] = TrackClock(48000, sender)
    video: TrackClock[int] = TrackClock(RATE, sender)
    a_pts: dict[int, int] = {}
    v_pts: dict[int, int] = {}
    for k in range(100):  # captured at k * 20 ms: audio every step, video every other
        t = k * 0.02
        a_pts.update(audio.push(k, 7, 960 * k, 0.022 if k < 2 else t + 0.002).frames)
        if k % 2 == 0:
            v_pts.update(video.push(k, 8, 1800 * k, 0.076 if k < 6 else t + 0.006).frames)
        if k == 40:
            audio.sender_report(7, NTP + t + 0.001, 960 * k)  # sent 1 ms after capture
        if k == 60:
            video.sender_report(8, NTP + t + 0.004, 1800 * k)  # 4 ms (encoding)
    for k in range(0, 100, 2):
        if k in a_pts and k in v_pts:
            offset = v_pts[k] / RATE - a_pts[k] / 48000
            assert abs(offset) < 0.005, (k, offset)
    assert len(a_pts) > 90 and len(v_pts) > 40


def test_a_re_published_track_continues_through_its_first_report_with_no_step() -> None:
    sender = SenderClock()
    clock: TrackClock[int] = TrackClock(RATE, sender)
    first = feed(clock, 1, 1000, 1.0, 40, delay=0.005)
    clock.sender_report(1, NTP + 1.0 + 30 / 30, 1000 + 30 * 3000)
    first += feed(clock, 1, 1000 + 40 * 3000, 1.0 + 40 / 30, 20, delay=0.005)
    assert sender.offset is not None
    # a new uplink 3 s later: new SSRC, new RTP origin, the first frame 60 ms late
    second = stamp(clock, 2, 777, 4.06)
    second += feed(clock, 2, 777 + 3000, 4.0 + 1 / 30, 10, delay=0.005)
    clock.sender_report(2, NTP + 4.0 + 5 / 30, 777 + 5 * 3000)
    second += stamp(clock, 2, 777 + 11 * 3000, 4.0 + 11 / 30 + 0.005)
    assert len(second) == 12 and second[0] > first[-1]
    assert abs(second[0] / RATE - 4.005) < 0.001  # on the sender's clock, not the late arrival
    assert clock.correction == 0.0


def test_without_a_report_the_run_is_anchored_on_its_least_delayed_frame() -> None:
    clock: TrackClock[int] = TrackClock(RATE, SenderClock())
    out = []
    for i in range(70):  # a burst: the first three frames at once, 80, 47 and 13 ms late
        out += stamp(clock, 1, 4_000_000_000 + 3000 * i,  # wraps past 2^32
                     2.08 if i < 3 else 2.0 + i / 30 + 0.01)
        assert bool(out) == (i >= 63)  # released when the hold (2 s) ran out
    assert len(out) == 70
    assert abs(out[0] / RATE - 2.01) < 1e-4  # the floor: 10 ms after capture
    assert all(b - a == 3000 for a, b in itertools.pairwise(out))


def test_the_hold_is_bounded_in_frames_and_flushed_on_demand() -> None:
    clock: TrackClock[int] = TrackClock(48000, SenderClock(), hold_s=60.0)
    out = [stamp(clock, 1, 960 * i, 1.0 + i * 0.001) for i in range(HOLD_FRAMES)]
    assert sum(map(len, out)) == HOLD_FRAMES and out[-1]
    held: TrackClock[int] = TrackClock(RATE, SenderClock())
    assert feed(held, 1, 0, 1.0, 10) == []
    assert len(held.flush().frames) == 10  # a mute, a detach or the end
    assert held.flush().frames == []
    assert HOLD_S <= 2.0


def test_a_later_report_is_slewed_in_at_most_a_few_ms_per_second() -> None:
    sender = SenderClock()
    clock: TrackClock[int] = TrackClock(RATE, sender, hold_s=0.5)
    # no report in the hold: anchored on arrival, which is 30 ms late for every frame
    feed(clock, 1, 0, 1.0, 30, delay=0.03)
    clock.sender_report(1, NTP + 0.5, RATE // 2)  # rtp 0 was captured at NTP 5000.0
    first = stamp(clock, 1, RATE, 2.03)[0] / RATE
    assert abs(first - 2.03) < 0.001  # no step at the report
    # from now on packets arrive on time: the mapping is 30 ms late and moves back slowly
    later = [stamp(clock, 1, RATE + i * 3000, 2.0 + i / 30)[0] / RATE - i / 30
             for i in range(1, 301)]
    drift = [abs(b - a) for a, b in itertools.pairwise(later)]
    assert max(drift) <= SLEW / 30 + 1e-6
    assert abs(later[-1] - 2.0) < 0.002  # caught up after 10 s (30 ms at 5 ms/s)
    assert 0.005 < later[30] - 2.0 < 0.03  # but not at once


def test_a_report_before_its_ssrcs_first_packet_is_kept_and_ntp_zero_is_ignored() -> None:
    clock: TrackClock[int] = TrackClock(RATE, SenderClock())
    clock.sender_report(3, 0.0, 0)  # aiortc before its first packet: no mapping
    clock.sender_report(3, NTP + 1.0, 9000)
    out = stamp(clock, 3, 9000, 1.02)
    assert len(out) == 1 and abs(out[0] / RATE - 1.02) < 1e-6


def test_a_new_ssrc_continues_the_track_without_a_regression() -> None:
    clock: TrackClock[int] = TrackClock(RATE, SenderClock(), hold_s=0.1)
    first = feed(clock, 1, 1000, 1.0, 30)
    second = feed(clock, 2, 777, 1.5, 30)  # a reconnect with overlapping arrival
    assert second[0] > first[-1]
    assert all(b > a for a, b in itertools.pairwise(first + second))
    third = feed(clock, 3, 5, 10.0, 6) + [pts for _, pts in clock.flush().frames]
    assert abs(third[0] / RATE - 10.0) < 1e-6  # the gap is kept


def test_rtp_jumping_after_a_gap_re_anchors_on_arrival_time() -> None:
    clock: TrackClock[int] = TrackClock(RATE, SenderClock(), hold_s=0.1)
    feed(clock, 1, 0, 1.0, 30)
    pushed = clock.push(0, 1, 30 * 3000 + 7 * RATE, 4.0)  # RTP says +7 s, arrival +3 s
    assert [c.kind for c in pushed.changes] == ["re_anchor"]
    pts = pushed.frames[0][1]
    assert abs(pts / RATE - 4.0) < 1e-6
    again = clock.push(0, 1, 30 * 3000 + 7 * RATE + 3000, 4.0 + 1 / 30)
    assert not again.changes and again.frames[0][1] > pts


def test_a_gap_that_rtp_agrees_with_is_kept_as_a_gap() -> None:
    clock: TrackClock[int] = TrackClock(RATE, SenderClock(), hold_s=0.1)
    feed(clock, 1, 0, 1.0, 30)
    pushed = clock.push(0, 1, 30 * 3000 + 5 * RATE, 1.0 + 1 + 5)
    assert not pushed.changes
    assert abs(pushed.frames[0][1] / RATE - 7.0) < 1e-3
