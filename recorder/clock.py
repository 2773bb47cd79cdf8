"""The session clock (sans-IO): every recorded frame's pts is session time.

A track's RTP timestamps are mapped to session seconds (0 = the recording's start, on the
node's monotonic clock) in one of two ways:

- until the sender's first RTCP sender report for the current SSRC: arrival time, anchored
  at the run's first packet (`base`) and advanced by the RTP clock;
- then the sender's RTP->NTP fit (slope by least squares over its last reports, through
  the earliest of them)
  plus the participant's `SenderClock` offset (session time - sender NTP, shared by the
  participant's audio and video, so they stay in sync with each other).

A new SSRC (the start, a reconnect, a re-publish) starts a new run, and its frames are held
(up to `hold_s` of arrival time or `HOLD_FRAMES`) until its first sender report: then every
held frame is stamped through the report's mapping, so a run starts on the sender's clock
with no step to slew away. If no report comes within the hold, the run is anchored on the
least delayed held frame (the floor of arrival - RTP time), not on the first one: a starting
sender's first frames come late and in a burst (measured: video 70 ms, audio 20 ms late, an
A/V offset of 50 ms that slewing took 10 s to remove).

Changes of mapping after that never step the output: the difference is taken into
`correction` and slewed away at most `slew` s per s (a few ms/s). A packet after a gap whose
mapped time and arrival time disagree by more than `reanchor_s` (mobile clients reset their
RTP clock) re-anchors the run. pts never regress: a pts at or below the last one becomes
last + 1.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

WRAP = 1 << 32
HALF = 1 << 31
SLEW = 0.005  # s per s
GAP_S = 1.0
REANCHOR_S = 1.0
FIT_REPORTS = 8
HOLD_S = 2.0  # a new SSRC's frames wait at most this long for its first sender report
HOLD_FRAMES = 200  # and at most this many (2 s of 50 fps audio or 30 fps video fit)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClockChange:
    """A change of a track's mapping, for the timeline."""

    kind: str  # "sender_report_anchor" | "arrival_anchor" | "sender_report_fit" | "re_anchor"
    ssrc: int
    at: float  # session time of the packet it applied to
    step_s: float  # a fit, a re-anchor: how far the new mapping is from the old (slewed
    # away, not stepped); an anchor: where the run's first frame is put - its arrival
    slope: float
    held: int = 0  # an anchor: frames held for it


@dataclass(slots=True)
class Stamped(Generic[T]):
    """Frames the clock has stamped, in order, with their pts; and changes of mapping."""

    frames: list[tuple[T, int]] = field(default_factory=list)
    changes: list[ClockChange] = field(default_factory=list)


class Unwrapper:
    """Unwraps 32-bit RTP timestamps into a monotonic integer line."""

    def __init__(self, first: int) -> None:
        self.last = first

    def unwrap(self, ts: int, update: bool = True) -> int:
        diff = ((ts - (self.last & 0xFFFFFFFF) + HALF) % WRAP) - HALF
        value = self.last + diff
        if update and diff > 0:
            self.last = value
        return value


class SenderClock:
    """One participant's wall clock as seen from the node: `offset` = session time - sender
    NTP time, a floor of (arrival - sender time) over `window` s, moved at most `slew` s/s."""

    def __init__(self, slew: float = SLEW, window: float = 2.0) -> None:
        self.slew = slew
        self.window = window
        self.offset: float | None = None
        self._mins: deque[tuple[float, float]] = deque()  # (arrival, delay), rising delays
        self._last_at = 0.0
        self._lock = threading.Lock()  # a participant's tracks mux on their own threads

    def start(self, delay: float, arrival: float) -> None:
        """The floor of a batch of delays (a run's held frames): the offset, if unset."""
        with self._lock:
            if self.offset is None:
                self.offset = delay
        self.observe(delay, arrival)

    def observe(self, delay: float, arrival: float) -> None:
        with self._lock:
            self._observe(delay, arrival)

    def _observe(self, delay: float, arrival: float) -> None:
        mins = self._mins
        while mins and mins[-1][1] >= delay:
            mins.pop()
        mins.append((arrival, delay))
        while mins[0][0] < arrival - self.window:
            mins.popleft()
        if self.offset is None:
            self.offset = delay
        else:
            step = self.slew * max(0.0, arrival - self._last_at)
            self.offset += max(-step, min(step, mins[0][1] - self.offset))
        self._last_at = max(self._last_at, arrival)


