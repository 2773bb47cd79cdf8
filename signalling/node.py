"""Node: the rooms this process hosts, their lifecycle and the node's counters."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from media.counters import ForwardingCounters
from media.ids import Identity, LeaveReason, Role, RoomId, check_id
from media.peer import PeerConfig
from media.room import Room
from media.room_media import RoomMedia
from media.shedding import LoadShedding
from media.starvation import LoopLag
from qos.live import QualityReport

from .admission import Admission, AdmissionLimits
from .errors import SignalCode, SignalError
from .flags import FlagBook
from .hub import RoomHub
from .protocol import Move
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
        self.loop_lag = LoopLag(settings.starved_lag_s)  # measured by the tick
        self.lag_observers: list[Callable[[float], None]] = []
        self.admission = Admission(AdmissionLimits(
            max_loop_lag_s=settings.admission_max_loop_lag_s,
            max_cpu_cores=settings.admission_max_cpu_cores,
            window_s=settings.admission_window_s,
        ))
        self._cpu_at: tuple[float, float] | None = None  # (clock, process CPU seconds)
        self.shedding = LoadShedding(settings.shed_step_s)
        self.flag_book = FlagBook.from_settings(settings)  # signalling/flags.py
        if self.flag_book.file is not None:
            log.info("flags_loaded", version=self.flag_book.version,
                     flags=sorted(self.flag_book.file.flags))
        self.room_opened: list[Callable[[RoomHub], None]] = []  # e.g. the recorder's
        self.room_closing: list[Callable[[RoomHub], Awaitable[None]]] = []
        self.room_closed: list[Callable[[RoomHub, LeaveReason], Awaitable[None]]] = []

    def create_room(self, room_id: RoomId, max_participants: int | None = None) -> RoomHub:
        """A new room; SignalError `room_exists` if the node has one by that id,
        `NodeOverloaded` (node_overloaded) while the node refuses rooms. Callers check the
        id's grammar (api, ws); a bad id here is a bug (ValueError)."""
        check_id(room_id, "room id")
        if room_id in self.hubs:
            raise SignalError(SignalCode.ROOM_EXISTS, f"room {room_id} exists")
        self._admit()
        room = Room(
            room_id,
            max_participants=max_participants or self.settings.max_participants,
            empty_grace=self.settings.room_empty_grace_s,
            now=self.clock(),
            reconnect_grace=self.settings.reconnect_grace_s,
        )
        media = RoomMedia(room_id, self.peer_config, self.counters, self.clock, self.loop_lag)
        hub = RoomHub(room, media, self.clock, self.flag_book)
        self.hubs[room_id] = hub
        for observe in self.room_opened:
            observe(hub)
        log.info("room_created", room=room_id, max_participants=room.max_participants)
        return hub

    def hub_for_join(self, room_id: RoomId, identity: Identity | None = None) -> RoomHub:
        """The room to join. While the node is overloaded only a participant who holds a
        seat in it (a reconnect, a reload) gets in; anyone else, or a new room, gets
        `NodeOverloaded` (node_overloaded, retry advice)."""
        hub = self.hubs.get(room_id)
        if hub is not None and not hub.room.closed:
            if identity is None or identity not in hub.room.participants:
                self._admit()
            return hub
        if not self.settings.auto_create_rooms:
            raise SignalError(SignalCode.ROOM_NOT_FOUND, f"room {room_id} does not exist")
        if hub is not None:
            del self.hubs[room_id]
        return self.create_room(room_id)

    def _admit(self) -> None:
        if self.settings.admission_refuse:
            self.admission.check()

    async def close_room(self, room_id: RoomId, reason: LeaveReason) -> bool:
        hub = self.hubs.pop(room_id, None)
        if hub is None:
            return False
        await self.retire(hub, reason)
        return True

    async def retire(self, hub: RoomHub, reason: LeaveReason, move: Move | None = None) -> None:
        """Close a room already taken out of `hubs`: its closing hooks (the directory's
        release, the recorder's finalizing), then the room itself; with `move` (a drain)
        its participants are told where it went instead (signalling/drain.py)."""
        for closing in self.room_closing:
            await closing(hub)
        await hub.close(reason, move)
        for closed in self.room_closed:  # e.g. the webhooks' room_finished
            await closed(hub, reason)

    async def tick(self) -> None:
        """Watch presence (stalls, reconnect grace) and close rooms empty past their grace."""
        now = self.clock()
        s = self.settings
        self._shed(now)
        for hub in list(self.hubs.values()):
            await hub.check_presence(
                now, s.stall_video_s, s.stall_audio_s, self.loop_lag.starved_until)
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

    def _shed(self, now: float) -> None:
        """Degrade in the lesson's order while overloaded (media/shedding.py), in the
        rooms whose `shed_video` flag is on (the setting, unless a flags file says)."""
        if not (self.settings.shed_video or self.flag_book.defines("shed_video")):
            return
        level = self.shedding.update(now, self.admission.overloaded)
        if level is not None:
            log.warning("load_shedding_changed", level=level)
        for hub in self.hubs.values():
            room = hub.room

            def is_tutor(identity: Identity, room: Room = room) -> bool:
                participant = room.participants.get(identity)
                return participant is not None and participant.role is Role.TUTOR

            hub.media.shed_videos(self.shedding.level if hub.flags.shed_video else 0,
                                  is_tutor)

    async def run_ticks(self, interval: float = 0.25) -> None:
        """The node's housekeeping loop; one failing tick is logged, not fatal. Each tick
        first measures how late it runs: the event loop's lag (media/starvation.py)."""
        while True:
            due = self.clock() + interval
            await asyncio.sleep(interval)
            try:
                self.observe_lag(due, self.clock())
                await self.tick()
            except Exception:
                log.exception("tick_failed")

    def observe_lag(self, due: float, ran: float) -> None:
        """A tick due at `due` ran at `ran`: the loop's lag, the process's CPU since the
        last tick, and what admission control makes of them."""
        was_starved = self.loop_lag.last >= self.loop_lag.threshold_s
        lag = self.loop_lag.observe(due, ran)
        if lag >= self.loop_lag.threshold_s and not was_starved:
            log.warning("node_starved", lag_s=round(lag, 3))
        for observe in self.lag_observers:
            observe(lag)
        cpu = time.process_time()
        last, self._cpu_at = self._cpu_at, (ran, cpu)
        if last is None or ran <= last[0]:
            return
        cores = (cpu - last[1]) / (ran - last[0])
        change = self.admission.observe(ran, lag, cores)
        if change is not None:
            a = self.admission
            log.warning("node_overloaded" if change else "node_admitting",
                        reason=a.reason, mean_lag_s=round(a.mean_lag_s, 3),
                        mean_cpu_cores=round(a.mean_cpu_cores, 2))

    def start(self) -> None:
        """Start the housekeeping tick (on the running loop)."""
        if self._ticker is None and not self._closed:
            self._ticker = asyncio.get_running_loop().create_task(self.run_ticks())

    async def close(self) -> None:
        """Stop the tick, then close every room at once (each tells its participants
        before it stops its media, so nobody waits for another room's peer connections).
        Idempotent: a second call closes only what a first one, cut short, left open."""
        if not self._closed:
            self._closed = True
            self.ready = False
            ticker, self._ticker = self._ticker, None
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
        await asyncio.gather(*(self.close_room(room_id, LeaveReason.SERVER_SHUTDOWN)
                               for room_id in list(self.hubs)))
