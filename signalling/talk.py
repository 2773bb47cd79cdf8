"""Talk time in the node: a `media.talk.TalkDetector` per participant of every room, fed by
a `TalkSink` on each audio Feed (the RFC 6464 level aiortc has already parsed; nothing is
decoded). Closed speaking spans go to the recording's timeline (`talk` lines, session
time) when the room is recorded; the live totals feed the session summary.

Wired by hooks only (Node.room_opened / room_closing, RoomMedia.feed_opened), like the
recorder; `setup` must run before the recorder's, so a closing room's last spans reach
its timeline before the recording is finalized.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from media.feed import Feed
from media.ids import Kind, RoomId
from media.talk import TalkDetector, TalkSpan
from media.talk_sink import TalkSink
from recorder.ids import file_safe
from recorder.room_recording import RoomRecording

from .hub import RoomHub
from .node import Node
from .recording import RECORDING

FLUSH_EVERY_S = 0.5


class RoomTalk:
    """One room's detectors, by participant (a participant's re-publish keeps theirs)."""

    def __init__(self) -> None:
        self.detectors: dict[str, TalkDetector] = {}

    def detector(self, identity: str) -> TalkDetector:
        found = self.detectors.get(identity)
        if found is None:
            found = self.detectors[identity] = TalkDetector()
        return found

    def talk_s(self, now: float) -> dict[str, float]:
        return {who: d.talk_s(now) for who, d in self.detectors.items()}


class TalkService:
    def __init__(self, node: Node, app: web.Application) -> None:
        self.node = node
        self.app = app
        self.rooms: dict[RoomId, RoomTalk] = {}
        node.room_opened.append(self.room_opened)
        node.room_closing.append(self.room_closing)

    def room_opened(self, hub: RoomHub) -> None:
        talk = self.rooms[hub.id] = RoomTalk()

        def feed_opened(feed: Feed) -> None:
            if feed.kind is Kind.AUDIO:
                feed.add(TalkSink(talk.detector(feed.owner)))

        hub.media.feed_opened.append(feed_opened)

    async def room_closing(self, hub: RoomHub) -> None:
        talk = self.rooms.pop(hub.id, None)
        if talk is not None:
            for detector in talk.detectors.values():
                detector.stop()
            self.flush(hub.id, talk)

    def flush(self, room_id: RoomId, talk: RoomTalk) -> None:
        """Close the spans whose hangover has run out; write the closed ones to the room's
        recording timeline (dropped when the room is not recorded)."""
        now = self.node.clock()
        service = self.app.get(RECORDING)
        recording = service.active.get(room_id) if service is not None else None
        for identity, detector in talk.detectors.items():
            detector.poll(now)
            spans = detector.take()
            if recording is not None and not recording.stopped:
                for span in spans:
                    _write(recording, identity, span)

    def recording_stopping(self, room_id: RoomId, recording: RoomRecording) -> None:
        """A recording stops while its room goes on: its closed spans, and the open ones
        as they stand, go on its timeline (the open ones stay open for the room)."""
        talk = self.rooms.get(room_id)
        if talk is None:
            return
        now = self.node.clock()  # (the recording is no longer in service.active)
        for identity, detector in talk.detectors.items():
            detector.poll(now)
            for span in detector.take():
                _write(recording, identity, span)
            still = detector.open_span(now)
            if still is not None:
                _write(recording, identity, still)

    def open_talk(self, room_id: RoomId, since: float) -> dict[str, float]:
        """The speaking spans open now (s since `since`, node clock), by pseudonym: the
        part of the talk time not yet on the timeline."""
        talk = self.rooms.get(room_id)
        if talk is None:
            return {}
        now = self.node.clock()
        return {file_safe(who): round(d.open_s(now, since), 3)
                for who, d in talk.detectors.items()}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            for room_id, talk in list(self.rooms.items()):
                self.flush(room_id, talk)


def _write(recording: RoomRecording, identity: str, span: TalkSpan) -> None:
    end = span.end - recording.start
    if end > 0:  # else: before the recording started
        recording.files.event(
            "talk", participant=file_safe(identity),
            start=round(max(0.0, span.start - recording.start), 3), end=round(end, 3),
            at=recording.at())


TALK: web.AppKey[TalkService] = web.AppKey("talk")


def setup(app: web.Application, node: Node) -> None:
    """Before `recording.setup`: its room_closing hook must run first."""
    app[TALK] = TalkService(node, app)
    app.on_startup.append(_hook_recorder)
    app.cleanup_ctx.append(_lifecycle)


async def _hook_recorder(app: web.Application) -> None:
    service = app.get(RECORDING)
    if service is not None:
        service.stopping.append(app[TALK].recording_stopping)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(app[TALK].run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
