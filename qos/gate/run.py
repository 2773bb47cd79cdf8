"""One run of one profile against a node: the IO side of the gate.

A tutor publishes the probe (`qos.probe_tracks`), each learner publishes a cheap clip (a
ladder of pre-encoded renditions that follows the REMB it gets, as a browser's encoder), and
the first learner (the *subject*) has its datagrams impaired both ways. Once a second the
subject's figures are sampled: RTT of its uplink, jitter and loss of what it receives,
MOS, and what the probe saw (new pictures, freezes, glass-to-glass latency). An outage or
address change, if the profile has one, happens a few seconds into the measurement; its
reconnect timeline and time to media restore are recorded.

`GateRun` owns the clients, tasks and timers; what it reads of aiortc goes through
`qos.gate.taps`, and every figure is computed by `qos.gate.figures` from the series it
records (a `Recording`), with the times passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import av
import structlog
from aiortc.mediastreams import MediaStreamTrack

from media.ids import Kind, Role
from qos.impairment import Drop, Impairment
from qos.probe import ProbeAnalyzer
from qos.probe_source import ProbeConfig
from qos.probe_tracks import ProbeVideoTrack, probe_tracks
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack, read_frame_number
from signalling.client.continuity import ReconnectPolicy

from . import figures, netcut
from .counters import Deltas
from .host import HostMonitor
from .model import RunResult, Sample
from .node import GateNode
from .profiles import Profile
from .taps import ReceiveTap, RttTap, Viewer, tap_handouts

__all__ = ["SUBJECT", "TUTOR", "GateRun", "RunConfig", "run_once"]

log = structlog.get_logger(__name__)

TUTOR = "tutor"
SUBJECT = "learner-1"


@dataclass(frozen=True)
class RunConfig:
    duration_s: float = 45.0
    """Whole run, warm-up included (longer if an outage needs it)."""
    warmup_s: float = 5.0
    """Discarded at the start."""
    learners: int = 1
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    psnr_every: int = 3
    """PSNR of every n-th new picture (it costs a reference picture each)."""
    disrupt_after_s: float = 3.0
    """Outage or address change this long into the measurement."""
    recovery_s: float = 10.0
    """At least this much is measured after the network comes back."""
    join_timeout_s: float = 15.0
    receiver: str = "browser"
    """The subject's receive pipeline: "browser" (signalling/client/reception.py) or "aiortc"."""

    def measured_s(self, profile: Profile) -> float:
        needed = self.disrupt_after_s + (profile.outage_s or 0.0) + self.recovery_s
        plain = self.duration_s - self.warmup_s
        return max(plain, needed) if profile.disrupts else plain


