"""A Python client of the Liveroom protocol: join, publish, subscribe, mute, leave, events.

Used by tests, bots, the quality gate and load tests. Subscriptions arrive as node offers
(`offer` messages); the client answers each with a receive-only peer connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtpPacket

from media.ids import Kind
from media.rtp import vp8_starts_keyframe

from . import protocol as p
from .impairment import Impairment

M = TypeVar("M", bound=p.ServerMessage)


class ClientError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PacketRecord:
    """One RTP packet as the client's receiver saw it (before RTX unwrap)."""

    payload_type: int
    ssrc: int
    sequence_number: int
    timestamp: int
    keyframe_start: bool
    size: int


@dataclass
class RemoteDownlink:
    id: str
    publisher: str
    pc: RTCPeerConnection
    tracks: dict[Kind, MediaStreamTrack] = field(default_factory=dict)
    packets: dict[Kind, list[PacketRecord]] = field(default_factory=dict)


class Client:
    def __init__(
        self,
        base_url: str,
        room: str,
        token: str,
        *,
        impairment: Impairment | None = None,
        record_packets: bool = False,
    ) -> None:
        self.ws_url = base_url.replace("http", "ws", 1).rstrip("/") + f"/v1/rooms/{room}/ws"
        self.token = token
        self.impairment = impairment
        self.record_packets = record_packets
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

    @property
    def identity(self) -> str:
        assert self.joined is not None
        return self.joined.participant.identity

    # --- requests ------------------------------------------------------------------------

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.ws_url, max_msg_size=1 << 22)
        self._reader = asyncio.ensure_future(self._read())

    async def join(self) -> p.Joined:
        if self._ws is None:
            await self.connect()
        reply = await self.request(p.Join(id=next(self._ids), v=p.PROTOCOL_VERSION,
                                          token=self.token))
        assert isinstance(reply, p.Joined)
        self.joined = reply
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
            raise ClientError(reply.code, reply.message)
        return reply

    async def send_raw(self, data: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(data)

    async def publish(self, tracks: Sequence[MediaStreamTrack]) -> p.Published:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        for track in tracks:
            sender = pc.addTrack(track)
            request_keyframe = getattr(track, "request_keyframe", None)
            if request_keyframe is not None:
                sender._send_keyframe = request_keyframe  # type: ignore[method-assign]
        await pc.setLocalDescription(await pc.createOffer())
        if self.impairment is not None:
            self.impairment.apply(pc)
        reply = await self.request(p.Publish(id=next(self._ids), sdp=pc.localDescription.sdp))
        assert isinstance(reply, p.Published)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply.sdp, type="answer"))
        old, self.uplink = self.uplink, pc
        if old is not None:
            await old.close()
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

    async def _read(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
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
            self._changed.set()
        self.close_code = self._ws.close_code
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"socket closed ({self.close_code})"))
        self._changed.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept_offer(self, offer: p.Offer) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        downlink = RemoteDownlink(offer.downlink, offer.publisher, pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            downlink.tracks[Kind(track.kind)] = track
            self._changed.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        if self.record_packets:
            for transceiver in pc.getTransceivers():
                self._record(transceiver.receiver, downlink.packets.setdefault(
                    Kind(transceiver.kind), []))
        await pc.setLocalDescription(await pc.createAnswer())
        if self.impairment is not None:
            self.impairment.apply(pc)
        self.downlinks[offer.downlink] = downlink
        await self.request(
            p.Answer(id=next(self._ids), downlink=offer.downlink, sdp=pc.localDescription.sdp)
        )

    @staticmethod
    def _record(receiver: Any, log: list[PacketRecord]) -> None:
        inner = receiver._handle_rtp_packet

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            log.append(PacketRecord(
                packet.payload_type, packet.ssrc, packet.sequence_number, packet.timestamp,
                vp8_starts_keyframe(packet.payload), len(packet.payload),
            ))
            await inner(packet, arrival_time_ms=arrival_time_ms)

        receiver._handle_rtp_packet = handle

    async def _close_downlink(self, downlink_id: str) -> None:
        downlink = self.downlinks.pop(downlink_id, None)
        if downlink is not None:
            await downlink.pc.close()
