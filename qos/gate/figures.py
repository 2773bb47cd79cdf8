"""The figures of one gate run, from the series it recorded (pure: times passed in).

`GateRun` (`qos.gate.run`) records, on its monotonic clock in seconds, what the subject
received of the probe (new pictures, flashes, beeps), what the tutor decoded of the
subject's video, and the host stalls; the aiortc taps (`qos.gate.taps`) give it the packet
counts and the receiver reports. Everything computed from those series lives here: the
per-second `Sample`, the run's pooled figures with host stalls left out, and the
`Disruption` of an outage or address change with its reconnect timelines. Nothing here
reads a clock, a socket or an event loop, so every figure is tested from a series written
down by hand (tests/unit/qos/gate/test_figures.py).
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from qos.freeze import FreezeDetector, Stall, StallKind
from qos.probe import VideoObservation
from qos.score import NetworkSample, mos_of
from qos.units import OPUS_CLOCK_RATE, VIDEO_CLOCK_RATE
from signalling.client.continuity import NETWORK_RESTORED, Reconnect

from .host import overlap
from .model import Disruption, ReconnectTimeline, RunResult, Sample

__all__ = [
    "DISRUPTED", "FIRST_FRAME", "FIRST_FRAME_SENT", "MIN_DISTURBANCE_S", "SETTLE_S",
    "Interval", "Picture", "Recording", "Second", "av_offsets", "disruption", "fill_figures",
    "freeze_spans", "handout_id", "jitter_ms", "mark_disturbed", "mean_rtt", "rounded",
    "rtt_from_report", "second_sample", "sender_stalled", "timeline",
]

FIRST_FRAME = "first_frame"
FIRST_FRAME_SENT = "first_frame_sent"
DISRUPTED = "disrupted"

SETTLE_S = 1.0
"""After a host stall, per-second figures are left out for this long."""
MIN_DISTURBANCE_S = 0.05
"""A second with less host stall than this (in it and the `SETTLE_S` before) is kept."""
ATTEMPT_LEAD_S = 0.5
"""A reconnect whose stall was detected this long before the disruption still counts."""

Interval = tuple[float, float]
Picture = tuple[float, int, float]
"""(received, frame id, captured) of a new probe picture, seconds."""


@dataclass
class Second:
    """What the probe showed in one second of the measurement."""

    pictures: int
    """New probe pictures received."""
    g2g_ms: list[float]
    """Glass-to-glass latency of those that had one."""
    stalls: list[Stall]
    """Freezes and pauses of the probe video that ended in the second."""


@dataclass
class Recording:
    """The series one run records (seconds on the run's monotonic clock)."""

    fps: int
    """The probe's picture rate (a flash starts on a frame id that is a multiple of it)."""
    probe_times: list[float] = field(default_factory=list)
    """Every new probe picture the subject received."""
    frames: list[tuple[float, float]] = field(default_factory=list)
    """(received, glass-to-glass ms) of every new picture whose latency was read."""
    pictures: list[Picture] = field(default_factory=list)
    """New pictures in frame-id order (a late out-of-order one is left out)."""
    sent_ids: set[int] = field(default_factory=set)
    """Frame ids the probe handed to its encoder (it skips ids when it runs late)."""
    flashes: list[float] = field(default_factory=list)
    """Flash onsets the subject saw."""
    beeps: list[float] = field(default_factory=list)
    """Beep onsets the subject heard."""
    uplink_times: list[float] = field(default_factory=list)
    """Every frame of the subject's own video the tutor decoded."""
    freeze: FreezeDetector = field(default_factory=FreezeDetector)
    """On the new probe pictures, as the probe's analyzer counts them."""
    uplink_freeze: FreezeDetector = field(default_factory=FreezeDetector)
    _was_flash: bool = False
    _second_pictures: int = 0
    _second_g2g: list[float] = field(default_factory=list)
    _stalls_taken: int = 0

    def on_handout(self, pts: int) -> None:
        """The probe handed the frame with this 90 kHz timestamp to the encoder."""
        self.sent_ids.add(handout_id(pts, self.fps))

    def on_video(self, seen: VideoObservation, now: float) -> bool:
        """The subject decoded a probe frame at `now`; the analyzer read `seen` from it.
        True if it is a new picture (its id read, not seen before)."""
        onset = seen.frame_id is None or seen.frame_id % self.fps == 0
        if seen.flash and not self._was_flash and onset:
            self.flashes.append(now)
        self._was_flash = seen.flash
        if seen.frame_id is None or seen.repeated:
            return False
        self.probe_times.append(now)
        self._second_pictures += 1
        if not self.pictures or seen.frame_id > self.pictures[-1][1]:  # in order
            self.freeze.on_frame(now * 1000.0)
            captured = now - (seen.latency_ms or 0.0) / 1000.0
            self.pictures.append((now, seen.frame_id, captured))
        if seen.latency_ms is not None:
            self._second_g2g.append(seen.latency_ms)
            self.frames.append((now, seen.latency_ms))
        return True

    def on_beeps(self, onsets_ms: Sequence[float]) -> None:
        self.beeps += [t / 1000.0 for t in onsets_ms]

    def on_uplink(self, now: float) -> None:
        """The tutor decoded a stamped frame of the subject's video at `now`."""
        self.uplink_times.append(now)
        self.uplink_freeze.on_frame(now * 1000.0)

    def take_second(self) -> Second:
        """What came since the previous call (the run calls it once a second)."""
        stalls = self.freeze.stalls[self._stalls_taken:]
        self._stalls_taken = len(self.freeze.stalls)
        second = Second(self._second_pictures, self._second_g2g, stalls)
        self._second_pictures, self._second_g2g = 0, []
        return second


def handout_id(pts: int, fps: int) -> int:
    """The probe frame id of a 90 kHz video timestamp."""
    return round(pts * fps / 90_000)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- one second --------------------------------------------------------------------------


def rtt_from_report(now: float, lsr_time: float, dlsr: int) -> float | None:
    """RTT in ms from a receiver report (RFC 3550: now - LSR time - DLSR, DLSR in 1/65536 s);
    None when negative (two sender reports may share an LSR: no RTP sent in between)."""
    rtt = (now - lsr_time - dlsr / 65536) * 1000.0
    return rtt if rtt >= 0 else None


def mean_rtt(samples: Sequence[float]) -> float | None:
    """Mean of one second's RTT samples; None if no report arrived."""
    return statistics.fmean(samples) if samples else None


def jitter_ms(kind: str, jitter: float) -> float:
    """An RTP interarrival jitter (clock units) in ms."""
    rate = VIDEO_CLOCK_RATE if kind == "video" else OPUS_CLOCK_RATE
    return jitter * 1000.0 / rate


def second_sample(t: float, second: Second, *, rtt_ms: float | None,
                  audio_jitter_ms: float | None, video_jitter_ms: float | None,
                  video: tuple[int, int], audio: tuple[int, int],
                  network: tuple[int, int]) -> Sample:
    """The sample of the second ending `t` s into the measurement. `video` and `audio` are
    (lost, expected) after retransmission, `network` (lost, received) before it, all counted
    in this second (a count may go negative when a hole is repaired: never below 0 %)."""
    v_lost, v_expected = video
    a_lost, a_expected = audio
    n_lost, n_received = network
    audio_loss = max(0, a_lost) / a_expected if a_expected > 0 else None
    if audio_loss is None:
        mos = 1.0  # no audio at all this second
    else:
        mos = mos_of(NetworkSample(audio_loss, audio_jitter_ms or 0.0, rtt_ms))
    freezes = [x for x in second.stalls if x.kind is StallKind.FREEZE]
    return Sample(
        t=round(t, 3),
        rtt_ms=rounded(rtt_ms),
        jitter_ms=rounded(audio_jitter_ms),
        video_jitter_ms=rounded(video_jitter_ms),
        loss_pct=rounded(100.0 * max(0, v_lost) / v_expected if v_expected > 0 else None),
        network_loss_pct=rounded(
            100.0 * max(0, n_lost) / (n_lost + n_received) if n_lost + n_received > 0 else None),
        audio_loss_pct=rounded(None if audio_loss is None else 100.0 * audio_loss),
        mos=rounded(mos, 3),
        fps=float(second.pictures),
        freezes=len(freezes),
        freeze_ms=round(sum(x.duration_ms for x in freezes), 1),
        g2g_ms=rounded(statistics.median(second.g2g_ms) if second.g2g_ms else None),
    )


# --- the whole run -----------------------------------------------------------------------


def fill_figures(result: RunResult, rec: Recording, host_stalls: Sequence[Interval],
                 start: float, end: float, flash_period_ms: float) -> None:
    """The run's figures over the measurement [start, end], host stalls left out, into
    `result` (whose samples are already there)."""
    r = result
    r.measured_s = round(end - start, 3)
    stalls = [(a, b) for a, b in host_stalls if b > start and a < end]
    r.host_stall_s = round(overlap(stalls, start, end), 3)
    mark_disturbed(r.samples, start, stalls)
    freezes = rec.freeze.summary(end * 1000.0)
    r.freeze = {k: rounded(v, 3) if isinstance(v, float) else v
                for k, v in asdict(freezes).items()}
    spans = freeze_spans(rec.freeze.stalls, freezes.freeze_count, rec.probe_times, end)
    host = [(a, b) for a, b in spans
            if overlap(stalls, a, b) > 0 or sender_stalled(rec.pictures, rec.sent_ids, a, b)]
    r.host_freezes = len(host)
    r.host_freeze_ms = round(sum(b - a for a, b in host) * 1000.0, 1)
    for received, latency in rec.frames:
        if overlap(stalls, received - latency / 1000.0 - 0.02, received) > 0:
            r.excluded_frames += 1
        else:
            r.g2g_ms.append(round(latency, 1))
    r.av_offset_ms = av_offsets(rec.flashes, rec.beeps, stalls, flash_period_ms)
    r.uplink_frames = len(rec.uplink_times)
    r.uplink_freezes = rec.uplink_freeze.summary(end * 1000.0).freeze_count


def freeze_spans(stalls: Sequence[Stall], freeze_count: int, probe_times: Sequence[float],
                 end: float) -> list[Interval]:
    """The probe's freezes as (start, end) seconds; `freeze_count` (from the summary at
    `end`) one more than the stalls means a freeze still going on at `end`."""
    spans = [(x.start_ms / 1000.0, (x.start_ms + x.duration_ms) / 1000.0)
             for x in stalls if x.kind is StallKind.FREEZE]
    if freeze_count > len(spans) and probe_times:  # a trailing freeze
        spans.append((probe_times[-1], end))
    return spans


def sender_stalled(pictures: Sequence[Picture], sent_ids: set[int], start: float,
                   end: float) -> bool:
    """The freeze from the picture received at `start` to the next one was already there
    at the sender: no frame id in between was handed to the encoder, and the capture
    times are as far apart as the receive times (the probe's process was starved)."""
    i = bisect.bisect_left(pictures, (start - 1e-6,))
    if i + 1 >= len(pictures) or abs(pictures[i][0] - start) > 1e-3:
        return False
    (_, a, captured_a), (received_b, b, captured_b) = pictures[i], pictures[i + 1]
    if any(x in sent_ids for x in range(a + 1, b)):
        return False  # frames were sent and lost on the way: a real freeze
    return captured_b - captured_a >= 0.7 * (received_b - start)


def mark_disturbed(samples: Sequence[Sample], start: float,
                   stalls: Sequence[Interval]) -> None:
    """Seconds with a host stall, and the next `SETTLE_S` (RTT and jitter are smoothed
    estimators: a stall shows in them for a while), stay out of the pooled figures."""
    for sample in samples:
        end = start + sample.t
        sample.host_stall_ms = round(overlap(stalls, end - 1.0, end) * 1000.0, 1)
        recent = overlap(stalls, end - 1.0 - SETTLE_S, end)
        sample.disturbed = recent >= MIN_DISTURBANCE_S


def av_offsets(flashes: Sequence[float], beeps: Sequence[float],
               stalls: Sequence[Interval], flash_period_ms: float) -> list[float]:
    """Flash onset - nearest beep onset (within half a period), ms, as `ProbeAnalyzer`
    pairs them, leaving out pairs a host stall may have shifted."""
    half = flash_period_ms / 2000.0
    offsets = []
    for flash in flashes:
        if not beeps:
            break
        beep = min(beeps, key=lambda b: abs(b - flash))
        if abs(flash - beep) >= half:
            continue
        if overlap(stalls, min(flash, beep) - 0.3, max(flash, beep)) > 0:
            continue
        offsets.append(round((flash - beep) * 1000.0, 1))
    return offsets


# --- disruptions -------------------------------------------------------------------------


def disruption(*, address_change: bool, start: float, restored: float, measure_start: float,
               reconnects: Sequence[Reconnect], probe_times: Sequence[float],
               uplink_times: Sequence[float], seat_kept: bool,
               reconnecting_seen: bool) -> Disruption:
    """The outage (network down from `start` to `restored`) or address change (both at
    `start`), from the subject's reconnects and the first pictures each way afterwards."""
    attempts = [r for r in reconnects
                if r.phases.get("stall_detected", 0.0) >= start - ATTEMPT_LEAD_S]
    # media counts as restored once it arrives on the new path: after the network came
    # back, and (address change) after the client started over on new sockets
    after = restored
    if address_change:
        started = [r.phases["reconnect_started"] for r in attempts
                   if "reconnect_started" in r.phases]
        after = min(started) if started else restored + 0.5
    receive = next((x for x in probe_times if x >= after), None)
    send = next((x for x in uplink_times if x >= after), None)
    ttmr = None
    if receive is not None and send is not None:
        ttmr = max(receive, send) - restored
    return Disruption(
        kind="address_change" if address_change else "outage",
        start_t=round(start - measure_start, 3),
        duration_s=round(restored - start, 3),
        ttmr_s=rounded(ttmr, 3),
        receive_s=rounded(None if receive is None else receive - restored, 3),
        send_s=rounded(None if send is None else send - restored, 3),
        seat_kept=seat_kept,
        reconnecting_seen=reconnecting_seen,
        reconnects=[timeline(r, start, restored, receive, send) for r in attempts],
    )


def timeline(attempt: Reconnect, start: float, restored: float,
             receive: float | None, send: float | None) -> ReconnectTimeline:
    """A reconnect's phases as seconds since the disruption started, in time order."""
    phases = {DISRUPTED: 0.0, NETWORK_RESTORED: restored - start}
    phases.update({k: v - start for k, v in attempt.phases.items()})
    if receive is not None:
        phases[FIRST_FRAME] = receive - start
    if send is not None:
        phases[FIRST_FRAME_SENT] = send - start
    ordered = dict(sorted(phases.items(), key=lambda kv: kv[1]))
    return ReconnectTimeline(attempt.reason, attempt.attempts,
                             {k: round(v, 3) for k, v in ordered.items()})
