"""A Python client of the Liveroom protocol: join, publish, subscribe, mute, leave, events.

Used by tests, bots, the quality gate and load tests. Subscriptions arrive as node offers
(`offer` messages); the client answers each with a receive-only peer connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from media.ids import Kind
from signalling import protocol as p

from .continuity import (
    FINAL_CLOSE_CODES,
    FINAL_ERRORS,
    FIRST_PACKET,
    GAVE_UP,
    ICE_CONNECTED,
    MAX_REDIRECTS,
    RECONNECT_STARTED,
    SIGNALLING_RESUMED,
    STALL_DETECTED,
    Reconnect,
    ReconnectPolicy,
)
from .downlinks import RemoteDownlink, record_packets
from .errors import ClientError
from .ice import peer_connection
from .network import NetworkModel
from .reception import install as install_reception
from .sockets import close_quickly, first_to_connect, tap_datagrams
from .uplink import add_track, close_keeping_tracks

__all__ = ["FINAL_CLOSE_CODES", "FINAL_ERRORS", "MAX_REDIRECTS", "Client"]

M = TypeVar("M", bound=p.ServerMessage)


class Client:
    def __init__(
        self,
        base_url: str,
        room: str,
        token: str,
        *,
        impairment: NetworkModel | None = None,
        record_packets: bool = False,
        reconnect: ReconnectPolicy | None = None,
        seed: int = 0,
        reception: bool = False,
        socket_factory: Callable[[Any], Any] | None = None,
    ) -> None:
        self.ws_url = base_url.replace("http", "ws", 1).rstrip("/") + f"/v1/rooms/{room}/ws"
        self.entry_url = self.ws_url  # a failed reconnect asks here again (redirected)
        self.token = token
        self.impairment = impairment
        self.record_packets = record_packets
        self.reception = reception  # browser-like receive pipeline (reception.py)
        self.socket_factory = socket_factory  # the WebSocket's (the gate's real link cut)
        self.joined: p.Joined | None = None
        self.events: list[p.ServerMessage] = []
        self.downlinks: dict[str, RemoteDownlink] = {}
        self.uplink: RTCPeerConnection | None = None
        self.close_code: int | None = None
        self._ids = (f"r{n}" for n in itertools.count(1))
        self._pending: dict[str, asyncio.Future[p.ServerMessage]] = {}
        self._changed = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # continuity
        self.policy = reconnect
        self.reconnects: list[Reconnect] = []
        self.resume_token: str | None = None
        self.gave_up = False
        self._rng = random.Random(seed)
        self._last_media_at: float | None = None
        self._closing = False  # we are closing on purpose: do not reconnect
        self._moved = False  # the node said `move` (a drain): reconnect at its url
        self._published: list[MediaStreamTrack] = []
        self._reconnecting: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._abandoned: set[asyncio.Task[Any]] = set()  # old connections being closed

    @property
    def identity(self) -> str:
        assert self.joined is not None
        return self.joined.participant.identity

    # --- requests ------------------------------------------------------------------------

    async def connect(self) -> None:
        self._ws = await self._dial()
        self._reader = asyncio.ensure_future(self._read(self._ws))

    async def _dial(self) -> aiohttp.ClientWebSocketResponse:
        if self.impairment is not None and self.impairment.outage():
            raise ConnectionError("network is down (impairment outage)")
        if self._session is None:
            connector = aiohttp.TCPConnector(socket_factory=self.socket_factory)
            self._session = aiohttp.ClientSession(connector=connector)
        return await self._session.ws_connect(self.ws_url, max_msg_size=1 << 22)

    async def _redial(self) -> None:
        """Connect for a reconnect (`sockets.first_to_connect`), bounded by the caller."""
        assert self.policy is not None
        self._ws = await first_to_connect(self._dial, self.policy.redial_after,
                                          self._abandon_task)
        self._reader = asyncio.ensure_future(self._read(self._ws))

    async def join(self) -> p.Joined:
        """Join, following `wrong_node` (the room is on another node) MAX_REDIRECTS times."""
        for redirects in itertools.count():
            if self._ws is None:
                await self.connect()
            try:
                reply = await self.request(p.Join(id=next(self._ids), v=p.PROTOCOL_VERSION,
                                                  token=self.resume_token or self.token))
                break
            except ClientError as exc:
                if exc.code != "wrong_node" or not exc.url or redirects >= MAX_REDIRECTS:
                    raise
                old, self._ws, self.ws_url = self._ws, None, exc.url
                if old is not None:
                    self._abandon_task(close_quickly(old))
        assert isinstance(reply, p.Joined)
        self.joined = reply
        self.resume_token = reply.resume_token
        if self.policy is not None and self._watchdog is None:
            self._watchdog = asyncio.ensure_future(self._watch())
        return reply

    async def request(self, message: p.ClientMessage, timeout: float = 10.0) -> p.ServerMessage:
        rid = message.id
        future: asyncio.Future[p.ServerMessage] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        await self.send_raw(message.model_dump_json())
        try:
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(rid, None)
        if isinstance(reply, p.Error):
            raise ClientError(reply.code, reply.message, reply.retry_after_s, reply.url)
        return reply

    async def send_raw(self, data: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(data)

    async def publish(self, tracks: Sequence[MediaStreamTrack]) -> p.Published:
        self._published = list(tracks)
        pc = peer_connection(self.joined)
        for track in tracks:
            add_track(pc, track)
        await pc.setLocalDescription(await pc.createOffer())
        self._watch_sockets(pc)
        reply = await self.request(p.Publish(id=next(self._ids), sdp=pc.localDescription.sdp))
        assert isinstance(reply, p.Published)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.sdp, type="answer"))
        old, self.uplink = self.uplink, pc
        if old is not None:
            await close_keeping_tracks(old)
        return reply

    async def mute(self, kind: Kind, muted: bool) -> None:
        await self.request(p.Mute(id=next(self._ids), kind=kind, muted=muted))

    async def unpublish(self) -> None:
        await self.request(p.Unpublish(id=next(self._ids)))

    async def leave(self) -> None:
        with contextlib.suppress(ClientError, asyncio.TimeoutError, ConnectionError):
            await self.request(p.Leave(id=next(self._ids)))
        await self.close()

    async def close(self) -> None:
        self._closing = True
        for task in (self._watchdog, self._reconnecting):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for downlink in list(self.downlinks.values()):
            await downlink.pc.close()
        if self.uplink is not None:
            await self.uplink.close()
        await asyncio.gather(*self._abandoned, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # --- events --------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[Client], Any], timeout: float = 10.0
    ) -> Any:
        """Wait until `predicate(self)` is truthy (re-checked on every message); return it."""
        async with asyncio.timeout(timeout):
            while True:
                result = predicate(self)
                if result:
                    return result
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.1)

    def events_of(self, kind: type[M]) -> list[M]:
        """The events of one message type received so far, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def downlink_from(self, publisher: str) -> RemoteDownlink | None:
        found = [d for d in self.downlinks.values() if d.publisher == publisher]
        return found[-1] if found else None

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            message = p.SERVER_MESSAGE.validate_python(json.loads(msg.data))
            rid = getattr(message, "id", None)
            if rid is not None and rid in self._pending:
                self._pending[rid].set_result(message)
            else:
                self.events.append(message)
                if isinstance(message, p.Offer):
                    self._spawn(self._accept_offer(message))
                elif isinstance(message, p.DownlinkClosed):
                    self._spawn(self._close_downlink(message.downlink))
                elif isinstance(message, p.Move):  # the node drains: rejoin there
                    self.ws_url, self._moved = message.url or self.entry_url, True
            self._changed.set()
        if ws is not self._ws:
            return  # an abandoned socket (a reconnect already failed its requests)
        self.close_code = ws.close_code
        self._fail_pending(f"socket closed ({self.close_code})")
        self._changed.set()
        if self.close_code not in FINAL_CLOSE_CODES:
            self._start_reconnect("moved" if self._moved else "socket_closed")
        self._moved = False

    def _fail_pending(self, why: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(why))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_offer(self, offer: p.Offer) -> None:
        pc = peer_connection(self.joined)
        downlink = RemoteDownlink(offer.downlink, offer.publisher, pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            downlink.tracks[Kind(track.kind)] = track
            self._changed.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        if self.reception:
            install_reception(pc)
        if self.record_packets:
            for transceiver in pc.getTransceivers():
                record_packets(transceiver.receiver, downlink.packets.setdefault(
                    Kind(transceiver.kind), []))
        await pc.setLocalDescription(await pc.createAnswer())
        self._watch_sockets(pc, downlink)
        self.downlinks[offer.downlink] = downlink
        await self.request(
            p.Answer(id=next(self._ids), downlink=offer.downlink, sdp=pc.localDescription.sdp)
        )

    # --- continuity ----------------------------------------------------------------------

    def _watch_sockets(self, pc: RTCPeerConnection, downlink: RemoteDownlink | None = None) -> None:
        """Note the arrival of every media datagram (liveness), then apply impairment."""
        def seen(data: bytes | str, addr: Any) -> None:
            if isinstance(data, bytes) and data and 128 <= data[0] <= 191:
                now = time.monotonic()
                self._last_media_at = now
                if self.reconnects and downlink is not None:
                    self.reconnects[-1].mark(FIRST_PACKET, now)

        tap_datagrams(pc, seen)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and self.reconnects:
                self.reconnects[-1].mark(ICE_CONNECTED, time.monotonic())
            if pc.connectionState == "failed":
                self._start_reconnect("peer_connection_failed")

        if self.impairment is not None:
            self.impairment.apply(pc)

    async def _watch(self) -> None:
        assert self.policy is not None
        while not self._closing:
            await asyncio.sleep(0.1)
            idle = self._reconnecting is None or self._reconnecting.done()
            if idle and not self.gave_up and self.policy.stalled(
                self._last_media_at, time.monotonic()
            ):
                self._start_reconnect("media_stalled")

    def _start_reconnect(self, reason: str) -> None:
        if self.policy is None or self._closing or self.gave_up:
            return
        if self._reconnecting is not None and not self._reconnecting.done():
            return
        attempt = Reconnect(reason)
        attempt.mark(STALL_DETECTED, time.monotonic())
        self.reconnects.append(attempt)
        self._reconnecting = asyncio.ensure_future(self._reconnect(attempt))

    async def _reconnect(self, attempt: Reconnect) -> None:
        assert self.policy is not None
        attempt.mark(RECONNECT_STARTED, time.monotonic())
        self._last_media_at = None
        self._abandon_connections()
        deadline = time.monotonic() + self.policy.give_up_after
        while time.monotonic() < deadline and not self._closing:
            attempt.attempts += 1
            try:
                async with asyncio.timeout(self.policy.attempt_timeout):
                    await self._redial()
                    await self.join()
                attempt.mark(SIGNALLING_RESUMED, time.monotonic())
                if self._published:
                    await self.publish(self._published)
                    # the new uplink gets RTCP within the stall time: if it does not, the
                    # watch starts the next reconnect (none came if this stays None)
                    self._last_media_at = time.monotonic()
                self._changed.set()
                return
            except ClientError as exc:
                if exc.code in FINAL_ERRORS:
                    break
            except (ConnectionError, OSError, TimeoutError, aiohttp.ClientError):
                pass
            self._abandon_connections()
            self.ws_url = self.entry_url  # the room's node may be gone: ask the entry
            await asyncio.sleep(self.policy.delay(attempt.attempts, self._rng))
        attempt.mark(GAVE_UP, time.monotonic())
        self.gave_up = True
        self._changed.set()

    def _abandon_connections(self) -> None:
        """Drop the socket and peer connections at once, without waiting on the peer
        (over a dead link a graceful WebSocket close waits for a reply that does not
        come): they are closed in the background, the local tracks kept."""
        old_ws, self._ws = self._ws, None
        self._fail_pending("connection abandoned for a reconnect")
        closing: list[Any] = [downlink.pc.close() for downlink in self.downlinks.values()]
        self.downlinks.clear()
        if old_ws is not None:
            closing.append(close_quickly(old_ws))
        if self.uplink is not None:
            for sender in self.uplink.getSenders():
                sender.replaceTrack(None)  # now: the next uplink sends these tracks
            closing.append(self.uplink.close())
            self.uplink = None
        for coro in closing:
            self._abandon_task(coro)

    def _abandon_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)

    async def _close_downlink(self, downlink_id: str) -> None:
        downlink = self.downlinks.pop(downlink_id, None)
        if downlink is not None:
            await downlink.pc.close()
