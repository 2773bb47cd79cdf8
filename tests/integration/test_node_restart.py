"""Killing the node process and starting it again: every client is back in its room."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from media.ids import Role
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack
from signalling.client.continuity import SIGNALLING_RESUMED, ReconnectPolicy
from signalling.tokens import mint
from tests.conftest import API_KEY, SECRET, Clients, free_port

ROOM = "lesson-r"


class NodeProcess:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ, "LIVEROOM_PORT": str(self.port), "LIVEROOM_TOKEN_SECRET": SECRET,
            "LIVEROOM_API_KEY": API_KEY, "LIVEROOM_DATA_DIR": str(tmp_path),
            "LIVEROOM_ICE_HOST_ADDRESSES": "127.0.0.1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "signalling.cli", "serve"], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    async def ready(self, timeout: float = 20.0) -> float:
        """Wait for /readyz; return when it first answered 200."""
        async with aiohttp.ClientSession() as http, asyncio.timeout(timeout):
            while True:
                try:
                    async with http.get(f"{self.url}/readyz") as r:
                        if r.status == 200:
                            return time.monotonic()
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    async def participants(self) -> set[str]:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.url}/v1/rooms/{ROOM}", headers=headers) as r:
                if r.status != 200:
                    return set()
                return {x["identity"] for x in (await r.json())["participants"]}


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path)
    node.start()
    yield node
    node.kill()


async def test_clients_rejoin_a_restarted_node_by_themselves(
    node_process: NodeProcess, clip: Clip, clients: Clients
) -> None:
    await node_process.ready()
    room = []
    for identity, role in (("tutor", Role.TUTOR), ("learner-a", Role.LEARNER),
                           ("learner-b", Role.LEARNER)):
        token = mint(SECRET, room=ROOM, identity=identity, role=role)
        client = clients.add(Client(node_process.url, ROOM, token, reconnect=ReconnectPolicy()))
        await client.join()
        await client.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
        room.append(client)
    assert await node_process.participants() == {"tutor", "learner-a", "learner-b"}
    node_process.kill()
    await asyncio.sleep(1.0)
    node_process.start()
    ready = await node_process.ready()
    async with asyncio.timeout(10):
        while await node_process.participants() != {"tutor", "learner-a", "learner-b"}:
            await asyncio.sleep(0.05)
    back = time.monotonic() - ready
    print(f"all clients back {back:.2f} s after the node was ready")
    assert back <= 5.0
    for client in room:
        assert client.reconnects and SIGNALLING_RESUMED in client.reconnects[-1].phases
    # media flows again: every client gets offers for the two others
    for client in room:
        await client.wait_for(
            lambda c: len({d.publisher for d in c.downlinks.values() if d.tracks}) == 2,
            timeout=10)
        assert not any(e.reason == "left" for e in client.events_of(p.ParticipantLeft))
