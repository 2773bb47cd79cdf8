"""RecordingSink's rules (the Feed's side, no thread): never blocks, drops on a full queue,
drops video up to the next keyframe and asks for one, tells the track what happened."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc.rtp import RtpPacket

from media.fastpath import SourcePacket
from media.ids import Kind, PublicationId
from recorder.counters import RecorderCounters
from recorder.ids import TrackKey
from recorder.sink import RecordingSink


class FullAfter:
    """A track's queue that takes `room` items (a stand-in for TrackRecorder.put)."""

    def __init__(self, kind: Kind, room: int) -> None:
        self.key = TrackKey("tutor", kind)
        self.room = room
        self.items: list[tuple[Any, ...]] = []

    def put(self, item: tuple[Any, ...]) -> bool:
        if len(self.items) >= self.room:
            return False
        self.items.append(item)
        return True


class Upstream:
    publication_id = PublicationId("tutor:video")

    def __init__(self) -> None:
        self.keyframes: list[float] = []

    def request_keyframe(self, now: float) -> None:
        self.keyframes.append(now)

    def nack(self, sequence_numbers: list[int]) -> None: ...

    def subscriber_estimate(self, sink: Any, bitrate: int, now: float) -> None: ...


def source(seq: int, keyframe: bool) -> SourcePacket:
    return SourcePacket(RtpPacket(sequence_number=seq, timestamp=seq * 3000, ssrc=5,
                                  payload=b"\x10\x00"), keyframe, 0)


def test_a_full_queue_drops_video_up_to_the_next_keyframe_and_asks_for_one() -> None:
    loop = asyncio.new_event_loop()
    try:
        track = FullAfter(Kind.VIDEO, room=2)
        counters = RecorderCounters()
        sink = RecordingSink(track, 0.0, lambda: 1.0, loop, counters)  # type: ignore[arg-type]
        upstream = Upstream()
        sink.upstream = upstream
        assert sink.forward(source(1, True), 1.0) == 0
        sink.forward(source(2, False), 1.0)
        sink.forward(source(3, False), 1.1)  # full: dropped, a keyframe asked for
        assert counters.drops == 1 and upstream.keyframes == [1.1]
        track.room = 100  # the thread caught up
        sink.forward(source(4, False), 1.2)  # still not a keyframe: dropped unasked
        sink.forward(source(5, True), 1.3)
        kinds = [item[0] for item in track.items]
        assert kinds == ["rtp", "rtp", "dropped", "rtp"]
        assert track.items[-1][2] == 5
        sink.pause()
        sink.forward(source(6, False), 1.4)  # muted: nothing
        sink.upstream = None  # the Feed removed the sink
        assert [item[0] for item in track.items[-2:]] == ["mute", "detached"]
    finally:
        loop.close()
