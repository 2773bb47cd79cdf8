"""A gate run's figures from series written down by hand (no node, no event loop).

Times are seconds on the run's monotonic clock; the measurement starts at 100 s unless a
test says otherwise. Every expected number is worked out in the test's comments.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from qos.freeze import Stall, StallKind
from qos.gate import figures
from qos.gate.figures import (
    Recording,
    Second,
    av_offsets,
    disruption,
    fill_figures,
    freeze_spans,
    handout_id,
    jitter_ms,
    mark_disturbed,
    mean_rtt,
    rtt_from_report,
    second_sample,
    sender_stalled,
    timeline,
)
from qos.gate.model import RunResult, Sample
from qos.mos import e_model_mos
from qos.probe import VideoObservation
from signalling.client.continuity import Reconnect


def seen(frame_id: int | None, *, latency_ms: float | None = 50.0, flash: bool = False,
         repeated: bool = False) -> VideoObservation:
    return VideoObservation(frame_id=frame_id, latency_ms=latency_ms, flash=flash,
                            psnr_db=None, repeated=repeated)


def test_the_figures_module_imports_no_io_library() -> None:
    tree = ast.parse(Path(figures.__file__).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert not imported & {"asyncio", "aiortc", "aiohttp", "aioice", "socket", "time", "av"}


# --- recording -----------------------------------------------------------------------------


def test_a_recording_keeps_new_pictures_and_flash_onsets_only() -> None:
    rec = Recording(fps=30)
    assert rec.on_video(seen(29), 100.0)
    assert rec.on_video(seen(30, flash=True, latency_ms=80.0), 100.1)  # onset: 30 % 30 == 0
    assert rec.on_video(seen(31, flash=True), 100.2)  # still lit: no new onset
    assert not rec.on_video(seen(31, repeated=True), 100.3)  # the analyzer saw it before
    assert rec.on_video(seen(40, flash=False, latency_ms=None), 100.4)  # no latency read
    assert rec.on_video(seen(45, flash=True), 100.5) is True  # lit, but 45 is no onset
    assert not rec.on_video(seen(None, flash=False), 100.6)  # unreadable stamp
    assert not rec.on_video(seen(None, flash=True), 100.7)  # unreadable, lit: an onset
    assert rec.on_video(seen(35), 100.8)  # late, out of order: new, but not in `pictures`

    assert rec.flashes == [100.1, 100.7]
    assert rec.probe_times == [100.0, 100.1, 100.2, 100.4, 100.5, 100.8]
    assert [(t, i) for t, i, _ in rec.pictures] == [
        (100.0, 29), (100.1, 30), (100.2, 31), (100.4, 40), (100.5, 45)]
    # captured = received - latency (none read: taken as received)
    assert rec.pictures[1][2] == pytest.approx(100.1 - 0.08)
    assert rec.pictures[3][2] == 100.4
    assert rec.frames == [(100.0, 50.0), (100.1, 80.0), (100.2, 50.0), (100.5, 50.0),
                          (100.8, 50.0)]
    assert rec.freeze.frames == 5  # the out-of-order picture is not rendered again


def test_a_second_counts_what_came_since_the_previous_one() -> None:
    rec = Recording(fps=30)
    for i in range(6):  # 100 ms apart, then a 1 s gap: a freeze once 5 intervals are known
        rec.on_video(seen(3 * i, latency_ms=40.0 + i), 100.0 + i / 10)
    first = rec.take_second()
    assert (first.pictures, first.g2g_ms, first.stalls) == (
        6, [40.0, 41.0, 42.0, 43.0, 44.0, 45.0], [])
    rec.on_video(seen(45), 101.5)
    second = rec.take_second()
    # the window holds 5 x 100 + 1000 ms: avg 250, and 1000 >= max(3 x 250, 250 + 150)
    assert second.pictures == 1 and second.g2g_ms == [50.0]
    assert [(s.kind, round(s.start_ms), round(s.duration_ms)) for s in second.stalls] == [
        (StallKind.FREEZE, 100_500, 1000)]
    assert rec.take_second() == Second(0, [], [])  # an empty second


def test_handouts_and_beeps_are_recorded_in_the_run_clock() -> None:
    rec = Recording(fps=30)
    for pts in (0, 3000, 6000, 90_000):
        rec.on_handout(pts)
    assert rec.sent_ids == {0, 1, 2, 30}
    assert handout_id(4_499, 30) == 1 and handout_id(4_501, 30) == 2  # nearest frame slot
    rec.on_beeps([100_010.0, 101_020.0])
    assert rec.beeps == pytest.approx([100.01, 101.02])
    rec.on_uplink(100.5)
    assert rec.uplink_times == [100.5] and rec.uplink_freeze.frames == 1


# --- one second ----------------------------------------------------------------------------


def test_rtt_from_a_receiver_report_is_now_minus_lsr_time_minus_dlsr() -> None:
    # DLSR 32768 / 65536 = 0.5 s; 10.75 - 10.0 - 0.5 = 0.25 s
    assert rtt_from_report(10.75, 10.0, 32768) == pytest.approx(250.0)
    assert rtt_from_report(10.5, 10.0, 32768) == 0.0
    assert rtt_from_report(10.4, 10.0, 32768) is None  # two SRs shared an LSR
    assert mean_rtt([10.0, 20.0, 45.0]) == 25.0
    assert mean_rtt([]) is None


def test_jitter_is_converted_with_each_kinds_clock_rate() -> None:
    assert jitter_ms("video", 900) == 10.0  # 90 kHz
    assert jitter_ms("audio", 480) == 10.0  # 48 kHz (Opus)
    assert jitter_ms("audio", 0) == 0.0


def test_a_second_sample_from_its_counts() -> None:
    freeze = Stall(StallKind.FREEZE, 1000.0, 250.04)
    pause = Stall(StallKind.PAUSE, 2000.0, 6000.0)
    sample = second_sample(
        3.0004, Second(pictures=27, g2g_ms=[100.0, 300.0, 120.0], stalls=[freeze, pause]),
        rtt_ms=100.004, audio_jitter_ms=5.0, video_jitter_ms=7.123,
        video=(2, 100), audio=(1, 50), network=(3, 97))
    assert sample == Sample(
        t=3.0, rtt_ms=100.0, jitter_ms=5.0, video_jitter_ms=7.12,
        loss_pct=2.0,  # 2 of 100 expected
        network_loss_pct=3.0,  # 3 lost of 3 + 97 sent
        audio_loss_pct=2.0,  # 1 of 50
        # E-model: one-way delay RTT/2 + 2 x jitter = 50 + 10 ms, 2 % loss
        mos=round(e_model_mos(100.004 / 2 + 10.0, 2.0), 3),
        fps=27.0, freezes=1, freeze_ms=250.0,  # the pause is no freeze
        g2g_ms=120.0,  # median of 100, 120, 300
    )
    assert 4.0 < (sample.mos or 0) < 4.41


def test_a_second_without_packets_or_pictures_has_no_figures_and_mos_1() -> None:
    sample = second_sample(1.0, Second(0, [], []), rtt_ms=None, audio_jitter_ms=None,
                           video_jitter_ms=None, video=(0, 0), audio=(0, 0), network=(0, 0))
    assert sample == Sample(t=1.0, mos=1.0)  # no audio at all this second


def test_a_hole_repaired_from_before_the_second_never_makes_a_negative_loss() -> None:
    sample = second_sample(1.0, Second(0, [], []), rtt_ms=None, audio_jitter_ms=None,
                           video_jitter_ms=None, video=(-3, 100), audio=(-1, 50),
                           network=(-2, 102))
    assert (sample.loss_pct, sample.audio_loss_pct, sample.network_loss_pct) == (0.0, 0.0, 0.0)
    assert sample.mos == round(e_model_mos(0.0, 0.0), 3)


# --- the whole run -------------------------------------------------------------------------


def _recorded_run(*, sent_between_the_freeze: bool) -> Recording:
    """37 probe pictures, 50 ms glass-to-glass each: every 100 ms from 100.0 to 103.0 (ids
    0..90), a 1 s gap, every 100 ms from 104.0 to 104.5 (ids 120..135), then nothing until
    the end at 106.0. Flashes at 100.0 and 101.0, beeps 10 and 20 ms later."""
    rec = Recording(fps=30)
    times = [(100_000 + 100 * i) / 1000 for i in range(31)]
    times += [(104_000 + 100 * i) / 1000 for i in range(6)]
    for t in times:
        frame_id = round((t - 100.0) * 30)
        rec.on_handout(frame_id * 3000)
        rec.on_video(seen(frame_id, flash=frame_id % 30 == 0 and t < 102.0), t)
    if sent_between_the_freeze:
        for frame_id in range(91, 120):
            rec.on_handout(frame_id * 3000)
    rec.on_beeps([100_010.0, 101_020.0])
    rec.on_uplink(100.5)
    rec.on_uplink(101.5)
    return rec


HOST_STALLS = [(95.0, 96.0), (102.05, 102.25), (105.9, 106.5)]
"""Before the measurement (left out), in it (0.2 s), across its end (0.1 s inside)."""


def _samples() -> list[Sample]:
    return [Sample(t=float(t)) for t in range(1, 7)]


def test_the_runs_figures_leave_host_stalls_out() -> None:
    result = RunResult("P0", 0, 1, samples=_samples())
    fill_figures(result, _recorded_run(sent_between_the_freeze=True), HOST_STALLS,
                 start=100.0, end=106.0, flash_period_ms=1000)
    assert result.measured_s == 6.0
    assert result.host_stall_s == 0.3
    # g2g spans [received - 50 ms - 20 ms, received]: 102.1, 102.2 and 102.3 touch the stall
    assert result.excluded_frames == 3
    assert result.g2g_ms == [50.0] * 34
    # two freezes: 103.0 -> 104.0 (1000 >= max(3 x 130, 280)) and a trailing 104.5 -> 106.0
    assert result.freeze["freeze_count"] == 2
    assert result.freeze["total_freeze_ms"] == 2500.0
    assert result.freeze["frames"] == 37
    # only the trailing one overlaps a host stall; the first was sent and lost: a real freeze
    assert (result.host_freezes, result.host_freeze_ms) == (1, 1500.0)
    assert result.av_offset_ms == [-10.0, -20.0]  # flash - beep
    assert (result.uplink_frames, result.uplink_freezes) == (2, 0)
    # seconds ending 103 and 104 see the 102.05 stall (in them or in the SETTLE_S before),
    # 106 sees the one across the end
    assert [s.host_stall_ms for s in result.samples] == [0.0, 0.0, 200.0, 0.0, 0.0, 100.0]
    assert [s.disturbed for s in result.samples] == [False, False, True, True, False, True]


def test_a_freeze_the_probe_never_sent_is_the_hosts() -> None:
    result = RunResult("P0", 0, 1, samples=_samples())
    fill_figures(result, _recorded_run(sent_between_the_freeze=False), HOST_STALLS,
                 start=100.0, end=106.0, flash_period_ms=1000)
    assert (result.host_freezes, result.host_freeze_ms) == (2, 2500.0)


def test_an_empty_run_has_empty_figures() -> None:
    result = RunResult("P0", 0, 1)
    fill_figures(result, Recording(fps=30), [], start=100.0, end=100.0, flash_period_ms=1000)
    assert (result.measured_s, result.host_stall_s, result.excluded_frames) == (0.0, 0.0, 0)
    assert result.g2g_ms == [] and result.av_offset_ms == []
    assert result.freeze["freeze_count"] == 0 and result.freeze["frames"] == 0
    assert (result.host_freezes, result.uplink_frames, result.uplink_freezes) == (0, 0, 0)


def test_freeze_spans_add_a_trailing_freeze_only_after_a_picture() -> None:
    stalls = [Stall(StallKind.FREEZE, 1000.0, 300.0), Stall(StallKind.PAUSE, 4000.0, 6000.0)]
    assert freeze_spans(stalls, 1, [1.0, 1.3], 12.0) == [(1.0, 1.3)]
    assert freeze_spans(stalls, 2, [1.0, 1.3, 10.0], 12.0) == [(1.0, 1.3), (10.0, 12.0)]
    assert freeze_spans([], 1, [], 12.0) == []


@pytest.mark.parametrize(("sent", "captured_b", "start", "stalled"), [
    ({30, 45}, 1.45, 1.0, True),  # nothing sent between, captured 0.5 s apart >= 0.7 x 0.5
    ({30, 40, 45}, 1.45, 1.0, False),  # id 40 was sent and lost on the way
    ({30, 45}, 1.1, 1.0, False),  # captured 0.15 s apart: the network held them
    ({30, 45}, 1.45, 0.9, False),  # no picture received at 0.9
    ({30, 45}, 1.45, 1.5, False),  # the last picture: nothing after it
])
def test_a_sender_stall_is_a_gap_the_probe_never_filled(
    sent: set[int], captured_b: float, start: float, stalled: bool
) -> None:
    pictures = [(1.0, 30, 0.95), (1.5, 45, captured_b)]
    assert sender_stalled(pictures, sent, start, 1.5) is stalled
    assert sender_stalled([], sent, start, 1.5) is False


def test_a_short_host_stall_only_marks_its_second() -> None:
    samples = [Sample(t=1.0), Sample(t=2.0)]
    mark_disturbed(samples, 100.0, [(100.5, 100.54)])  # 40 ms < MIN_DISTURBANCE_S
    assert [(s.host_stall_ms, s.disturbed) for s in samples] == [(40.0, False), (0.0, False)]


def test_av_offsets_pair_each_flash_with_the_nearest_beep_within_half_a_period() -> None:
    flashes = [1.0, 2.0, 3.0, 4.0]
    beeps = [0.98, 2.03, 3.6]
    # 1.0 - 0.98 = +20 ms; 2.0 - 2.03 = -30 ms; 3.0's nearest is 3.6, 600 ms >= 500 ms;
    # 4.0 - 3.6 would be +400 ms but a host stall sits in [3.6 - 0.3, 4.0]
    assert av_offsets(flashes, beeps, [(3.5, 3.55)], 1000) == [20.0, -30.0]
    assert av_offsets(flashes, beeps, [], 1000) == [20.0, -30.0, 400.0]
    assert av_offsets(flashes, [], [], 1000) == []
    assert av_offsets([], beeps, [], 1000) == []


# --- disruptions ---------------------------------------------------------------------------


def test_an_outage_is_timed_from_the_network_coming_back() -> None:
    old = Reconnect("stalled", {"stall_detected": 105.0}, attempts=1)  # before the cut
    attempt = Reconnect("stalled", {"stall_detected": 112.0, "reconnect_started": 112.1,
                                    "signalling_resumed": 115.3}, attempts=3)
    cut = disruption(address_change=False, start=110.0, restored=115.0, measure_start=100.0,
                     reconnects=[old, attempt], probe_times=[109.0, 115.2, 115.4],
                     uplink_times=[114.0, 115.6], seat_kept=True, reconnecting_seen=True)
    assert (cut.kind, cut.start_t, cut.duration_s) == ("outage", 10.0, 5.0)
    # first picture each way at or after 115.0: received 115.2, sent 115.6
    assert (cut.receive_s, cut.send_s, cut.ttmr_s) == (0.2, 0.6, 0.6)
    assert cut.seat_kept and cut.reconnecting_seen
    [line] = cut.reconnects
    assert (line.reason, line.attempts) == ("stalled", 3)
    assert list(line.phases.items()) == [
        ("disrupted", 0.0), ("stall_detected", 2.0), ("reconnect_started", 2.1),
        ("network_restored", 5.0), ("first_frame", 5.2), ("signalling_resumed", 5.3),
        ("first_frame_sent", 5.6)]


def test_a_reconnect_detected_just_before_the_cut_counts() -> None:
    early = Reconnect("stalled", {"stall_detected": 109.6}, attempts=1)  # within 0.5 s
    cut = disruption(address_change=False, start=110.0, restored=115.0, measure_start=100.0,
                     reconnects=[early], probe_times=[], uplink_times=[116.0],
                     seat_kept=False, reconnecting_seen=False)
    assert len(cut.reconnects) == 1
    assert cut.reconnects[0].phases["stall_detected"] == -0.4
    assert (cut.receive_s, cut.send_s, cut.ttmr_s) == (None, 1.0, None)  # nothing received
    assert not cut.seat_kept and "first_frame" not in cut.reconnects[0].phases


def test_an_address_change_counts_media_from_the_new_sockets() -> None:
    attempt = Reconnect("address", {"stall_detected": 111.0, "reconnect_started": 112.0},
                        attempts=1)
    change = disruption(address_change=True, start=110.0, restored=110.0, measure_start=100.0,
                        reconnects=[attempt], probe_times=[110.5, 112.3],
                        uplink_times=[111.0, 112.5], seat_kept=True, reconnecting_seen=False)
    assert (change.kind, change.duration_s) == ("address_change", 0.0)
    assert (change.receive_s, change.send_s, change.ttmr_s) == (2.3, 2.5, 2.5)
    # no reconnect started: media counts from half a second after the change
    quiet = disruption(address_change=True, start=110.0, restored=110.0, measure_start=100.0,
                       reconnects=[], probe_times=[110.4, 110.5], uplink_times=[111.0],
                       seat_kept=True, reconnecting_seen=False)
    assert (quiet.receive_s, quiet.send_s, quiet.ttmr_s) == (0.5, 1.0, 1.0)
    assert quiet.reconnects == []


def test_a_timeline_without_media_after_the_restore_has_no_first_frames() -> None:
    line = timeline(Reconnect("stalled", {"gave_up": 170.0}, attempts=9), 110.0, 115.0,
                    None, None)
    assert line.phases == {"disrupted": 0.0, "network_restored": 5.0, "gave_up": 60.0}
    assert line.attempts == 9
