"""The cluster directory on Redis (redis-py's `redis.asyncio`).

Keys (under a prefix, `liveroom:` by default):
- `node:{id}`: the node's heartbeat record (JSON), with a short TTL; alive while it exists;
- `nodes`: the set of node ids that have registered (dead ones are pruned by the claim);
- `room:{id}`: the owner's node id, with a lease the owner renews;
- `placed`: a hash, rooms placed on each node since its last heartbeat (so a burst of
  placements spreads before the nodes' own room counts catch up).

Placement (placement.py's decision, canaries included), release, renewal and takeover are
Lua scripts, each atomic in Redis: no two rooms of one name, and no node ever deletes or
renews a room it does not own.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from media.ids import RoomId

from ..flags import BUCKETS
from .base import DirectoryUnavailable, NodeId, NodeRecord, Owner
from .placement import PlacementKey

# KEYS: room, nodes set, placed hash. ARGV: node key prefix, lease ms, the room's canary
# bucket, the cohort's (-1: none). The choice is placement.py's `choose`, line by line:
# pools 1 (canaries whose share covers the room), 2 (serving), 3 (other canaries).
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner then
  local raw = redis.call('GET', ARGV[1] .. owner)
  if raw then return {owner, raw} end
end
local room_bucket, cohort_bucket = tonumber(ARGV[3]), tonumber(ARGV[4])
local pools = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local raw = redis.call('GET', ARGV[1] .. id)
  if not raw then
    redis.call('SREM', KEYS[2], id)
  else
    local n = cjson.decode(raw)
    local pool = nil
    if n.overloaded then
      pool = nil
    elseif n.state == 'serving' then
      pool = 2
    elseif n.state == 'canary' then
      local bucket = room_bucket
      if n.canary_by == 'cohort' and cohort_bucket >= 0 then bucket = cohort_bucket end
      if bucket < math.floor((tonumber(n.canary_share) or 0) * BUCKETS + 0.5) then
        pool = 1
      else
        pool = 3
      end
    end
    if pool then
      local rooms = n.rooms + tonumber(redis.call('HGET', KEYS[3], id) or '0')
      local load = n.load
      local b = pools[pool]
      if b == nil or rooms < b.rooms
         or (rooms == b.rooms and (load < b.load or (load == b.load and id < b.id))) then
        pools[pool] = {id = id, raw = raw, rooms = rooms, load = load}
      end
    end
  end
end
local best = pools[1] or pools[2] or pools[3]
if not best then return false end
redis.call('SET', KEYS[1], best.id, 'PX', ARGV[2])
redis.call('HINCRBY', KEYS[3], best.id, 1)
return {best.id, best.raw}
""".replace("BUCKETS", str(BUCKETS))
# KEYS: room. ARGV: node key prefix.
_OWNER = """
local owner = redis.call('GET', KEYS[1])
if not owner then return false end
local raw = redis.call('GET', ARGV[1] .. owner)
if not raw then return false end
return {owner, raw}
"""
# KEYS: room. ARGV: this node's id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: rooms. ARGV: this node's id, lease ms. A room with no owner (its lease lapsed, or
# Redis restarted empty) is this node's again; returns the indexes of rooms another owns.
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    table.insert(lost, i)
  end
end
return lost
"""
# KEYS: room, the stale node's key. ARGV: stale id, this node's id, lease ms.
_TAKEOVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""
# KEYS: node key, nodes set, placed hash. ARGV: id, record, ttl ms.
_REGISTER = """
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisDirectory:
    """One node's handle on the shared directory. Every call is bounded by the client's
    socket timeout; a Redis error is raised as `DirectoryUnavailable`."""

    def __init__(self, node_id: NodeId, url: str, lease_s: float = 15.0,
                 prefix: str = "liveroom:", timeout_s: float = 1.0) -> None:
        self.node_id = node_id
        self.prefix = prefix
        self.lease_ms = int(lease_s * 1000)
        self.redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            health_check_interval=10)
        r = self.redis
        self._claim, self._owner = r.register_script(_CLAIM), r.register_script(_OWNER)
        self._release, self._renew = r.register_script(_RELEASE), r.register_script(_RENEW)
        self._takeover = r.register_script(_TAKEOVER)
        self._register = r.register_script(_REGISTER)

    def _node_key(self, node: str) -> str:
        return f"{self.prefix}node:{node}"

    def _room_key(self, room: str) -> str:
        return f"{self.prefix}room:{room}"

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise DirectoryUnavailable(f"redis: {exc}") from exc

    def _found(self, reply: Any) -> Owner | None:
        if not reply:
            return None
        record = NodeRecord.from_json(_text(reply[1]))
        return Owner(NodeId(_text(reply[0])), record.url)

    async def register(self, record: NodeRecord, ttl_s: float) -> None:
        p = self.prefix
        await self._run(self._register, [self._node_key(self.node_id), f"{p}nodes",
                                         f"{p}placed"],
                        [self.node_id, record.to_json(), max(1, int(ttl_s * 1000))])

    async def deregister(self) -> None:
        try:
            await self.redis.delete(self._node_key(self.node_id))
        except (RedisError, OSError) as exc:
            raise DirectoryUnavailable(f"redis: {exc}") from exc

    async def claim(self, room: RoomId, cohort: str | None = None) -> Owner | None:
        p = self.prefix
        key = PlacementKey.of(room, cohort)
        return self._found(await self._run(
            self._claim, [self._room_key(room), f"{p}nodes", f"{p}placed"],
            [f"{p}node:", self.lease_ms, key.room, key.cohort]))

    async def owner(self, room: RoomId) -> Owner | None:
        return self._found(await self._run(self._owner, [self._room_key(room)],
                                           [f"{self.prefix}node:"]))

    async def renew(self, rooms: list[RoomId]) -> list[RoomId]:
        if not rooms:
            return []
        lost = await self._run(self._renew, [self._room_key(r) for r in rooms],
                               [self.node_id, self.lease_ms])
        return [rooms[int(i) - 1] for i in lost]

    async def release(self, room: RoomId) -> bool:
        return bool(await self._run(self._release, [self._room_key(room)], [self.node_id]))

    async def takeover(self, room: RoomId, stale: NodeId) -> bool:
        return bool(await self._run(
            self._takeover, [self._room_key(room), self._node_key(stale)],
            [stale, self.node_id, self.lease_ms]))

    async def rooms(self) -> dict[RoomId, NodeId]:
        try:
            keys = [key async for key in self.redis.scan_iter(
                match=f"{self.prefix}room:*", count=500)]
            owners = await self.redis.mget(keys) if keys else []
        except (RedisError, OSError) as exc:
            raise DirectoryUnavailable(f"redis: {exc}") from exc
        start = len(f"{self.prefix}room:")
        return {RoomId(_text(k)[start:]): NodeId(_text(o))
                for k, o in zip(keys, owners, strict=True) if o is not None}

    async def nodes(self) -> list[NodeRecord]:
        try:
            ids = await self.redis.smembers(f"{self.prefix}nodes")
            raws = await self.redis.mget([self._node_key(_text(i)) for i in ids]) if ids else []
        except (RedisError, OSError) as exc:
            raise DirectoryUnavailable(f"redis: {exc}") from exc
        return sorted((NodeRecord.from_json(_text(r)) for r in raws if r is not None),
                      key=lambda r: r.id)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.redis.aclose()
