"""One run of one profile against a node: the IO side of the gate.

A tutor publishes the probe (`qos.probe_tracks`), each learner publishes a cheap clip (a
ladder of pre-encoded renditions that follows the REMB it gets, as a browser's encoder), and
the first learner (the *subject*) has its datagrams impaired both ways. Once a second the
subject's figures are sampled: RTT of its uplink, jitter and loss of what it receives,
MOS, and what the probe saw (new pictures, freezes, glass-to-glass latency). An outage or
address change, if the profile has one, happens a few seconds into the measurement; its
reconnect timeline and time to media restore are recorded.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import secrets
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import av
import structlog
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.ids import Kind, Role
from qos.freeze import FreezeDetector, StallKind
from qos.impairment import Drop, Impairment
from qos.probe import ProbeAnalyzer
from qos.probe_source import ProbeConfig
from qos.probe_tracks import ProbeVideoTrack, probe_tracks
from qos.score import NetworkSample, mos_of
from qos.units import OPUS_CLOCK_RATE, VIDEO_CLOCK_RATE
from signalling import protocol as p
from signalling.client import Client, RemoteDownlink
from signalling.client.clip import Clip, ClipTrack, read_frame_number
from signalling.client.continuity import NETWORK_RESTORED, Reconnect, ReconnectPolicy

from .counters import Deltas, SequenceCounter
from .host import HostMonitor, overlap
from .model import Disruption, ReconnectTimeline, RunResult, Sample
from .node import GateNode
from .profiles import Profile

__all__ = ["RunConfig", "Session", "run_once"]

log = structlog.get_logger(__name__)

TUTOR = "tutor"
SUBJECT = "learner-1"
FIRST_FRAME = "first_frame"
FIRST_FRAME_SENT = "first_frame_sent"
DISRUPTED = "disrupted"

SETTLE_S = 1.0
"""After a host stall, per-second figures are left out for this long."""
MIN_DISTURBANCE_S = 0.05

FrameHandler = Callable[[str, Any, float], None]
"""(kind, decoded frame, monotonic seconds when it was obtained)."""


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
    """The subject's receive pipeline: "browser" (signalling/reception.py) or "aiortc"."""

    def measured_s(self, profile: Profile) -> float:
        needed = self.disrupt_after_s + (profile.outage_s or 0.0) + self.recovery_s
        plain = self.duration_s - self.warmup_s
        return max(plain, needed) if profile.disrupts else plain


class _Discard:
    """Stands in for a receiver's jitter buffer: the packets were counted (RTCP, REMB,
    NACK happen before it), nothing is decoded."""

    def add(self, packet: Any) -> tuple[bool, None]:
        return False, None


class Viewer:
    """Decodes what `client` receives from `publisher`, following its current downlink
    (a reconnect brings a new one), and hands every frame to `on_frame`.

    Without `on_frame` nothing is measured, and nothing is decoded: the receivers still
    report, estimate bandwidth and NACK as a learner's would, but in a real lesson each
    learner decodes on its own machine, while here one process would decode for all of
    them and its event loop would lag (1:3 on 2 cores: RTT p95 over 1 s from that alone)."""

    def __init__(
        self,
        client: Client,
        publisher: str,
        on_frame: FrameHandler | None = None,
        on_downlink: Callable[[RemoteDownlink], None] | None = None,
    ) -> None:
        self.client = client
        self.publisher = publisher
        self.on_frame = on_frame
        self.on_downlink = on_downlink
        self.downlink: RemoteDownlink | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def poll(self) -> None:
        downlink = self.client.downlink_from(self.publisher)
        if downlink is None:
            return
        if downlink is not self.downlink:
            for task in self._tasks.values():
                task.cancel()
            self._tasks.clear()
            self.downlink = downlink
            if self.on_frame is None:
                for receiver in downlink.pc.getReceivers():
                    pipeline = _private(receiver, "jitter_buffer")
                    if hasattr(pipeline, "stop"):
                        pipeline.stop()  # the client's browser-like pipeline
                    receiver._RTCRtpReceiver__jitter_buffer = _Discard()  # type: ignore[attr-defined]
            if self.on_downlink is not None:
                self.on_downlink(downlink)
        if self.on_frame is None:
            return
        for kind, track in list(downlink.tracks.items()):
            if kind.value not in self._tasks:
                self._tasks[kind.value] = asyncio.ensure_future(self._drain(kind.value, track))

    async def _drain(self, kind: str, track: MediaStreamTrack) -> None:
        """Every track must be read: aiortc queues decoded frames without bound."""
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if self.on_frame is not None:
                try:
                    self.on_frame(kind, frame, time.monotonic())
                except Exception:
                    log.exception("gate_frame_failed", publisher=self.publisher)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()


