"""Room event streams: one short, ordered log per room that any node of the cluster reads.

One protocol, two implementations (the directory's seam): `MemoryEventLog` here, the
embedded default (one node serves its own rooms' events from memory), and
`RedisEventLog` (event_stream_redis.py), a Redis Stream per room (`XADD ... MAXLEN ~ N`,
read with `XREAD BLOCK`), so a consumer on any node gets the live tail and, from an id, the
catch-up of what it missed. The log stores each event as one JSON text; the ids are Redis
stream ids (`<ms>-<seq>`) in both, so `Last-Event-ID` means the same everywhere.

The pure parts (ids, SSE framing) are here too; time is passed in.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from media.ids import RoomId

RETAIN_S = 24 * 3600.0
"""A room's stream is kept this long after its last event (then it expires)."""

_STREAM_ID = re.compile(r"(\d{1,19})(?:-(\d{1,19}))?")


@dataclass(frozen=True, order=True)
class StreamId:
    """A stream id: `<ms>-<seq>`, ordered as Redis orders them; `0` is before everything."""

    ms: int
    seq: int = 0

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    @classmethod
    def parse(cls, text: str) -> StreamId:
        """`123-4` or `123` (sequence 0); ValueError for anything else (never echoed)."""
        match = _STREAM_ID.fullmatch(text.strip())
        if match is None:
            raise ValueError("an event id is <ms>-<seq> (digits)")
        return cls(int(match[1]), int(match[2] or 0))


ZERO = StreamId(0, 0)


def resume_point(last_event_id: str | None, after: str | None) -> StreamId | None:
    """Where a consumer starts: after `Last-Event-ID` (a reconnecting EventSource sends it,
    and it wins over the URL's `?after=`, which the EventSource repeats), else after
    `?after=` (`0`: the whole retained stream); None: live only. ValueError if malformed."""
    for given in (last_event_id, after):
        if given is not None and given.strip() != "":
            return StreamId.parse(given)
    return None


@dataclass(frozen=True)
class Entry:
    id: StreamId
    event: str
    """The event, one line of JSON (room_events.py's `RoomEventRecord`)."""


def sse_frame(entry: Entry, event_type: str) -> bytes:
    """One Server-Sent Event: `id:`, `event:`, then the data (one `data:` line per line)."""
    lines = [f"id: {entry.id}", f"event: {event_type}"]
    lines += [f"data: {line}" for line in entry.event.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode()


def sse_comment(text: str) -> bytes:
    """A comment line (`: text`): keeps the connection alive, ignored by consumers."""
    return f": {' '.join(text.splitlines())}\n\n".encode()


def sse_retry(ms: int) -> bytes:
    """How long an EventSource waits before it reconnects."""
    return f"retry: {ms}\n\n".encode()


class EventStreamUnavailable(ConnectionError):
    """The shared log did not answer (Redis down, or slower than the bound)."""


class RoomEventLog(Protocol):
    async def append(self, room: RoomId, event: str) -> StreamId:
        """Add one event to the room's stream (trimmed to about `maxlen`); its id."""

    async def read(self, room: RoomId, after: StreamId, block_s: float,
                   count: int = 100) -> list[Entry]:
        """Up to `count` events after `after`, oldest first; if none yet, wait up to
        `block_s` for the next ones (an empty list when none came)."""

    async def last(self, room: RoomId) -> Entry | None:
        """The room's latest retained event, if any."""

    async def close(self) -> None: ...


@dataclass
class _RoomLog:
    entries: deque[Entry]
    expires_at: float
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryEventLog:
    """The embedded log: every room's last `maxlen` events in this process. Ids are
    `<wall ms>-<seq>`, increasing even if the wall clock steps back (as Redis's)."""

    def __init__(self, maxlen: int = 1000, wall: Callable[[], float] = time.time,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.maxlen = maxlen
        self.wall = wall
        self.clock = clock
        self.rooms: dict[RoomId, _RoomLog] = {}
        self._last = ZERO
        self._pruned_at = 0.0

    def _next_id(self) -> StreamId:
        ms = int(self.wall() * 1000)
        last = self._last
        self._last = StreamId(ms, 0) if ms > last.ms else StreamId(last.ms, last.seq + 1)
        return self._last

    async def append(self, room: RoomId, event: str) -> StreamId:
        now = self.clock()
        self._prune(now)
        log = self.rooms.get(room)
        if log is None:
            log = self.rooms[room] = _RoomLog(deque(maxlen=self.maxlen), now + RETAIN_S)
        entry = Entry(self._next_id(), event)
        log.entries.append(entry)
        log.expires_at = now + RETAIN_S
        log.arrived.set()  # wake every reader, then a new event for the next ones
        log.arrived = asyncio.Event()
        return entry.id

    def _after(self, room: RoomId, after: StreamId, count: int) -> list[Entry]:
        log = self.rooms.get(room)
        if log is None:
            return []
        return [e for e in log.entries if e.id > after][:count]

    async def read(self, room: RoomId, after: StreamId, block_s: float,
                   count: int = 100) -> list[Entry]:
        found = self._after(room, after, count)
        if found or block_s <= 0:
            return found
        log = self.rooms.get(room)
        if log is None:  # nothing yet: the first event creates the room's log
            log = self.rooms[room] = _RoomLog(deque(maxlen=self.maxlen),
                                              self.clock() + RETAIN_S)
        try:
            async with asyncio.timeout(block_s):
                await log.arrived.wait()
        except TimeoutError:
            return []
        return self._after(room, after, count)

    async def last(self, room: RoomId) -> Entry | None:
        log = self.rooms.get(room)
        return log.entries[-1] if log is not None and log.entries else None

    def _prune(self, now: float) -> None:
        """Forget rooms quiet for `RETAIN_S` (checked at most once a minute)."""
        if now - self._pruned_at < 60.0:
            return
        self._pruned_at = now
        for room in [r for r, log in self.rooms.items() if log.expires_at <= now]:
            del self.rooms[room]

    async def close(self) -> None:
        return None
