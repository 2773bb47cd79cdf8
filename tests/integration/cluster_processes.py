"""Cluster nodes as real `liveroom serve` processes sharing one real redis-server, and the
1 + 3 lesson that the drain and failover tests move between them (test_drain.py,
test_node_failover.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from media.ids import Kind, Role
from signalling import protocol as p
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack
from signalling.client.continuity import RECONNECT_STARTED, SIGNALLING_RESUMED, ReconnectPolicy
from signalling.tokens import mint
from tests.conftest import API_KEY, SECRET, Clients, free_port

ADMIN = {"Authorization": f"Bearer {API_KEY}"}
NOISY = ("publisher_bitrate_cap_changed", "subscriber_video_paused", "subscriber_video_resumed",
         "uplink_opened", "downlink_opened", "udp_receive_buffer", "connection_quality")
LESSON = (("tutor", Role.TUTOR), ("learner-a", Role.LEARNER), ("learner-b", Role.LEARNER),
          ("learner-c", Role.LEARNER))


class ClusterNode:
    """One node process of the cluster (its stdout/stderr in its data dir's node.log)."""

    def __init__(self, tmp_path: Path, name: str, redis_url: str, **env: str) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = tmp_path / name
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ, "LIVEROOM_PORT": str(self.port), "LIVEROOM_TOKEN_SECRET": SECRET,
            "LIVEROOM_API_KEY": API_KEY, "LIVEROOM_DATA_DIR": str(self.data_dir),
            "LIVEROOM_ICE_HOST_ADDRESSES": "127.0.0.1", "LIVEROOM_REDIS_URL": redis_url,
            "LIVEROOM_NODE_ID": name, "LIVEROOM_LOG_JSON": "true",
            # the machine is shared by the test's clients and three nodes
            "LIVEROOM_ADMISSION_MAX_LOOP_LAG_S": "0", "LIVEROOM_ADMISSION_MAX_CPU_CORES": "0",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.data_dir / "node.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "signalling.cli", "serve"], env=self.env,
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_text(self) -> str:
        return (self.data_dir / "node.log").read_text(errors="replace")

    def events(self, skip: tuple[str, ...] = NOISY) -> str:
        """The node's log without its per-stream chatter (printed after a cluster test)."""
        return "\n".join(f"{self.name}: {line}" for line in self.log_text().splitlines()
                         if not any(f'"event": "{e}"' in line for e in skip))

    async def ready(self, timeout: float = 30.0) -> None:
        async with aiohttp.ClientSession() as http, asyncio.timeout(timeout):
            while True:
                assert self.exited() is None, f"{self.name} exited: {self.log_text()[-2000:]}"
                try:
                    async with http.get(f"{self.url}/readyz") as reply:
                        if reply.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    async def get(self, path: str) -> tuple[int, Any]:
        async with aiohttp.ClientSession(headers=ADMIN) as http:
            async with http.get(f"{self.url}{path}", allow_redirects=False) as reply:
                body = await reply.json() if reply.content_type == "application/json" else None
                return reply.status, body

    async def post(self, path: str, body: object) -> tuple[int, Any]:
        async with aiohttp.ClientSession(headers=ADMIN) as http:
            async with http.post(f"{self.url}{path}", json=body,
                                 allow_redirects=False) as reply:
                data = await reply.json() if reply.content_type == "application/json" else None
                return reply.status, data


async def start_nodes(nodes: list[ClusterNode]) -> None:
    for node in nodes:
        node.start()
    await asyncio.gather(*(node.ready() for node in nodes))


def node_of(nodes: list[ClusterNode], client: Client) -> ClusterNode:
    """The node a client's socket is on."""
    found = [n for n in nodes if client.ws_url.startswith(n.url.replace("http", "ws", 1))]
    assert len(found) == 1, client.ws_url
    return found[0]


async def seat_lesson(entry: ClusterNode, room: str, clip: Clip, clients: Clients
                      ) -> list[Client]:
    """A tutor and three learners, each publishing audio and video, joined through
    `entry` (redirected to the room's node), with media from the three others flowing."""
    lesson = []
    for identity, role in LESSON:
        token = mint(SECRET, room=room, identity=identity, role=role)
        client = clients.add(Client(entry.url, room, token, reconnect=ReconnectPolicy(),
                                    record_packets=True))
        await client.join()
        await client.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
        lesson.append(client)
    for client in lesson:
        await client.wait_for(lambda c: media_from_all(c) is not None, timeout=20)
    return lesson


def media_from_all(client: Client, since: float = 0.0) -> float | None:
    """When the client had received video from each of the three others (the latest of
    their first packets after `since`), or None while one is missing."""
    firsts: dict[str, float] = {}
    for downlink in list(client.downlinks.values()):
        times = [r.at for r in downlink.packets.get(Kind.VIDEO, []) if r.at >= since]
        if times:
            first = min(times)
            firsts[downlink.publisher] = min(first, firsts.get(downlink.publisher, first))
    others = {identity for identity, _ in LESSON} - {client.identity}
    if set(firsts) != others:
        return None
    return max(firsts.values())


def media_back(client: Client) -> float | None:
    """When video from each of the three others came back after the client's last
    reconnect (its downlinks are all new ones then), or None until it has."""
    if not client.reconnects or SIGNALLING_RESUMED not in client.reconnects[-1].phases:
        return None
    return media_from_all(client, since=client.reconnects[-1].phases[RECONNECT_STARTED])


def nobody_left(lesson: list[Client]) -> list[str]:
    """The `participant_left` events any member of the lesson received."""
    return [f"{c.identity} saw {e.identity} leave ({e.reason})"
            for c in lesson for e in c.events_of(p.ParticipantLeft)]


async def room_participants(node: ClusterNode, room: str) -> set[str]:
    status, body = await node.get(f"/v1/rooms/{room}")
    if status != 200 or not isinstance(body, dict):
        return set()
    return {x["identity"] for x in body["participants"]}