class TrackClock(Generic[T]):
    """RTP timestamps of one track (any number of SSRCs over time) to session-time pts.
    `push` takes a frame (any item) and hands back the frames it can stamp now."""

    def __init__(
        self, rate: int, sender: SenderClock, *, slew: float = SLEW, gap_s: float = GAP_S,
        reanchor_s: float = REANCHOR_S, hold_s: float = HOLD_S,
    ) -> None:
        self.rate = rate
        self.sender = sender
        self.slew = slew
        self.gap_s = gap_s
        self.reanchor_s = reanchor_s
        self.hold_s = hold_s
        self.ssrc: int | None = None
        self._held: list[tuple[T, int, float]] = []  # (frame, rtp ts, arrival) of a new SSRC
        self._held_ssrc: int | None = None
        self._held_reports: list[tuple[float, int]] = []
        self._early: tuple[int, float, int] | None = None  # a report before its SSRC's RTP
        self._unwrap = Unwrapper(0)
        self._base = (0.0, 0)  # (session time, unwrapped rtp) of the run's anchor
        self._reports: deque[tuple[float, int]] = deque(maxlen=FIT_REPORTS)
        self._fit: tuple[float, int, float] | None = None  # (ntp s, rtp, slope)
        self._refit = False
        self.correction = 0.0
        self.last_arrival: float | None = None
        self.last_pts: int | None = None

    def sender_report(self, ssrc: int, ntp_s: float, rtp_ts: int) -> None:
        """An RTCP sender report for `ssrc` (NTP in seconds, RTP timestamp)."""
        if ntp_s <= 0.0:
            return  # aiortc reports NTP 0 before it has sent a packet
        if ssrc == self._held_ssrc:
            self._held_reports.append((ntp_s, rtp_ts))  # the held frames go at the next push
            return
        if ssrc != self.ssrc:
            self._early = (ssrc, ntp_s, rtp_ts)  # its packets may be on their way
            return
        rtp = self._unwrap.unwrap(rtp_ts, update=False)
        if self._reports and rtp <= self._reports[-1][1]:
            return
        self._reports.append((ntp_s, rtp))
        self._refit = True

    def push(self, frame: T, ssrc: int, rtp_ts: int, arrival: float) -> Stamped[T]:
        """A frame with this SSRC and RTP timestamp arrived (session time): the frames that
        can be stamped now (this one, or none while a new SSRC waits for its first report,
        or all the held ones)."""
        out: Stamped[T] = Stamped()
        if self._held_ssrc is not None and ssrc != self._held_ssrc:
            self._release(out)  # another SSRC already: what was held goes as it is
        if ssrc == self.ssrc and self._held_ssrc is None:
            pts, changes = self._stamp(rtp_ts, arrival)
            out.frames.append((frame, pts))
            out.changes += changes
            return out
        if self._held_ssrc is None:
            self._held_ssrc = ssrc
            if self._early is not None and self._early[0] == ssrc:
                self._held_reports.append(self._early[1:])
            self._early = None
        self._held.append((frame, rtp_ts, arrival))
        if (self._held_reports or arrival - self._held[0][2] >= self.hold_s
                or len(self._held) >= HOLD_FRAMES):
            self._release(out)
        return out

    def flush(self) -> Stamped[T]:
        """Stamp whatever is held now (the track mutes, detaches or ends)."""
        out: Stamped[T] = Stamped()
        if self._held_ssrc is not None:
            self._release(out)
        return out

    def _release(self, out: Stamped[T]) -> None:
        """Start the held SSRC's run: through its first report if one came, else on the
        floor of its held frames; then stamp them all."""
        assert self._held_ssrc is not None and self._held
        ssrc, held, reports = self._held_ssrc, self._held, self._held_reports
        self._held_ssrc, self._held, self._held_reports = None, [], []
        first_ts = held[0][1]
        unwrap = Unwrapper(first_ts)
        rtps = [unwrap.unwrap(ts) for _, ts, _ in held]
        self.ssrc = ssrc
        self._unwrap = Unwrapper(first_ts)
        arrivals = [a for _, _, a in held]
        floor = min(a - (r - rtps[0]) / self.rate for a, r in zip(arrivals, rtps, strict=True))
        self._base = (floor, rtps[0])
        self._reports.clear()
        self._fit = None
        self._refit = False
        self.correction = 0.0
        for ntp_s, ts in reports:
            rtp = self._unwrap.unwrap(ts, update=False)
            if not self._reports or rtp > self._reports[-1][1]:
                self._reports.append((ntp_s, rtp))
        kind = "arrival_anchor"
        if self._reports:
            kind = "sender_report_anchor"
            self._fit = self._fitted()
            self.sender.start(*min((a - self._sender_time(r), a)
                                   for a, r in zip(arrivals, rtps, strict=True)))
        start = self._target(rtps[0])
        if self.last_pts is not None:  # continue after what was written, never before it
            self.correction = max(0.0, self.last_pts / self.rate - start)
        self.last_arrival = None
        slope = self._fit[2] if self._fit is not None else 1.0
        out.changes.append(ClockChange(kind, ssrc, arrivals[0], start - arrivals[0], slope,
                                       len(held)))
        for frame, ts, arrival in held:
            pts, changes = self._stamp(ts, arrival)
            out.frames.append((frame, pts))
            out.changes += changes

    def _stamp(self, rtp_ts: int, arrival: float) -> tuple[int, list[ClockChange]]:
        """The session-time pts (in 1/rate) of a frame of the current run arriving now."""
        changes: list[ClockChange] = []
        rtp = self._unwrap.unwrap(rtp_ts)
        gap = self.last_arrival is not None and arrival - self.last_arrival >= self.gap_s
        if gap and abs(self._target(rtp) + self.correction - arrival) > self.reanchor_s:
            step = arrival - self._target(rtp) - self.correction
            self._anchor(arrival, rtp)
            changes.append(ClockChange("re_anchor", self.ssrc or 0, arrival, step, 1.0))
        if self._refit:
            self._refit = False
            old = self._target(rtp)
            first = self._fit is None
            self._fit = self._fitted()
            if self.sender.offset is None:
                self.sender.observe(arrival - self._sender_time(rtp), arrival)
            step = self._target(rtp) - old
            self.correction -= step  # the new mapping is slewed in, not stepped
            if first or abs(step) > 0.002:
                changes.append(ClockChange("sender_report_fit", self.ssrc or 0, arrival, step,
                                           self._fit[2]))
        elif self._fit is not None:
            self.sender.observe(arrival - self._sender_time(rtp), arrival)
        if self.last_arrival is not None:
            step = self.slew * max(0.0, arrival - self.last_arrival)
            self.correction -= max(-step, min(step, self.correction))
        pts = max(0, round((self._target(rtp) + self.correction) * self.rate))
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1
        self.last_pts = pts
        self.last_arrival = arrival
        return pts, changes

    def _anchor(self, arrival: float, rtp: int) -> None:
        """Re-anchor the run on arrival time (its RTP clock jumped)."""
        self._base = (arrival, rtp)
        self._reports.clear()
        self._fit = None
        self._refit = False
        self.correction = 0.0
        if self.last_pts is not None:  # continue after what was written, never before it
            arrival = max(arrival, self.last_pts / self.rate)
            self._base = (arrival, rtp)

    def _fitted(self) -> tuple[float, int, float]:
        """The sender's RTP->NTP line over its last reports: the slope by least squares
        (1 unless it is within 0.5 %), through the earliest report of all. A report is
        stamped when a packet is sent, which for video is after encoding (aiortc: 10-60 ms
        under load, varying per frame); the earliest is the closest to the capture time."""
        _, rtp = self._reports[-1]
        slope = 1.0
        if len(self._reports) >= 3:
            xs = [(r - rtp) / self.rate for _, r in self._reports]
            ys = [n for n, _ in self._reports]
            mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
            var = sum((x - mx) ** 2 for x in xs)
            if var > 0:
                fitted = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
                slope = fitted if 0.995 <= fitted <= 1.005 else 1.0
        ntp = min(n - slope * (r - rtp) / self.rate for n, r in self._reports)
        return ntp, rtp, slope

    def _sender_time(self, rtp: int) -> float:
        assert self._fit is not None
        ntp, anchor, slope = self._fit
        return ntp + slope * (rtp - anchor) / self.rate

    def _target(self, rtp: int) -> float:
        if self._fit is not None and self.sender.offset is not None:
            return self._sender_time(rtp) + self.sender.offset
        base_t, base_rtp = self._base
        return base_t + (rtp - base_rtp) / self.rate
