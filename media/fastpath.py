"""The per-packet send path of forwarding, with the per-subscriber work cut to the minimum.

A publisher's packet is prepared once (`SourcePacket`): keyframe flag, send time and one
serialized RTP packet per header layout (payload type, MID and extension ids; every
subscriber of a feed normally shares one). For each subscriber only the sequence number,
timestamp and SSRC are patched into that buffer (`struct.pack_into`), then `Wire` protects
it with the subscriber's SRTP session and hands it to the UDP transport of the nominated
ICE pair. No RtpPacket, coroutine or task is created per subscriber per packet. RTCP the
node writes (sender reports to subscribers, NACK/PLI/REMB/RR to publishers) goes the same
way (`Wire.send_rtcp`).

`Wire` uses internals of aiortc (DTLS transport state and SRTP session), aioice (the
nominated pair) and pylibsrtp (the session's C context and buffer). `Wire` checks them
when it binds to a connection and falls back to aiortc's own `_send_rtp` if any is
missing, or if the pair is not a plain UDP one (a TURN relay must wrap the data).
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import struct
import time
from typing import Any

import structlog
from aiortc.rtcdtlstransport import State
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import RtpPacket, pack_header_extensions

from .aiortc_compat import drive

log = structlog.get_logger(__name__)

SEQ_TS_SSRC = struct.Struct("!HII")  # at byte 2 of an RTP header
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900 to 1970
RTCP_MAX_PLAIN = 1500 - (4 + 16 + 128)  # room for pylibsrtp's largest SRTCP trailer

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

try:  # pylibsrtp's C binding, for protecting into the session's own buffer
    from pylibsrtp._binding import ffi as _ffi
    from pylibsrtp._binding import lib as _srtp_lib
except ImportError:  # pragma: no cover - the fallback path below then carries everything
    _ffi = _srtp_lib = None

_PlainUdp: type | None
try:
    from aioice.ice import StunProtocol as _PlainUdp
except ImportError:  # pragma: no cover
    _PlainUdp = None
# asyncio's own UDP transport (private, not in its stubs)
_SelectorUdp: type | None = getattr(asyncio.selector_events, "_SelectorDatagramTransport", None)


def ntp_now() -> int:
    """The current time as a 64-bit NTP timestamp (as aiortc's clock, without datetime)."""
    return int((time.time() + NTP_EPOCH_OFFSET) * 4294967296.0)


class Layout:
    """How one outgoing stream lays out its RTP header: payload type, MID, extension ids."""

    __slots__ = ("abs_send_time_id", "audio_level_id", "key", "mid", "mid_id", "payload_type")

    def __init__(self, payload_type: int, mid: str | None, ids: dict[str, int]) -> None:
        self.payload_type = payload_type
        self.mid = mid
        self.mid_id = ids.get(MID_URI, 0) if mid else 0
        self.abs_send_time_id = ids.get(ABS_SEND_TIME_URI, 0)
        self.audio_level_id = ids.get(AUDIO_LEVEL_URI, 0)
        self.key = (payload_type, mid, self.mid_id, self.abs_send_time_id, self.audio_level_id)

    @classmethod
    def from_parameters(cls, parameters: RTCRtpSendParameters) -> Layout:
        """The shared Layout object for these parameters (equal layouts are one object, so
        a SourcePacket's buffers are looked up by identity, the cheapest hash there is)."""
        ids = {ext.uri: ext.id for ext in parameters.headerExtensions}
        layout = cls(parameters.codecs[0].payloadType or 0, parameters.muxId or None, ids)
        return _LAYOUTS.setdefault(layout.key, layout)

    def serialize(self, packet: RtpPacket, abs_send_time: int) -> bytearray:
        """The packet with this layout's header; sequence number, timestamp, SSRC zero."""
        extensions: list[tuple[int, bytes]] = []
        if self.mid_id and self.mid:
            extensions.append((self.mid_id, self.mid.encode()))
        if self.abs_send_time_id:
            extensions.append((self.abs_send_time_id, abs_send_time.to_bytes(3, "big")))
        level = packet.extensions.audio_level
        if self.audio_level_id and level is not None:
            extensions.append(
                (self.audio_level_id, bytes([(0x80 if level[0] else 0) | (level[1] & 0x7F)]))
            )
        profile, value = pack_header_extensions(extensions)
        buf = bytearray(12)
        buf[0] = 0x90 if value else 0x80
        buf[1] = (0x80 if packet.marker else 0) | self.payload_type
        if value:
            buf += struct.pack("!HH", profile, len(value) >> 2)
            buf += value
        buf += packet.payload
        return buf


_LAYOUTS: dict[tuple[int, str | None, int, int, int], Layout] = {}  # a handful, ever


class SourcePacket:
    """A publisher's packet, prepared once for all the subscribers of its feed."""

    __slots__ = (
        "abs_send_time", "buffers", "keyframe", "ntp", "packet", "payload_size",
        "sequence_number", "ssrc", "timestamp",
    )

    def __init__(self, packet: RtpPacket, keyframe: bool, ntp: int) -> None:
        self.packet = packet
        self.ssrc = packet.ssrc
        self.sequence_number = packet.sequence_number
        self.timestamp = packet.timestamp
        self.payload_size = len(packet.payload)
        self.keyframe = keyframe
        self.ntp = ntp
        self.abs_send_time = (ntp >> 14) & 0x00FFFFFF
        self.buffers: dict[Layout, bytearray] = {}

    def buffer(self, layout: Layout) -> bytearray:
        buf = self.buffers.get(layout)
        if buf is None:
            buf = self.buffers[layout] = layout.serialize(self.packet, self.abs_send_time)
        return buf


class Wire:
    """Protects and sends RTP packets on one DTLS transport (the subscriber's connection)."""

    def __init__(self, dtls: Any) -> None:
        self.dtls = dtls
        self.errors = 0
        self._session: Any = None  # the SRTP session bound to
        self._srtp: Any = None
        self._cdata: Any = None
        self._out: Any = None
        self._length: Any = _ffi.new("int *") if _ffi is not None else None
        self._pair: Any = None
        self._nominated: dict[int, Any] = {}
        self._sendto: Any = None
        self._udp: Any = None  # asyncio's transport, if its socket is written directly
        self._sock_sendto: Any = None
        self._addr: tuple[str, int] | None = None
        self._fast = False
        self._background: set[asyncio.Future[Any]] = set()

    def send(self, data: bytearray) -> int:
        """Protect and send one RTP packet now; returns bytes sent (0 if not connected)."""
        dtls = self.dtls
        if dtls._state is not State.CONNECTED:
            return 0
        if dtls._tx_srtp is not self._session:
            self._bind_session(dtls._tx_srtp)
        if self._fast:
            pair = self._nominated.get(1)
            if pair is not self._pair:
                if pair is None:
                    return 0
                self._bind_pair(pair)
        if not self._fast:
            drive(dtls._send_rtp(bytes(data)), self._background)
            return len(data)
        size = len(data)
        out = self._out
        out[0:size] = data
        length = self._length
        length[0] = size
        if _srtp_lib.srtp_protect(self._srtp[0], self._cdata, length):
            self.errors += 1
            return 0
        packet = out[0 : length[0]]
        udp = self._udp
        if udp is not None and not udp._buffer and not udp._conn_lost:
            try:  # what asyncio's sendto does when nothing is queued, without its checks
                self._sock_sendto(packet, self._addr)
            except (BlockingIOError, InterruptedError):
                udp.sendto(packet, self._addr)  # asyncio queues it and waits to write
            except OSError as exc:
                udp._protocol.error_received(exc)
        else:
            self._sendto(packet, self._addr)
        dtls._RTCDtlsTransport__tx_bytes += len(packet)
        dtls._RTCDtlsTransport__tx_packets += 1
        return len(packet)

    def send_rtcp(self, data: bytes) -> int:
        """Protect and send one (compound) RTCP packet now, as `send` does RTP."""
        dtls = self.dtls
        if dtls._state is not State.CONNECTED:
            return 0
        if dtls._tx_srtp is not self._session:
            self._bind_session(dtls._tx_srtp)
        if self._fast:
            pair = self._nominated.get(1)
            if pair is not self._pair:
                if pair is None:
                    return 0
                self._bind_pair(pair)
        size = len(data)
        if not self._fast or size > RTCP_MAX_PLAIN:
            drive(dtls._send_rtp(bytes(data)), self._background)
            return size
        self._out[0:size] = data
        length = self._length
        length[0] = size
        if _srtp_lib.srtp_protect_rtcp(self._srtp[0], self._cdata, length):
            self.errors += 1
            return 0
        packet = self._out[0 : length[0]]
        self._sendto(packet, self._addr)
        dtls._RTCDtlsTransport__tx_bytes += len(packet)
        dtls._RTCDtlsTransport__tx_packets += 1
        return len(packet)

    def _bind_session(self, session: Any) -> None:
        self._session = session
        self._pair = None
        try:
            self._srtp = session._srtp
            self._cdata = session._cdata
            self._out = session._buffer
            self._nominated = self.dtls.transport._connection._nominated  # aioice's dict
            self.dtls._RTCDtlsTransport__tx_bytes  # noqa: B018
            self._fast = _srtp_lib is not None and _PlainUdp is not None
        except AttributeError:
            self._fast = False
        if not self._fast:
            log.warning("forwarding_slow_path", reason="aiortc/pylibsrtp internals moved")

    def _bind_pair(self, pair: Any) -> None:
        self._pair = pair
        self._udp = self._sock_sendto = None
        protocol = getattr(pair, "protocol", None)
        transport = getattr(protocol, "transport", None)
        if type(protocol) is not _PlainUdp or transport is None:
            self._fast = False  # e.g. a TURN relay: aiortc's path wraps the data
            return
        self._sendto = transport.sendto
        self._addr = pair.remote_addr
        # asyncio's own UDP transport (not uvloop's): write to its socket directly while
        # the transport has nothing queued (~1 µs a packet less than its sendto)
        sock = getattr(transport, "_sock", None)
        direct = (
            _SelectorUdp is not None and isinstance(transport, _SelectorUdp)
            and getattr(transport, "_address", None) is None
            and hasattr(transport, "_buffer") and hasattr(transport, "_conn_lost")
            and sock is not None
        )
        self._udp = transport if direct else None
        self._sock_sendto = sock.sendto if direct and sock is not None else None


def send_rtcp_fast(receiver: Any) -> None:
    """Send what `receiver` sends its publisher (receiver reports, REMB, NACK, PLI) through
    `Wire.send_rtcp` instead of aiortc's `_send_rtp` chain. aiortc still builds the
    packets; only their way to the socket changes."""
    wires: list[Wire] = []

    async def send_rtcp(packet: Any) -> None:
        dtls = receiver.transport
        if not wires or wires[0].dtls is not dtls:
            wires[:] = [Wire(dtls)]
        wires[0].send_rtcp(bytes(packet))

    receiver._send_rtcp = send_rtcp
