"""Node: the rooms this process hosts, their lifecycle and the node's counters."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from media.counters import ForwardingCounters
from media.ids import LeaveReason, RoomId
from media.peer import PeerConfig
from media.room import Room
from media.session import RoomMedia
from qos.live import QualityReport

from .errors import SignalCode, SignalError
from .hub import RoomHub
from .settings import Settings

log = structlog.get_logger(__name__)


class Node:
    """One `liveroom serve` process: the rooms it hosts and its housekeeping.

    `start()` begins the tick (presence, fallback, quality, empty rooms); `close()` stops
    it, then closes every room (each closes its peer connections and feeds; see
    docs/architecture.md, "Closing"). Both are idempotent.
    """

    def __init__(
        self, settings: Settings, peer_config: PeerConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.peer_config = peer_config
        self.clock = clock
        self.counters = ForwardingCounters()
        self.secret = settings.resolved_secret()
        self.api_key = settings.resolved_api_key()
        self.hubs: dict[RoomId, RoomHub] = {}
        self.ready = False
        self._ticker: asyncio.Task[None] | None = None
        self._closed = False
        self.quality_observers: list[Callable[[QualityReport], None]] = []
        self._last_quality = 0.0
        self.room_opened: list[Callable[[RoomHub], None]] = []  # e.g. the recorder's
        self.room_closing: list[Callable[[RoomHub], Awaitable[None]]] = []

    def create_room(self, room_id: RoomId, max_participants: int | None = None) -> RoomHub:
        if room_id in self.hubs:
            raise KeyError(room_id)
        room = Room(
            room_id,
            max_participants=max_participants or self.settings.max_participants,
            empty_grace=self.settings.room_empty_grace_s,
            now=self.clock(),
            reconnect_grace=self.settings.reconnect_grace_s,
        )
        hub = RoomHub(room, RoomMedia(room_id, self.peer_config, self.counters, self.clock),
                      self.clock)
        self.hubs[room_id] = hub
        for observe in self.room_opened:
            observe(hub)
        log.info("room_created", room=room_id, max_participants=room.max_participants)
        return hub

    def hub_for_join(self, room_id: RoomId) -> RoomHub:
        hub = self.hubs.get(room_id)
        if hub is not None and not hub.room.closed:
            return hub
        if not self.settings.auto_create_rooms:
            raise SignalError(SignalCode.ROOM_NOT_FOUND, f"room {room_id} does not exist")
        if hub is not None:
            del self.hubs[room_id]
        return self.create_room(room_id)

    async def close_room(self, room_id: RoomId, reason: LeaveReason) -> bool:
        hub = self.hubs.pop(room_id, None)
        if hub is None:
            return False
        for closing in self.room_closing:
            await closing(hub)
        await hub.close(reason)
        return True

    async def tick(self) -> None:
        """Watch presence (stalls, reconnect grace) and close rooms empty past their grace."""
        now = self.clock()
        s = self.settings
        for hub in list(self.hubs.values()):
            await hub.check_presence(now, s.stall_video_s, s.stall_audio_s)
            await hub.tell_video_paused(now)
        if now - self._last_quality >= s.quality_interval_s:
            self._last_quality = now
            for hub in list(self.hubs.values()):
                for report in await hub.update_quality(now):
                    for observe in self.quality_observers:
                        observe(report)
        for room_id, hub in list(self.hubs.items()):
            if not hub.connections and hub.room.should_close(now):
                await self.close_room(room_id, LeaveReason.ROOM_CLOSED)

    async def run_ticks(self, interval: float = 0.25) -> None:
        """The node's housekeeping loop; one failing tick is logged, not fatal."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:
                log.exception("tick_failed")

    def start(self) -> None:
        """Start the housekeeping tick (on the running loop)."""
        if self._ticker is None and not self._closed:
            self._ticker = asyncio.get_running_loop().create_task(self.run_ticks())

    async def close(self) -> None:
        """Stop the tick, then close every room (participants told `server_shutdown`)."""
        if self._closed:
            return
        self._closed = True
        self.ready = False
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for room_id in list(self.hubs):
            await self.close_room(room_id, LeaveReason.SERVER_SHUTDOWN)
