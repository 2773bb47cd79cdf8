"""A client that stops reading its socket is closed with 4010 promptly (docs/protocol.md),
and its seat is held as for any lost connection (docs/continuity.md)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

import aiohttp

from media.ids import Identity, Role
from signalling import protocol as p
from signalling.client import Client
from signalling.keys import NODE, SOCKETS
from tests.conftest import Clients, RunningNode

ROOM = "lesson-slow"
CUT_WITHIN_S = 3.0  # after the node's limit (its outbox full); the aim is ~1 s
ESTABLISHED = 1  # tcpi_state


async def test_a_client_that_stops_reading_is_closed_with_4010_promptly(
    node_factory: Callable[..., Awaitable[RunningNode]], clients: Clients,
) -> None:
    # the client fills its outbox with pings' replies: lift the rate limit (4029) for it
    node = await node_factory(ws_rate=1e6, ws_burst=1_000_000)
    tutor = clients.new(node, ROOM, "tutor", Role.TUTOR)
    await tutor.join()
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(f"{node.url}/v1/rooms/{ROOM}/ws")
        sock = ws.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # block sooner
        token = node.token(ROOM, "slow", Role.LEARNER)
        await ws.send_str(p.Join(id="j", v=p.PROTOCOL_VERSION, token=token).model_dump_json())
        joined = await ws.receive(timeout=10)
        assert p.SERVER_MESSAGE.validate_json(joined.data).type == "joined"
        hub = node.app[NODE].hubs[ROOM]  # type: ignore[index]
        conn = hub.connections[Identity("slow")]
        # the node's send buffer small too, so its outbox fills within seconds, not after
        # the kernel has taken megabytes of replies (its writer runs between messages)
        node_sock = conn._transport.get_extra_info("socket")  # type: ignore[union-attr]
        node_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        times: dict[str, float] = {}

        async def watch() -> None:
            """When the node hit its limit (outbox full), and when the client's TCP socket
            left ESTABLISHED (the node's FIN or RST arrived), without reading it."""
            while "cut" not in times:
                if conn.closing:
                    times.setdefault("limit", time.monotonic())
                try:
                    state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
                except OSError:  # the client saw the reset and closed its socket
                    state = -1
                if state != ESTABLISHED:
                    times["cut"] = time.monotonic()
                await asyncio.sleep(0.005)

        watcher = asyncio.ensure_future(watch())
        # from now on the client only writes: every ping gets an `ok` it never reads
        async with asyncio.timeout(30):
            n = 0
            while "limit" not in times:
                n += 1
                try:
                    await ws.send_str(p.Ping(id=f"p{n}").model_dump_json())
                except ConnectionError:
                    break  # cut already (its send buffer was full when the node reset it)
                if n % 20 == 0:
                    await asyncio.sleep(0)
        await asyncio.wait_for(watcher, 15)
        cut = times["cut"] - times["limit"]
        # the seat is held as for any lost connection: the others hear "reconnecting"
        reconnecting = await tutor.wait_for(
            lambda c: [e for e in c.events_of(p.ParticipantReconnecting)
                       if e.identity == "slow"], timeout=5)
        assert reconnecting
        assert "slow" in hub.room.participants  # held, not freed
        # what the client sees when it reads again: the close 4010, or a reset connection
        seen: list[aiohttp.WSMsgType] = []
        async with asyncio.timeout(10):
            while True:
                msg = await ws.receive()
                seen.append(msg.type)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                    break
        assert conn.ws not in node.app[SOCKETS]
        print(f"{n} pings; node cut the socket {cut:.3f} s after its limit; the client "
              f"then read {len(seen)} messages and {seen[-1]!r} "
              f"(close code {ws.close_code})")
        assert cut <= CUT_WITHIN_S
        assert ws.close_code in (4010, 1006)  # 1006: aborted with the close frame unread
        # its seat is handed back to the same identity
        again = clients.add(Client(node.url, ROOM, token))
        assert (await again.join()).resumed
        await again.close()
    finally:
        await session.close()
