"""Room event streams on Redis: one Redis Stream per room, `{prefix}events:{room}`.

The owner of a room appends (`XADD ... MAXLEN ~ N`: the short catch-up stream, and a TTL
of `RETAIN_S` renewed at each event, so a dead node's streams expire); a consumer on any
node reads from an id (`XREAD BLOCK`). A stream gives both the catch-up and the live tail
in one call; Redis pub/sub alone keeps nothing, so a consumer that blinked would lose
events, and PUBLISH plus a stream would be two writes per event and a race between them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from media.ids import RoomId

from .event_stream import RETAIN_S, Entry, EventStreamUnavailable, StreamId

FIELD = b"e"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(raw_id: Any, fields: dict[Any, Any]) -> Entry:
    return Entry(StreamId.parse(_text(raw_id)), _text(fields.get(FIELD, b"")))


class RedisEventLog:
    """Every call is bounded: an append or a lookup by `timeout_s`, a blocking read by its
    block time plus `timeout_s`. A Redis error is raised as `EventStreamUnavailable`."""

    def __init__(self, url: str, maxlen: int = 1000, prefix: str = "liveroom:",
                 timeout_s: float = 1.0, max_readers: int = 32,
                 max_block_s: float = 5.0) -> None:
        self.prefix = prefix
        self.maxlen = maxlen
        self.timeout_s = timeout_s
        self.max_block_s = max_block_s
        # a blocking read holds its connection: one per reader, one for the appends
        self.redis = aioredis.Redis.from_url(
            url, socket_timeout=max_block_s + timeout_s, socket_connect_timeout=timeout_s,
            max_connections=max_readers + 2, health_check_interval=10)

    def _key(self, room: RoomId) -> str:
        return f"{self.prefix}events:{room}"

    async def append(self, room: RoomId, event: str) -> StreamId:
        key = self._key(room)
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.xadd(key, {FIELD: event.encode()}, maxlen=self.maxlen,
                              approximate=True)
                    pipe.pexpire(key, int(RETAIN_S * 1000))
                    added, _ = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            raise EventStreamUnavailable(f"redis: {exc}"[:200]) from exc
        return StreamId.parse(_text(added))

    async def read(self, room: RoomId, after: StreamId, block_s: float,
                   count: int = 100) -> list[Entry]:
        block_s = min(block_s, self.max_block_s)
        block_ms = max(1, int(block_s * 1000)) if block_s > 0 else None
        try:
            async with asyncio.timeout(block_s + self.timeout_s):
                reply: Any = await self.redis.xread({self._key(room): str(after)}, count=count,
                                               block=block_ms)
        except (RedisError, OSError, TimeoutError) as exc:
            raise EventStreamUnavailable(f"redis: {exc}"[:200]) from exc
        if not reply:
            return []
        # RESP2: [[key, entries]]; RESP3: {key: [entries]}
        entries = next(iter(reply.values()))[0] if isinstance(reply, dict) else reply[0][1]
        return [_entry(raw_id, fields or {}) for raw_id, fields in entries]

    async def last(self, room: RoomId) -> Entry | None:
        try:
            async with asyncio.timeout(self.timeout_s):
                found: Any = await self.redis.xrevrange(self._key(room), count=1)
        except (RedisError, OSError, TimeoutError) as exc:
            raise EventStreamUnavailable(f"redis: {exc}"[:200]) from exc
        return _entry(found[0][0], found[0][1] or {}) if found else None

    async def close(self) -> None:
        await self.redis.aclose()
