"""RoomHub: one Room, its RoomMedia and its participants' connections.

Every change to a room runs under the hub's lock, in one order: change the sans-IO Room,
make the media agree (`reconcile`), then tell the participants.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from media.errors import MediaError
from media.ids import DownlinkId, Identity, Kind, LeaveReason, PublicationId, Role, RoomId
from media.room import Grants, Room, RoomEvent
from media.room_media import RoomMedia
from media.sdp_policy import inspect_offer
from qos.live import ParticipantQuality, QualityReport

from . import protocol as p
from .connection import Connection
from .errors import SignalCode, SignalError
from .flags import Audience, FlagBook, flags_info
from .stats import downlink_counters, uplink_counters
from .tokens import TokenClaims
from .wire import event_message, event_subject, participant_info, publication_info, room_info

log = structlog.get_logger(__name__)


class RoomHub:
    def __init__(self, room: Room, media: RoomMedia, clock: Callable[[], float],
                 flags: FlagBook | None = None) -> None:
        self.room = room
        self.media = media
        self.clock = clock
        self.flag_book = flags or FlagBook()
        self.audience = Audience()
        self.flags = self.flag_book.evaluate(room.id, self.audience)  # until it starts
        self.started = False  # its first join: the flags are fixed by that token's claims
        self.connections: dict[Identity, Connection] = {}
        self.lock = asyncio.Lock()
        self.quality: dict[Identity, ParticipantQuality] = {}
        self.quality_reports: dict[Identity, QualityReport] = {}
        self._video_paused: dict[DownlinkId, bool] = {}  # as last told the subscriber
        self.on_join: list[Callable[[TokenClaims], None]] = []  # e.g. the recorder's
        self.on_leave: list[Callable[[Identity, LeaveReason], None]] = []
        self.on_events: list[Callable[[list[RoomEvent]], None]] = []  # what the room is told
        self.on_record: Callable[[Identity, bool], Awaitable[None]] | None = None
        self.ice_servers: Callable[[Identity], list[p.IceServer]] = lambda _identity: []

    @property
    def id(self) -> RoomId:
        return self.room.id

    async def join(
        self, conn: Connection, claims: TokenClaims, request_id: str, resume_token: str
    ) -> None:
        """Seat the participant, or give its seat back (reconnect, reload, second tab)."""
        identity = Identity(claims.sub)
        async with self.lock:
            grants = Grants(publish=claims.grants.publish, subscribe=claims.grants.subscribe)
            resumed = identity in self.room.participants
            events = self.room.join(identity, claims.name, claims.role, grants, self.clock())
            if not self.started:  # seated: this token's claims set the room's flags
                self._start(claims)
            if resumed:
                await self.media.detach_participant(identity)
            old = self.connections.pop(identity, None)
            if old is not None:
                old.send(p.Closing(reason="replaced"))
                old.close(p.CloseCode.REPLACED, "replaced by a newer connection")
            conn.identity = identity
            self.connections[identity] = conn
            conn.send(
                p.Joined(
                    id=request_id,
                    participant=participant_info(self.room.get(identity)),
                    room=room_info(self.room),
                    resume_token=resume_token,
                    resumed=resumed,
                    ice_servers=self.ice_servers(identity),
                )
            )
            self._broadcast(events)
            for observe in self.on_join:
                observe(claims)
            await self._reconcile()
        log.info(
            "participant_resumed" if resumed else "participant_joined",
            room=self.id, participant=identity, role=claims.role,
        )

    def _start(self, claims: TokenClaims) -> None:
        """The room's first join: its flags, from the rollout claims of this token (the
        platform gives every token of a lesson the same), for the room's lifetime."""
        self.started = True
        self.audience = claims.audience()
        self.flags = self.flag_book.evaluate(self.id, self.audience)
        log.info("room_started", room=self.id, **flags_info(self.flags, self.audience))

    async def publish(self, identity: Identity, sdp: str, request_id: str) -> None:
        async with self.lock:
            participant = self.room.may_publish(identity)  # before any media work
            kinds = inspect_offer(sdp)
            answer = await self.media.publish(identity, kinds, sdp)
            events = self.room.publish(identity, kinds)
            conn = self.connections.get(identity)
            if conn is not None:
                conn.send(
                    p.Published(
                        id=request_id, sdp=answer,
                        publications=[
                            publication_info(x) for x in participant.publications.values()
                        ],
                    )
                )
            self._broadcast(events)
            await self._reconcile()

    async def unpublish(self, identity: Identity) -> None:
        async with self.lock:
            events = self.room.unpublish(identity)
            await self.media.unpublish(identity)
            self._broadcast(events)
            await self._reconcile()

    async def answer(self, identity: Identity, downlink: str, sdp: str) -> None:
        async with self.lock:
            self.room.get(identity)
            await self.media.answer_downlink(identity, downlink, sdp)

    async def mute(self, identity: Identity, kind: Kind, muted: bool) -> None:
        async with self.lock:
            events = self.room.set_muted(identity, kind, muted)
            self.media.set_muted(PublicationId(f"{identity}:{kind}"), muted)
            self._broadcast(events)

    def check_ice(self, identity: Identity) -> None:
        """The participant's link is back (`ping {ice}`): check ICE consent on its peer
        connections now, so that a connection its browser gave up answers and revives."""
        sent = self.media.check_ice(identity)
        log.info("ice_checked", room=self.id, participant=identity, checks=sent)

    async def record(self, identity: Identity, active: bool) -> None:
        """A participant asks to start or stop recording the room (the recorder decides)."""
        self.room.get(identity)
        if self.on_record is None:
            raise SignalError(SignalCode.RECORDING_REFUSED, "this node does not record")
        await self.on_record(identity, active)

    async def leave(
        self, conn: Connection, reason: LeaveReason, *, unload: bool = False
    ) -> None:
        """The participant of `conn` left (or, if `DISCONNECTED`, lost its connection: its
        seat is held as reconnecting; `unload`: its page went away, the seat is held
        briefly). No-op if a newer connection holds the seat."""
        identity = conn.identity
        if identity is None:
            return
        async with self.lock:
            if self.connections.get(Identity(identity)) is not conn:
                return
            del self.connections[Identity(identity)]
            if unload:
                self._broadcast(self.room.mark_unloaded(Identity(identity), self.clock()))
                log.info("participant_unloaded", room=self.id, participant=identity)
                return
            if reason is LeaveReason.DISCONNECTED:
                self._broadcast(self.room.mark_reconnecting(Identity(identity), self.clock()))
                log.info("participant_reconnecting", room=self.id, participant=identity)
                return
            await self._remove(Identity(identity), reason)

    async def check_presence(
        self, now: float, video_stall: float, audio_stall: float,
        starved_until: float | None = None,
    ) -> None:
        """Hold the seats of participants whose media went quiet, give them back when it
        returns, and free the seats whose grace period ran out. Silence while the node
        itself was starved (until `starved_until`) is not the participants'."""
        async with self.lock:
            for participant in list(self.room):
                identity = participant.identity
                stalled = self.media.uplink_stalled(
                    identity, now, video_stall, audio_stall, starved_until)
                if stalled:
                    events = self.room.mark_reconnecting(identity, now)
                    if events:
                        log.info("participant_stalled", room=self.id, participant=identity)
                    self._broadcast(events)
                elif identity in self.connections and self.media.uplinks.get(identity):
                    self._broadcast(self.room.resume(identity))
            for identity in self.room.expired_seats(now):
                old = self.connections.pop(identity, None)
                if old is not None:
                    old.close(p.CloseCode.GOING_AWAY, "reconnect grace period expired")
                unloaded = self.room.get(identity).unloaded  # its page closed: it left
                await self._remove(
                    identity, LeaveReason.LEFT if unloaded else LeaveReason.DISCONNECTED)

    async def update_quality(self, now: float) -> list[QualityReport]:
        """Score every participant's connection; tell the room about changes."""
        reports = []
        async with self.lock:
            for participant in list(self.room):
                identity = participant.identity
                tracker = self.quality.setdefault(identity, ParticipantQuality())
                up = uplink_counters(self.media, identity)
                down = await downlink_counters(self.media, identity)
                report = tracker.update(now * 1000.0, up, down)
                if report.quality is None or report.score is None:
                    continue
                self.quality_reports[identity] = report
                reports.append(report)
                if report.changed:
                    message = p.ConnectionQuality(
                        identity=identity, quality=report.quality.value,
                        score=round(report.score, 2),
                    )
                    for conn in self.connections.values():
                        conn.send(message)
        return reports

    async def tell_video_paused(self, now: float) -> None:
        """Run the audio-only fallback (if the room's flag is on); tell subscribers whose
        video it paused or resumed."""
        async with self.lock:
            if self.flags.audio_only_fallback:
                self.media.check_fallback(now, self._is_tutor)
            states = self.media.video_paused()
            for downlink_id in [d for d in self._video_paused if d not in states]:
                del self._video_paused[downlink_id]
            for downlink_id, (subscriber, publisher, paused) in states.items():
                if self._video_paused.get(downlink_id, False) == paused:
                    continue
                self._video_paused[downlink_id] = paused
                conn = self.connections.get(subscriber)
                if conn is not None:
                    conn.send(p.VideoPaused(publisher=publisher, paused=paused))

    def _is_tutor(self, identity: Identity) -> bool:
        participant = self.room.participants.get(identity)
        return participant is not None and participant.role is Role.TUTOR

    async def _remove(self, identity: Identity, reason: LeaveReason) -> None:
        self.quality.pop(identity, None)
        self.quality_reports.pop(identity, None)
        events = self.room.leave(identity, reason, self.clock())
        for observe in self.on_leave:
            observe(identity, reason)
        await self.media.remove_participant(identity)
        self._broadcast(events)
        await self._reconcile()
        log.info("participant_left", room=self.id, participant=identity, reason=reason)

    async def close(self, reason: LeaveReason, move: p.Move | None = None) -> None:
        """Close the room; with `move` (a drain) everyone is told where it went instead,
        and nobody is told that anyone left (signalling/drain.py)."""
        async with self.lock:
            self.room.close(self.clock())
            for conn in self.connections.values():
                conn.send(move or p.Closing(reason=reason))
                code = p.CloseCode.GOING_AWAY if reason is LeaveReason.SERVER_SHUTDOWN else (
                    p.CloseCode.ROOM_CLOSED
                )
                conn.close(p.CloseCode.MOVED if move else code, "moved" if move else
                           f"room {reason}")
            self.connections.clear()
            await self.media.close()
        log.info("room_closed", room=self.id, reason=reason)

    def _broadcast(self, events: list[RoomEvent]) -> None:
        for observe in self.on_events:  # e.g. the room's event stream (room_events.py)
            observe(events)
        for event in events:
            message = event_message(event)
            subject = event_subject(event)
            for identity, conn in self.connections.items():
                if identity != subject:
                    conn.send(message)

    async def _reconcile(self) -> None:
        offers, closed = await self.media.reconcile(self.room)
        for gone in closed:
            conn = self.connections.get(gone.subscriber)
            if conn is not None:
                conn.send(p.DownlinkClosed(downlink=gone.downlink))
        for offer in offers:
            conn = self.connections.get(offer.subscriber)
            if conn is not None:
                conn.send(
                    p.Offer(
                        downlink=offer.downlink, publisher=offer.publisher, sdp=offer.sdp,
                        publications=dict(offer.publications),
                    )
                )


__all__ = ["MediaError", "RoomHub"]