class GateRun:
    """Clients, viewers and measurements of one run (use `run()` then `close()`)."""

    def __init__(self, node: GateNode, profile: Profile, repeat: int, seed: int,
                 config: RunConfig, clip: Sequence[Clip],
                 cut: netcut.LinkCut | None = None) -> None:
        self.node, self.profile, self.repeat, self.seed = node, profile, repeat, seed
        self.config, self.clip = config, clip
        # an outage by a real link cut: the subject's sockets behind the veth (netcut.py)
        self.cut = cut if profile.outage_s is not None else None
        self.room = f"gate-{profile.name.replace(':', '-')}-{repeat}-{secrets.token_hex(3)}"
        self.impairment = Impairment(seed=seed, inbound=profile.link, outbound=profile.link)
        self.tutor = self._client(TUTOR, Role.TUTOR, seed)
        self.learners = [
            self._client(f"learner-{i + 1}", Role.LEARNER, seed + i + 1,
                         self.impairment if i == 0 else None,
                         reception=i == 0 and config.receiver == "browser")
            for i in range(config.learners)
        ]
        self.subject = self.learners[0]
        self.viewers: list[Viewer] = []
        self.result = RunResult(profile.name, repeat, seed)
        self.recording = figures.Recording(fps=config.probe.fps)
        self._tracks: list[MediaStreamTrack] = []
        self._probe_video: ProbeVideoTrack | None = None
        self._tasks: list[asyncio.Task[None]] = []  # host monitor, supervisor
        self._host = HostMonitor()
        self._receive = ReceiveTap()
        self._rtt = RttTap()
        self._analyzer: ProbeAnalyzer | None = None  # set when the measurement starts
        self._video_deltas = Deltas(2)
        self._audio_deltas = Deltas(2)
        self._network_deltas = Deltas(2)
        self._disruption_at: float | None = None
        self._restored_at: float | None = None

    def _client(self, identity: str, role: Role, seed: int,
                impairment: Impairment | None = None, reception: bool = False) -> Client:
        url, factory = self.node.url, None
        if impairment is not None and self.cut is not None:  # the subject, behind the veth
            url, factory = self.node.url_at(self.cut.node_address), self.cut.socket_factory
        return Client(url, self.room, self.node.token(self.room, identity, role),
                      impairment=impairment, reconnect=ReconnectPolicy(), seed=seed,
                      reception=reception, socket_factory=factory)

    @property
    def clients(self) -> list[Client]:
        return [self.tutor, *self.learners]

    # --- setting up ----------------------------------------------------------------------

    async def _start(self) -> None:
        await self.tutor.join()
        audio, video = probe_tracks(self.config.probe)
        self._probe_video = video
        tap_handouts(video, self.recording.on_handout)
        self._tracks += [audio, video]
        await self.tutor.publish([audio, video])
        for learner in self.learners:
            behind = self.cut is not None and learner is self.subject
            context = netcut.active(self.cut) if self.cut and behind else contextlib.nullcontext()
            with context:
                await learner.join()  # its tasks keep the context: their sockets too
                tracks = [ClipTrack(self.clip[0], "audio"), ClipTrack(self.clip, "video")]
                self._tracks += tracks
                await learner.publish(tracks)
        for learner in self.learners:
            subject = learner is self.subject
            self.viewers.append(Viewer(
                learner, TUTOR, self._on_probe if subject else None,
                self._receive.tap if subject else None))
            for other in self.learners:
                if other is not learner:
                    self.viewers.append(Viewer(learner, other.identity))
            self.viewers.append(Viewer(self.tutor, learner.identity,
                                       self._on_uplink if subject else None))
        self._tasks.append(asyncio.ensure_future(self._supervise()))
        try:
            await self.subject.wait_for(
                lambda c: (d := c.downlink_from(TUTOR)) is not None and len(d.tracks) == 2,
                timeout=self.config.join_timeout_s)
        except TimeoutError:
            raise RuntimeError(
                f"{SUBJECT} got no probe tracks within {self.config.join_timeout_s:g} s"
            ) from None

    async def _supervise(self) -> None:
        while True:
            for viewer in self.viewers:
                viewer.poll()
            self._rtt.watch(self.subject.uplink)
            await asyncio.sleep(0.05)

    # --- frames --------------------------------------------------------------------------

    def _on_probe(self, kind: str, frame: Any, now: float) -> None:
        analyzer = self._analyzer
        if analyzer is None:
            return
        if kind == Kind.AUDIO.value:
            if isinstance(frame, av.AudioFrame):
                self.recording.on_beeps(analyzer.on_audio_frame(frame, now * 1000.0))
            return
        if not isinstance(frame, av.VideoFrame):
            return
        seen = analyzer.on_video_frame(frame, now * 1000.0)
        if self.recording.on_video(seen, now) and seen.psnr_db is not None:
            self.result.psnr_db.append(round(seen.psnr_db, 2))

    def _on_uplink(self, kind: str, frame: Any, now: float) -> None:
        if self._analyzer is None or kind != Kind.VIDEO.value:
            return  # not measuring yet
        if isinstance(frame, av.VideoFrame) and read_frame_number(frame) is not None:
            self.recording.on_uplink(now)

    # --- sampling ------------------------------------------------------------------------

    async def _sample(self, t: float) -> Sample:
        rtt = self._rtt.take()
        audio_jitter, video_jitter, network = self._receive.stream_figures()
        video = self._video_deltas.update(self._receive.counts("video"))
        audio = self._audio_deltas.update(self._receive.counts("audio"))
        n_lost, n_received = self._network_deltas.update(network)
        (v_lost, v_expected), (a_lost, a_expected) = video, audio
        r = self.result
        r.video_lost += v_lost
        r.video_expected += v_expected
        r.audio_lost += a_lost
        r.audio_expected += a_expected
        return figures.second_sample(
            t, self.recording.take_second(), rtt_ms=rtt, audio_jitter_ms=audio_jitter,
            video_jitter_ms=video_jitter, video=(v_lost, v_expected),
            audio=(a_lost, a_expected), network=(n_lost, n_received))

    # --- disruptions ---------------------------------------------------------------------

    def _disrupt(self) -> None:
        now = time.monotonic()
        self._disruption_at = now
        if self.profile.outage_s is not None and self.cut is not None:
            self._disruption_at = self.cut.cut()  # ip link set down
            asyncio.get_running_loop().call_later(self.profile.outage_s, self._restore)
        elif self.profile.outage_s is not None:
            self.impairment.cut(self.profile.outage_s, now=now)
            self._restored_at = now + self.profile.outage_s
        elif self.profile.address_change:
            self.impairment.change_address()
            self._restored_at = now
        log.info("gate_disrupted", profile=self.profile.name, room=self.room)

    def _restore(self) -> None:
        if self.cut is not None and self._disruption_at is not None and self._restored_at is None:
            self._restored_at = self.cut.restore()

    def _subject_seen(self, event: type[p.ParticipantLeft] | type[p.ParticipantReconnecting]
                      ) -> bool:
        """Another client got `event` about the subject."""
        return any(e.identity == SUBJECT for c in self.clients if c is not self.subject
                   for e in c.events_of(event))

    # --- the run -------------------------------------------------------------------------

    async def run(self) -> RunResult:
        cfg = self.config
        self._tasks.append(asyncio.ensure_future(self._host.run()))
        t0 = time.monotonic()
        await self._start()
        await _sleep_until(t0 + cfg.warmup_s)
        start = time.monotonic()
        self._analyzer = ProbeAnalyzer(cfg.probe, psnr_every=cfg.psnr_every)
        self._rtt.reset()
        for deltas, kind in ((self._video_deltas, "video"), (self._audio_deltas, "audio")):
            deltas.update(self._receive.counts(kind))  # the warm-up's packets are not measured
        self._network_deltas.update(self._receive.stream_figures()[2])
        measured = cfg.measured_s(self.profile)
        loop = asyncio.get_running_loop()
        timer = None
        if self.profile.disrupts:
            timer = loop.call_later(cfg.disrupt_after_s, self._disrupt)
        try:
            second = 1
            while second <= measured + 1e-9:
                await _sleep_until(start + second)
                self.result.samples.append(await self._sample(float(second)))
                second += 1
        finally:
            if timer is not None:
                timer.cancel()
        end = time.monotonic()
        return self._finish(start, end)

    def _finish(self, start: float, end: float) -> RunResult:
        r, rec = self.result, self.recording
        assert self._analyzer is not None
        report = self._analyzer.report(end * 1000.0)
        figures.fill_figures(r, rec, self._host.stalls, start, end,
                             self.config.probe.flash_period_ms)
        r.probe = {
            "frames": report.video_frames, "unique": report.unique_frames,
            "expected": report.expected_frames, "dropped": report.dropped_frames,
            "repeated": report.repeated_frames, "unreadable": report.unreadable_frames,
            "out_of_order": report.out_of_order_frames,
            "sender_skipped": self._probe_video.frames_skipped if self._probe_video else 0,
            "flashes": report.flashes, "beeps": report.beeps,
        }
        left = self._subject_seen(p.ParticipantLeft)
        if self._disruption_at is not None:
            assert self._restored_at is not None
            r.disruptions.append(figures.disruption(
                address_change=self.profile.address_change, start=self._disruption_at,
                restored=self._restored_at, measure_start=start,
                reconnects=self.subject.reconnects, probe_times=rec.probe_times,
                uplink_times=rec.uplink_times, seat_kept=not left,
                reconnecting_seen=self._subject_seen(p.ParticipantReconnecting)))
        r.reconnects = len(self.subject.reconnects)
        r.seat_kept = not left
        imp = self.impairment
        r.impairment = {
            "dropped_in": imp.dropped_in, "dropped_out": imp.dropped_out,
            "passed_in": imp.passed_in, "passed_out": imp.passed_out,
            "overflow": imp.overflow,
            **{f"{d.value}_in": imp.link_in.dropped[d] for d in Drop},
            **{f"{d.value}_out": imp.link_out.dropped[d] for d in Drop},
        }
        return r

    async def close(self) -> None:
        self._restore()  # never leave the link down for the next run
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for viewer in self.viewers:
            await viewer.close()
        for client in reversed(self.clients):
            try:
                await client.leave()
            except Exception:
                with contextlib.suppress(Exception):
                    await client.close()
        for track in self._tracks:
            track.stop()


async def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def run_once(node: GateNode, profile: Profile, repeat: int, seed: int,
                   config: RunConfig, clip: Sequence[Clip],
                   cut: netcut.LinkCut | None = None) -> RunResult:
    """One repeat of a profile; a run that cannot complete returns with `error` set."""
    gate_run = GateRun(node, profile, repeat, seed, config, clip, cut)
    try:
        return await gate_run.run()
    except Exception as exc:
        log.exception("gate_run_failed", profile=profile.name, repeat=repeat)
        result = gate_run.result
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    finally:
        await gate_run.close()
