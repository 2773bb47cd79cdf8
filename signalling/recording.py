"""The recorder inside the node: one `Recorder` per node, one `RoomRecording` per room that
records. Wired by hooks only (Node.room_opened/room_closing, RoomHub.on_join/on_leave,
RoomMedia.feed_opened); everyone in a room is told when recording starts and stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

import structlog
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from media.feed import Feed
from media.ids import Identity, Kind, Role, RoomId
from recorder.config import RecorderSettings
from recorder.consent import Policy, RoomPolicy
from recorder.errors import RecorderError
from recorder.ids import file_safe
from recorder.recorder import Recorder
from recorder.room_recording import RoomRecording
from recorder.s3 import S3Store
from recorder.sealing import LocalKek, open_sealed
from recorder.session import FINAL_SEQUENCE
from recorder.storage import Uploader

from . import protocol as p
from .errors import SignalCode, SignalError
from .hub import RoomHub
from .keys import REGISTRY
from .node import Node
from .tokens import TokenClaims

log = structlog.get_logger(__name__)

PURGE_EVERY_S = 3600.0
QUALITY_EVERY_S = 1.0


class RecordingService:
    def __init__(self, node: Node, settings: RecorderSettings) -> None:
        data_dir = node.settings.data_dir
        wrapper = (LocalKek.from_text(settings.kek) if settings.kek
                   else LocalKek.in_data_dir(data_dir / "recording-kek"))
        self.node = node
        self.settings = settings
        self.recorder = Recorder(
            data_dir / "recordings", wrapper, segment_s=settings.segment_s,
            queue_packets=settings.queue_packets, retention_days=settings.retention_days,
            clock=node.clock)
        self.active: dict[RoomId, RoomRecording] = {}
        self.members: dict[RoomId, dict[str, tuple[Role, bool]]] = {}
        self.recovered: list[str] | None = None  # None until start-up recovery is done
        self.uploader: Uploader | None = None  # object storage (S3), if configured
        self._quality: dict[tuple[RoomId, str], str] = {}  # last level on each timeline
        self.started: list[Callable[[RoomId, RoomRecording], None]] = []  # e.g. room events
        self.stopping: list[Callable[[RoomId, RoomRecording], None]] = []  # e.g. talk time
        self.ready: list[Callable[[str], None]] = []  # a session finalized (e.g. webhooks)
        self.deleted: list[Callable[[str, str, str | None], None]] = []  # session, reason,
        # participant (None: the whole session)
        node.room_opened.append(self.room_opened)
        node.room_closing.append(self.room_closing)

    def default_policy(self) -> RoomPolicy:
        return RoomPolicy(self.settings.policy, self.settings.learner_video)

    # --- hooks ------------------------------------------------------------------------

    def room_opened(self, hub: RoomHub) -> None:
        self.members[hub.id] = {}
        hub.on_join.append(lambda claims: self.joined(hub, claims))
        hub.on_leave.append(lambda identity, _reason: self.left(hub, identity))
        hub.media.feed_opened.append(lambda feed: self.feed_opened(hub, feed))
        hub.on_record = lambda identity, active: self.tutor_asks(hub, identity, active)
        if self.settings.auto_start and self.settings.policy is not Policy.OFF:
            self.start(hub, self.default_policy())

    def joined(self, hub: RoomHub, claims: TokenClaims) -> None:
        consent = claims.consent is not None and claims.consent.recording
        self.members.setdefault(hub.id, {})[claims.sub] = (claims.role, consent)
        recording = self.active.get(hub.id)
        if recording is not None:
            recording.joined(claims.sub, claims.role, consent)
            conn = hub.connections.get(Identity(claims.sub))
            if conn is not None:
                conn.send(p.RecordingStarted(recorded=recording.recorded()))

    def left(self, hub: RoomHub, identity: Identity) -> None:
        recording = self.active.get(hub.id)
        if recording is not None:
            recording.left(identity)

    def feed_opened(self, hub: RoomHub, feed: Feed) -> None:
        recording = self.active.get(hub.id)
        if recording is not None and recording.feed_opened(feed):
            self._tell(hub, recording)

    async def room_closing(self, hub: RoomHub) -> None:
        await self.stop(hub)
        self.members.pop(hub.id, None)

    # --- start / stop -----------------------------------------------------------------

    async def tutor_asks(self, hub: RoomHub, identity: Identity, active: bool) -> None:
        """The `record` request: only a tutor, and only under a policy that is not off."""
        participant = hub.room.participants.get(identity)
        if participant is None or participant.role is not Role.TUTOR:
            raise SignalError(SignalCode.RECORDING_REFUSED, "only a tutor starts or stops "
                              "recording")
        if not active:
            await self.stop(hub)
        elif self.settings.policy is Policy.OFF:
            raise SignalError(SignalCode.RECORDING_REFUSED, "recording is off on this node")
        else:
            self.start(hub, self.default_policy())

    def start(self, hub: RoomHub, policy: RoomPolicy) -> RoomRecording:
        if hub.id in self.active:
            return self.active[hub.id]
        recording = self.recorder.start(hub.id, policy)
        self.active[hub.id] = recording
        for observe in self.started:
            observe(hub.id, recording)
        for identity, (role, consent) in self.members.get(hub.id, {}).items():
            recording.joined(identity, role, consent)
        for feed in list(hub.media.feeds.values()):
            recording.feed_opened(feed)
        self._tell(hub, recording)
        return recording

    async def stop(self, hub: RoomHub) -> bool:
        recording = self.active.pop(hub.id, None)
        if recording is None:
            return False
        for observe in self.stopping:
            observe(hub.id, recording)
        message = p.RecordingStopped()
        for conn in hub.connections.values():
            conn.send(message)
        await recording.stop()
        self._ready(recording.session)
        await self.upload(recording.session)
        return True

    # --- storage, erasure, retention ----------------------------------------------------

    async def connect_storage(self) -> None:
        s = self.settings
        if s.storage == "s3":
            store = await S3Store.connect(s.s3_bucket, endpoint=s.s3_endpoint or None,
                                          region=s.s3_region)
            self.uploader = Uploader(store, self.recorder.counters)

    async def upload(self, session: str) -> None:
        """Copy a finished session to object storage (no-op with local storage); a failure
        is retried at the next start-up (the manifest is the queue)."""
        if self.uploader is None:
            return
        try:
            files = self.recorder.open(session)
        except RecorderError:
            return  # erased meanwhile
        try:
            info = files.info()
            if info.get("status") in ("finalized", "recovered") and not info.get("uploaded"):
                await self.uploader.upload(files)
        except Exception:
            log.exception("recording_upload_failed", session=session)
        finally:
            files.close()

    async def final_track(self, session: str, track: str) -> bytes:
        """A finalized track, decrypted: from disk, or from object storage once uploaded."""
        files = self.recorder.open(session)
        try:
            if (files.dir / "final" / f"{track}.seg").exists() or self.uploader is None:
                return await asyncio.to_thread(files.final, track)
            blob = await self.uploader.store.get(f"{session}/final/{track}.seg")
            return open_sealed(files.data_key, blob, session=session, track=track,
                               sequence=FINAL_SEQUENCE)[1]
        finally:
            files.close()

    async def erase_session(self, session: str, reason: str) -> bool:
        if self.uploader is not None:
            await self.uploader.erase(session)
        erased = await asyncio.to_thread(self.recorder.erase_session, session, reason)
        self._deleted([session] if erased else [], reason, None)
        return erased

    async def erase_participant(self, pseudonym: str, reason: str) -> list[str]:
        sessions = await asyncio.to_thread(self.recorder.erase_participant, pseudonym, reason)
        if self.uploader is not None:
            names = {f"{file_safe(pseudonym)}-{kind}" for kind in Kind}
            store = self.uploader.store
            for session in self.recorder.sessions():
                stored = await store.keys(session)
                for key in stored:
                    parts = key.split("/")  # <session>/tracks/<track>/<n>.seg, final/<t>.seg
                    if (parts[1:2] == ["tracks"] and parts[2] in names) or (
                            parts[1:2] == ["final"] and parts[2].removesuffix(".seg") in names):
                        await store.delete(key)
                for name in ("manifest.jsonl", "timeline.jsonl"):  # scrubbed like the local
                    path = self.recorder.root / session / name
                    if session in sessions and f"{session}/{name}" in stored:
                        await store.put(f"{session}/{name}", path.read_bytes())
        self._deleted(sessions, reason, pseudonym)
        return sessions

    async def purge(self) -> list[str]:
        expired = await asyncio.to_thread(self.recorder.purge)
        if self.uploader is not None:
            for session in expired:
                await self.uploader.erase(session)
        self._deleted(expired, "retention", None)
        return expired

    def _ready(self, session: str) -> None:
        for observe in self.ready:
            observe(session)

    def _deleted(self, sessions: list[str], reason: str, participant: str | None) -> None:
        for session in sessions:
            for observe in self.deleted:
                observe(session, reason, participant)

    def _tell(self, hub: RoomHub, recording: RoomRecording) -> None:
        message = p.RecordingStarted(recorded=recording.recorded())
        for conn in hub.connections.values():
            conn.send(message)

    async def close(self) -> None:
        for room_id in list(self.active):
            hub = self.node.hubs.get(room_id)
            recording = self.active.pop(room_id)
            if hub is not None:
                for conn in hub.connections.values():
                    conn.send(p.RecordingStopped())
            await recording.stop()
            self._ready(recording.session)

    async def housekeeping(self, stale: list[str]) -> None:
        """Recover what a crash left open (`stale`: the sessions on disk at start-up), then
        purge expired recordings every hour."""
        self.recovered = await asyncio.to_thread(self.recorder.recover, stale)
        if self.recovered:
            log.info("recordings_recovered", sessions=len(self.recovered))
        for session in self.recovered:
            self._ready(session)
        for session in stale:  # uploads a crash or an outage interrupted
            await self.upload(session)
        while True:
            await self.purge()
            if self.uploader is not None:  # what failed to upload since: try again
                for session in self.recorder.sessions():
                    if not any(r.session == session for r in self.active.values()):
                        await self.upload(session)
            await asyncio.sleep(PURGE_EVERY_S)


    async def watch_quality(self) -> None:
        """Put each recorded room's live quality transitions (qos.live) and its held seats
        (reconnecting, then resumed) on its timeline."""
        while True:
            await asyncio.sleep(QUALITY_EVERY_S)
            for room_id, recording in list(self.active.items()):
                hub = self.node.hubs.get(room_id)
                for identity, report in list(hub.quality_reports.items()) if hub else []:
                    level = report.quality.value if report.quality else None
                    if level is not None and self._quality.get((room_id, identity)) != level:
                        self._quality[(room_id, identity)] = level
                        recording.quality(identity, level, report.score)
                for participant in list(hub.room) if hub else []:  # reconnect phases
                    if participant.reconnecting_since is not None:
                        recording.reconnecting(participant.identity,
                                               participant.reconnecting_since)
                    else:
                        recording.present(participant.identity)
            for key in [k for k in self._quality if k[0] not in self.active]:
                del self._quality[key]


class RecorderCollector(Collector):
    def __init__(self, service: RecordingService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        c = self.service.recorder.counters
        for name, text, value in (
            ("liveroom_recorded_bytes", "Sealed bytes the recorder wrote", c.bytes),
            ("liveroom_recorded_segments", "Segments the recorder sealed", c.segments),
            ("liveroom_recorder_drops", "Packets the recorder dropped (full queue)", c.drops),
            ("liveroom_recorder_recoveries", "Open segments recovered after a crash",
             c.recoveries),
            ("liveroom_recorder_upload_failures", "Segment uploads that failed",
             c.upload_failures),
        ):
            yield CounterMetricFamily(name, text, value=value)


RECORDING: web.AppKey[RecordingService] = web.AppKey("recording")


def setup(app: web.Application, node: Node) -> None:
    service = RecordingService(node, node.settings.recording)
    app[RECORDING] = service
    app[REGISTRY].register(RecorderCollector(service))
    app.cleanup_ctx.append(_lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    service = app[RECORDING]
    stale = service.recorder.sessions()  # before any room can start a new one
    await service.connect_storage()
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(service.housekeeping(stale)),
             loop.create_task(service.watch_quality())]
    yield
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await service.close()
    if service.uploader is not None:
        await service.uploader.store.close()
