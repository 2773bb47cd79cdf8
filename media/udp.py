"""The node's UDP sockets: receive buffer size, backlog and drops, receive priority.

aioice creates one UDP socket per host candidate and asks for a 256 KiB receive buffer
(`aioice.turn.UDP_SOCKET_BUFFER_SIZE`, read when each socket is made): Linux doubles it and
charges 2304 bytes per 1200-byte datagram, so it holds 227 datagrams, ~1.4 s of a 1 Mbit/s
publisher; when the event loop stalls longer the kernel drops the rest, which the node can
only see as loss. 1 MiB (the default) holds ~910, ~5.5 s: a stall of a few seconds is
absorbed, and media is never queued much later than that when the node is behind.
`set_receive_buffer` (called once at start-up with `LIVEROOM_UDP_RCVBUF_BYTES`) raises it
for every socket made afterwards; Linux caps the request at `net.core.rmem_max` (raise
that with sysctl for more), so the effective size is read back and logged.
`receive_queue` reads a socket's queued bytes and drop count (SO_MEMINFO);
`prioritise_reads` lets a publisher's socket be read several datagrams at a time when it
is ready, ahead of subscribers' RTCP.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import Any

import aioice.turn
import structlog

log = structlog.get_logger(__name__)

DEFAULT_RCVBUF_BYTES = 1024 * 1024  # LIVEROOM_UDP_RCVBUF_BYTES's default
BACKLOG_BYTES = 64 * 1024
"""Queued bytes on a socket that mean the node is behind in reading it."""
SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)  # Linux; not exported by Python 3.11
_MEMINFO = struct.Struct("9I")
_RMEM_ALLOC, _DROPS = 0, 8  # SK_MEMINFO_RMEM_ALLOC, SK_MEMINFO_DROPS
READS_PER_WAKEUP = 32


def set_receive_buffer(size: int) -> int:
    """Ask for `size` bytes of receive buffer on every UDP socket aioice makes from now on
    (process-wide, like aioice's own constant); returns what the kernel grants."""
    aioice.turn.UDP_SOCKET_BUFFER_SIZE = size
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        granted = probe.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2  # Linux doubles
    log.info("udp_receive_buffer", requested=size, granted=granted,
             capped=granted < size)
    return granted


@dataclass(frozen=True, slots=True)
class ReceiveQueue:
    queued_bytes: int
    """Memory held by datagrams not yet read (kernel accounting, per datagram overhead
    included)."""
    drops: int
    """Datagrams dropped on this socket since it was made (buffer full)."""


def receive_queue(sock: socket.socket | None) -> ReceiveQueue | None:
    """The socket's backlog and drop count; None where SO_MEMINFO is not available."""
    if sock is None:
        return None
    try:
        info = _MEMINFO.unpack(sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size))
    except (OSError, struct.error):
        return None
    return ReceiveQueue(info[_RMEM_ALLOC], info[_DROPS])


def ice_connections(pc: Any) -> list[Any]:
    """The aioice connections of a peer connection's transceivers (one with BUNDLE)."""
    found: list[Any] = []
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        if connection not in found:
            found.append(connection)
    return found


def prioritise_reads(pc: Any, reads: int = READS_PER_WAKEUP) -> int:
    """Read up to `reads` datagrams each time one of `pc`'s sockets is ready, instead of
    asyncio's one: a publisher's backlog (and the STUN checks queued behind it) is worked
    off ahead of the subscribers' sockets, which keep one read per wake-up. Only for
    asyncio's selector transports (uvloop's are left as they are); returns how many
    sockets were changed."""
    changed = 0
    for connection in ice_connections(pc):
        for protocol in connection._protocols:
            transport = getattr(protocol, "transport", None)
            if _drain(transport, reads):
                changed += 1
    return changed


def _drain(transport: Any, reads: int) -> bool:
    sock = getattr(transport, "_sock", None)
    loop = getattr(transport, "_loop", None)
    if sock is None or not hasattr(loop, "_add_reader") or not hasattr(
        transport, "_read_ready"
    ) or getattr(transport, "_prioritised", False):
        return False
    max_size = getattr(transport, "max_size", 256 * 1024)

    def read_ready() -> None:
        for _ in range(reads):
            if transport._conn_lost:
                return
            try:
                data, addr = sock.recvfrom(max_size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                transport._protocol.error_received(exc)
                return
            transport._protocol.datagram_received(data, addr)

    transport._read_ready = read_ready
    transport._prioritised = True
    loop._add_reader(sock.fileno(), read_ready)  # type: ignore[union-attr]  # replaces asyncio's
    return True
