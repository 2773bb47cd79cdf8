"""The room directory seam (base.py): in memory by default, Redis when configured."""

from __future__ import annotations

from ..settings import Settings
from .base import (
    DirectoryUnavailable,
    NodeId,
    NodeRecord,
    NodeState,
    Owner,
    RoomDirectory,
)
from .memory import MemoryDirectory, MemoryStore

__all__ = [
    "DirectoryUnavailable", "MemoryDirectory", "MemoryStore", "NodeId", "NodeRecord",
    "NodeState", "Owner", "RoomDirectory", "create_directory",
]


def create_directory(settings: Settings, node_id: NodeId) -> RoomDirectory:
    """`LIVEROOM_REDIS_URL` empty: the embedded directory of one node; else Redis."""
    if not settings.redis_url:
        return MemoryDirectory(node_id, MemoryStore(lease_s=settings.room_lease_s))
    from .redis import RedisDirectory  # only a cluster node needs redis-py

    return RedisDirectory(node_id, settings.redis_url, lease_s=settings.room_lease_s,
                          timeout_s=settings.redis_timeout_s)
