"""The client's sockets over a link that may be dead: dial again beside a dial that hangs,
and close without waiting long for the other side."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection

from .aiortc_compat import ice_protocols

__all__ = ["ABANDON_CLOSE_S", "close_quickly", "first_to_connect", "tap_datagrams"]

ABANDON_CLOSE_S = 1.0  # an abandoned socket's close waits this long for the reply

Socket = aiohttp.ClientWebSocketResponse


async def close_quickly(ws: Socket) -> None:
    """Close a socket; if the node does not answer within a second, drop the connection.

    Dropped for good: the socket lingers 0 s, so its close discards what is still unsent
    (a reset) instead of retransmitting it into a dead link for minutes, which keeps the
    neighbour (ARP) entry probing and can fail the next connect with EHOSTUNREACH just
    after the link returns."""
    sock = ws.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(Exception):
        async with asyncio.timeout(ABANDON_CLOSE_S):
            await ws.close()


async def first_to_connect(
    dial: Callable[[], Awaitable[Socket]], every: float, abandon: Callable[[Any], None]
) -> Socket:
    """Dial; a dial that neither connects nor fails (its SYN went into a dead link, which
    the kernel retries only after 1, 2, 4 s) gets a fresh one beside it every `every` s,
    so the first SYN after the link returns connects. The first dial to connect wins; the
    others are cancelled, and one that connected anyway is handed to `abandon` (a close
    coroutine). A dial that fails (no route, refused) raises its error. Unbounded in time:
    the caller bounds it (the attempt timeout), which also bounds the dials started.
    """
    dials: list[asyncio.Task[Socket]] = []

    def close_late(task: asyncio.Task[Socket]) -> None:
        if not task.cancelled() and task.exception() is None:
            abandon(close_quickly(task.result()))

    try:
        while True:
            dials.append(asyncio.ensure_future(dial()))
            done, _ = await asyncio.wait(dials, timeout=every,
                                         return_when=asyncio.FIRST_COMPLETED)
            if done:  # a connected one first; the rest are closed below
                task = min(done, key=lambda t: t.exception() is not None)
                dials.remove(task)
                return task.result()  # raises the dial's error: the attempt failed
    finally:
        for task in dials:
            task.cancel()
            task.add_done_callback(close_late)


def tap_datagrams(pc: RTCPeerConnection, seen: Callable[[bytes | str, Any], None]) -> None:
    """Show `seen` every datagram `pc`'s ICE sockets receive, before aiortc handles it."""
    for protocol in ice_protocols(pc):
        inner = protocol.datagram_received

        def received(data: bytes | str, addr: Any, inner: Any = inner) -> None:
            seen(data, addr)
            inner(data, addr)

        protocol.datagram_received = received