def _private(obj: Any, name: str) -> Any:
    """An aiortc name-mangled attribute (`RTCRtpReceiver.__jitter_buffer`)."""
    return getattr(obj, f"_{type(obj).__name__}__{name}", None)


class Session:
    """Clients, viewers and measurements of one run (use `run()` then `close()`)."""

    def __init__(self, node: GateNode, profile: Profile, repeat: int, seed: int,
                 config: RunConfig, clip: Sequence[Clip]) -> None:
        self.node, self.profile, self.repeat, self.seed = node, profile, repeat, seed
        self.config, self.clip = config, clip
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
        self._tracks: list[MediaStreamTrack] = []
        self._probe_video: ProbeVideoTrack | None = None
        self._supervisor: asyncio.Task[None] | None = None
        # measurement state
        self._analyzer: ProbeAnalyzer | None = None
        self._measure_start: float | None = None
        self._sequences: dict[tuple[int, int], tuple[str, SequenceCounter]] = {}
        self._subject_downlinks: list[RemoteDownlink] = []
        self._video_deltas = Deltas(2)
        self._audio_deltas = Deltas(2)
        self._network_deltas = Deltas(2)
        self._second_frames = 0
        self._second_g2g: list[float] = []
        self._probe_times: list[float] = []
        self._frames: list[tuple[float, float]] = []  # (received, g2g ms) per new picture
        self._pictures: list[tuple[float, int, float]] = []  # (received, id, captured)
        self._sent_ids: set[int] = set()
        self._freeze = FreezeDetector()  # on new pictures, as the analyzer's
        self._freezes_sampled = 0
        self._flashes: list[float] = []
        self._beeps: list[float] = []
        self._was_flash = False
        self._host = HostMonitor()
        self._rtt_uplink: Any = None
        self._rtt_samples: list[float] = []
        self._host_task: asyncio.Task[None] | None = None
        self._uplink_times: list[float] = []
        self._uplink_freeze = FreezeDetector()
        self._disruption_at: float | None = None
        self._restored_at: float | None = None

    def _client(self, identity: str, role: Role, seed: int,
                impairment: Impairment | None = None, reception: bool = False) -> Client:
        return Client(self.node.url, self.room, self.node.token(self.room, identity, role),
                      impairment=impairment, reconnect=ReconnectPolicy(), seed=seed,
                      reception=reception)

    @property
    def clients(self) -> list[Client]:
        return [self.tutor, *self.learners]

    # --- setting up ----------------------------------------------------------------------

    async def _start(self) -> None:
        await self.tutor.join()
        audio, video = probe_tracks(self.config.probe)
        self._probe_video = video
        self._record_handouts(video)
        self._tracks += [audio, video]
        await self.tutor.publish([audio, video])
        for learner in self.learners:
            await learner.join()
            tracks = [ClipTrack(self.clip[0], "audio"), ClipTrack(self.clip, "video")]
            self._tracks += tracks
            await learner.publish(tracks)
        for learner in self.learners:
            subject = learner is self.subject
            self.viewers.append(Viewer(
                learner, TUTOR, self._on_probe if subject else None,
                self._tap if subject else None))
            for other in self.learners:
                if other is not learner:
                    self.viewers.append(Viewer(learner, other.identity))
            self.viewers.append(Viewer(self.tutor, learner.identity,
                                       self._on_uplink if subject else None))
        self._supervisor = asyncio.ensure_future(self._supervise())
        try:
            await self.subject.wait_for(
                lambda c: (d := c.downlink_from(TUTOR)) is not None and len(d.tracks) == 2,
                timeout=self.config.join_timeout_s)
        except TimeoutError:
            raise RuntimeError(
                f"{SUBJECT} got no probe tracks within {self.config.join_timeout_s:g} s"
            ) from None

    def _record_handouts(self, video: ProbeVideoTrack) -> None:
        """Note which frame ids the probe handed to the encoder (it skips slots when late)."""
        inner = video.recv
        fps = self.config.probe.fps

        async def recv() -> av.VideoFrame:
            frame = await inner()
            if frame.pts is not None:
                self._sent_ids.add(round(frame.pts * fps / 90_000))
            return frame

        video.recv = recv  # type: ignore[method-assign]

    async def _supervise(self) -> None:
        while True:
            for viewer in self.viewers:
                viewer.poll()
            self._watch_rtt()
            await asyncio.sleep(0.05)

    def _tap(self, downlink: RemoteDownlink) -> None:
        """Count the unique packets that reach the subject's jitter buffers (after RTX)."""
        self._subject_downlinks.append(downlink)
        for transceiver in downlink.pc.getTransceivers():
            jitter_buffer = _private(transceiver.receiver, "jitter_buffer")
            if jitter_buffer is None:
                continue
            inner = jitter_buffer.add
            kind, pc_key = transceiver.kind, id(downlink.pc)

            def add(packet: Any, inner: Any = inner, kind: str = kind, pc_key: int = pc_key
                    ) -> Any:
                entry = self._sequences.get((pc_key, packet.ssrc))
                if entry is None:
                    entry = self._sequences[(pc_key, packet.ssrc)] = (kind, SequenceCounter())
                entry[1].add(packet.sequence_number)
                return inner(packet)

            jitter_buffer.add = add

    # --- frames --------------------------------------------------------------------------

    def _on_probe(self, kind: str, frame: Any, now: float) -> None:
        analyzer = self._analyzer
        if analyzer is None:
            return
        if kind == Kind.AUDIO.value:
            if isinstance(frame, av.AudioFrame):
                self._beeps += [t / 1000.0 for t in analyzer.on_audio_frame(frame, now * 1000.0)]
            return
        if not isinstance(frame, av.VideoFrame):
            return
        seen = analyzer.on_video_frame(frame, now * 1000.0)
        onset = seen.frame_id is None or seen.frame_id % self.config.probe.fps == 0
        if seen.flash and not self._was_flash and onset:
            self._flashes.append(now)
        self._was_flash = seen.flash
        if seen.frame_id is None or seen.repeated:
            return
        self._probe_times.append(now)
        self._second_frames += 1
        if not self._pictures or seen.frame_id > self._pictures[-1][1]:  # in order
            self._freeze.on_frame(now * 1000.0)
            captured = now - (seen.latency_ms or 0.0) / 1000.0
            self._pictures.append((now, seen.frame_id, captured))
        if seen.latency_ms is not None:
            self._second_g2g.append(seen.latency_ms)
            self._frames.append((now, seen.latency_ms))
        if seen.psnr_db is not None:
            self.result.psnr_db.append(round(seen.psnr_db, 2))

    def _on_uplink(self, kind: str, frame: Any, now: float) -> None:
        if self._measure_start is None or kind != Kind.VIDEO.value:
            return
        if isinstance(frame, av.VideoFrame) and read_frame_number(frame) is not None:
            self._uplink_times.append(now)
            self._uplink_freeze.on_frame(now * 1000.0)

    # --- sampling ------------------------------------------------------------------------

    def _watch_rtt(self) -> None:
        """Take an RTT sample from every receiver report on the subject's (current) uplink.

        Computed as aiortc and RFC 3550 do (now - LSR time - DLSR), but not smoothed:
        aiortc's `roundTripTime` is an average with weight 0.85 on the past, so one bad
        early sample lingers for ~15 s. webrtc-stats' `roundTripTime` is the latest
        measurement, which is what this reports.
        """
        uplink = self.subject.uplink
        if uplink is None or uplink is self._rtt_uplink:
            return
        self._rtt_uplink = uplink
        for sender in uplink.getSenders():
            inner = sender._handle_rtcp_packet

            async def handle(packet: Any, sender: Any = sender, inner: Any = inner) -> None:
                lsr, lsr_time = _private(sender, "lsr"), _private(sender, "lsr_time")
                for report in getattr(packet, "reports", ()):
                    if (report.ssrc == sender._ssrc and lsr is not None and lsr_time is not None
                            and report.lsr == lsr and report.dlsr):
                        rtt = (time.time() - lsr_time - report.dlsr / 65536) * 1000.0
                        if rtt >= 0:  # two SRs may share an LSR (no RTP sent in between)
                            self._rtt_samples.append(rtt)
                await inner(packet)

            sender._handle_rtcp_packet = handle  # type: ignore[method-assign]

    def _rtt_ms(self) -> float | None:
        """Mean of the RTT samples since the last call; None if no report arrived."""
        samples, self._rtt_samples = self._rtt_samples, []
        return statistics.fmean(samples) if samples else None

    def _stream_figures(self) -> tuple[float | None, float | None, dict[Any, tuple[int, int]]]:
        """Audio jitter, video jitter (ms, current downlink) and the network counters of
        every video stream (lost, received) before retransmission."""
        jitter: dict[str, float] = {}
        network: dict[Any, tuple[int, int]] = {}
        current = self._subject_downlinks[-1] if self._subject_downlinks else None
        for downlink in self._subject_downlinks:
            for receiver in downlink.pc.getReceivers():
                streams = _private(receiver, "remote_streams") or {}
                for ssrc, stream in streams.items():
                    entry = self._sequences.get((id(downlink.pc), ssrc))
                    if entry is None:  # an RTX stream, or nothing reached the buffer yet
                        continue
                    kind = entry[0]
                    if kind == Kind.VIDEO.value:
                        network[(id(downlink.pc), ssrc)] = (
                            stream.packets_lost, stream.packets_received)
                    if downlink is current:
                        rate = VIDEO_CLOCK_RATE if kind == "video" else OPUS_CLOCK_RATE
                        jitter[kind] = stream.jitter * 1000.0 / rate
        return jitter.get("audio"), jitter.get("video"), network

    def _counts(self, kind: str) -> dict[Any, tuple[int, int]]:
        return {key: (c.lost, c.expected) for key, (k, c) in self._sequences.items() if k == kind}

    async def _sample(self, t: float) -> Sample:
        rtt = self._rtt_ms()
        audio_jitter, video_jitter, network = self._stream_figures()
        v_lost, v_expected = self._video_deltas.update(self._counts("video"))
        a_lost, a_expected = self._audio_deltas.update(self._counts("audio"))
        n_lost, n_received = self._network_deltas.update(network)
        r = self.result
        r.video_lost += v_lost
        r.video_expected += v_expected
        r.audio_lost += a_lost
        r.audio_expected += a_expected
        audio_loss = max(0, a_lost) / a_expected if a_expected > 0 else None
        if audio_loss is None:
            mos = 1.0  # no audio at all this second
        else:
            mos = mos_of(NetworkSample(audio_loss, audio_jitter or 0.0, rtt))
        new_stalls = self._freeze.stalls[self._freezes_sampled:]
        self._freezes_sampled = len(self._freeze.stalls)
        freezes = [x for x in new_stalls if x.kind is StallKind.FREEZE]
        sample = Sample(
            t=round(t, 3),
            rtt_ms=_round(rtt),
            jitter_ms=_round(audio_jitter),
            video_jitter_ms=_round(video_jitter),
            loss_pct=_round(100.0 * max(0, v_lost) / v_expected if v_expected > 0 else None),
            network_loss_pct=_round(
                100.0 * max(0, n_lost) / (n_lost + n_received)
                if n_lost + n_received > 0 else None),
            audio_loss_pct=_round(None if audio_loss is None else 100.0 * audio_loss),
            mos=_round(mos, 3),
            fps=float(self._second_frames),
            freezes=len(freezes),
            freeze_ms=round(sum(x.duration_ms for x in freezes), 1),
            g2g_ms=_round(statistics.median(self._second_g2g) if self._second_g2g else None),
        )
        self._second_frames = 0
        self._second_g2g = []
        return sample

    # --- disruptions ---------------------------------------------------------------------

    def _disrupt(self) -> None:
        now = time.monotonic()
        self._disruption_at = now
        if self.profile.outage_s is not None:
            self.impairment.cut(self.profile.outage_s, now=now)
            self._restored_at = now + self.profile.outage_s
        elif self.profile.address_change:
            self.impairment.change_address()
            self._restored_at = now
        log.info("gate_disrupted", profile=self.profile.name, room=self.room)

    def _disruption(self, measure_start: float) -> Disruption:
        start, restored = self._disruption_at, self._restored_at
        assert start is not None and restored is not None
        attempts = [r for r in self.subject.reconnects
                    if r.phases.get("stall_detected", 0.0) >= start - 0.5]
        # media counts as restored once it arrives on the new path: after the network came
        # back, and (address change) after the client started over on new sockets
        after = restored
        if self.profile.address_change:
            started = [r.phases["reconnect_started"] for r in attempts
                       if "reconnect_started" in r.phases]
            after = min(started) if started else restored + 0.5
        receive = next((x for x in self._probe_times if x >= after), None)
        send = next((x for x in self._uplink_times if x >= after), None)
        ttmr = None
        if receive is not None and send is not None:
            ttmr = max(receive, send) - restored
        others = [c for c in self.clients if c is not self.subject]
        left = any(e.identity == SUBJECT for c in others for e in c.events_of(p.ParticipantLeft))
        told = any(e.identity == SUBJECT
                   for c in others for e in c.events_of(p.ParticipantReconnecting))
        timelines = [self._timeline(r, start, restored, receive, send) for r in attempts]
        return Disruption(
            kind="address_change" if self.profile.address_change else "outage",
            start_t=round(start - measure_start, 3),
            duration_s=round(restored - start, 3),
            ttmr_s=_round(ttmr, 3),
            receive_s=_round(None if receive is None else receive - restored, 3),
            send_s=_round(None if send is None else send - restored, 3),
            seat_kept=not left,
            reconnecting_seen=told,
            reconnects=timelines,
        )

    @staticmethod
    def _timeline(attempt: Reconnect, start: float, restored: float,
                  receive: float | None, send: float | None) -> ReconnectTimeline:
        phases = {DISRUPTED: 0.0, NETWORK_RESTORED: restored - start}
        phases.update({k: v - start for k, v in attempt.phases.items()})
        if receive is not None:
            phases[FIRST_FRAME] = receive - start
        if send is not None:
            phases[FIRST_FRAME_SENT] = send - start
        ordered = dict(sorted(phases.items(), key=lambda kv: kv[1]))
        return ReconnectTimeline(attempt.reason, attempt.attempts,
                                 {k: round(v, 3) for k, v in ordered.items()})

    # --- the run -------------------------------------------------------------------------

    async def run(self) -> RunResult:
        cfg = self.config
        self._host_task = asyncio.ensure_future(self._host.run())
        t0 = time.monotonic()
        await self._start()
        await _sleep_until(t0 + cfg.warmup_s)
        start = time.monotonic()
        self._measure_start = start
        self._analyzer = ProbeAnalyzer(cfg.probe, psnr_every=cfg.psnr_every)
        self._rtt_samples = []
        for deltas, kind in ((self._video_deltas, "video"), (self._audio_deltas, "audio")):
            deltas.update(self._counts(kind))  # the warm-up's packets are not measured
        self._network_deltas.update(self._stream_figures()[2])
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
        r = self.result
        r.measured_s = round(end - start, 3)
        assert self._analyzer is not None
        report = self._analyzer.report(end * 1000.0)
        stalls = [(a, b) for a, b in self._host.stalls if b > start and a < end]
        r.host_stall_s = round(overlap(stalls, start, end), 3)
        self._mark_disturbed(start, stalls)
        freezes = self._freeze.summary(end * 1000.0)
        r.freeze = {k: _round(v, 3) if isinstance(v, float) else v
                    for k, v in asdict(freezes).items()}
        spans = [(x.start_ms / 1000.0, (x.start_ms + x.duration_ms) / 1000.0)
                 for x in self._freeze.stalls if x.kind is StallKind.FREEZE]
        if freezes.freeze_count > len(spans) and self._probe_times:  # a trailing freeze
            spans.append((self._probe_times[-1], end))
        host = [(a, b) for a, b in spans
                if overlap(stalls, a, b) > 0 or self._sender_stalled(a, b)]
        r.host_freezes = len(host)
        r.host_freeze_ms = round(sum(b - a for a, b in host) * 1000.0, 1)
        for received, latency in self._frames:
            if overlap(stalls, received - latency / 1000.0 - 0.02, received) > 0:
                r.excluded_frames += 1
            else:
                r.g2g_ms.append(round(latency, 1))
        r.av_offset_ms = self._av_offsets(stalls)
        r.probe = {
            "frames": report.video_frames, "unique": report.unique_frames,
            "expected": report.expected_frames, "dropped": report.dropped_frames,
            "repeated": report.repeated_frames, "unreadable": report.unreadable_frames,
            "out_of_order": report.out_of_order_frames,
            "sender_skipped": self._probe_video.frames_skipped if self._probe_video else 0,
            "flashes": report.flashes, "beeps": report.beeps,
        }
        r.uplink_frames = len(self._uplink_times)
        r.uplink_freezes = self._uplink_freeze.summary(end * 1000.0).freeze_count
        if self._disruption_at is not None:
            r.disruptions.append(self._disruption(start))
        r.reconnects = len(self.subject.reconnects)
        others = [c for c in self.clients if c is not self.subject]
        r.seat_kept = not any(e.identity == SUBJECT for c in others
                              for e in c.events_of(p.ParticipantLeft))
        imp = self.impairment
        r.impairment = {
            "dropped_in": imp.dropped_in, "dropped_out": imp.dropped_out,
            "passed_in": imp.passed_in, "passed_out": imp.passed_out,
            "overflow": imp.overflow,
            **{f"{d.value}_in": imp.link_in.dropped[d] for d in Drop},
            **{f"{d.value}_out": imp.link_out.dropped[d] for d in Drop},
        }
        return r

    def _sender_stalled(self, start: float, end: float) -> bool:
        """The freeze from the picture received at `start` to the next one was already there
        at the sender: no frame id in between was handed to the encoder, and the capture
        times are as far apart as the receive times (the probe's process was starved)."""
        i = bisect.bisect_left(self._pictures, (start - 1e-6,))
        if i + 1 >= len(self._pictures) or abs(self._pictures[i][0] - start) > 1e-3:
            return False
        (_, a, captured_a), (received_b, b, captured_b) = self._pictures[i], self._pictures[i + 1]
        if any(x in self._sent_ids for x in range(a + 1, b)):
            return False  # frames were sent and lost on the way: a real freeze
        return captured_b - captured_a >= 0.7 * (received_b - start)

    def _mark_disturbed(self, start: float, stalls: list[tuple[float, float]]) -> None:
        """Seconds with a host stall, and the next `SETTLE_S` (RTT and jitter are smoothed
        estimators: a stall shows in them for a while), stay out of the pooled figures."""
        for sample in self.result.samples:
            end = start + sample.t
            sample.host_stall_ms = round(overlap(stalls, end - 1.0, end) * 1000.0, 1)
            recent = overlap(stalls, end - 1.0 - SETTLE_S, end)
            sample.disturbed = recent >= MIN_DISTURBANCE_S

    def _av_offsets(self, stalls: list[tuple[float, float]]) -> list[float]:
        """Flash onset - nearest beep onset (within half a period), as `ProbeAnalyzer`
        pairs them, leaving out pairs a host stall may have shifted."""
        half = self.config.probe.flash_period_ms / 2000.0
        offsets = []
        for flash in self._flashes:
            if not self._beeps:
                break
            beep = min(self._beeps, key=lambda b: abs(b - flash))
            if abs(flash - beep) >= half:
                continue
            if overlap(stalls, min(flash, beep) - 0.3, max(flash, beep)) > 0:
                continue
            offsets.append(round((flash - beep) * 1000.0, 1))
        return offsets

    async def close(self) -> None:
        if self._host_task is not None:
            self._host_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._host_task
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
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


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


async def _sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def run_once(node: GateNode, profile: Profile, repeat: int, seed: int,
                   config: RunConfig, clip: Sequence[Clip]) -> RunResult:
    """One repeat of a profile; a run that cannot complete returns with `error` set."""
    session = Session(node, profile, repeat, seed, config, clip)
    try:
        return await session.run()
    except Exception as exc:
        log.exception("gate_run_failed", profile=profile.name, repeat=repeat)
        result = session.result
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    finally:
        await session.close()
