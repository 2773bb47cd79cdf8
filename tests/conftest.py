"""Shared fixtures: a real node on a free loopback port, tokens, clip media."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestServer

from media.ids import Role
from media.peer import pin_host_addresses
from signalling.app import create_app
from signalling.client import Client
from signalling.client.clip import Clip, encode_clip
from signalling.settings import Settings
from signalling.tokens import mint

if TYPE_CHECKING:
    from tests.redis_server import RedisServer
    from tests.turn_server import TurnServer

SECRET = "test-secret-0123456789abcdef0123"
API_KEY = "test-api-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        host="127.0.0.1", port=free_port(), data_dir=tmp_path, token_secret=SECRET,
        api_key=API_KEY, ice_host_addresses=["127.0.0.1"], room_empty_grace_s=30.0,
        # the test process hosts the node and its clients: its CPU and loop lag are not a
        # node's, so admission control is off unless a test is about it
        admission_max_loop_lag_s=0.0, admission_max_cpu_cores=0.0,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class RunningNode:
    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.app = server.app
        self.url = str(server.make_url("")).rstrip("/")

    def token(self, room: str, identity: str, role: Role = Role.LEARNER, **kw: object) -> str:
        return mint(SECRET, room=room, identity=identity, role=role, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def node_factory(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    servers: list[TestServer] = []

    async def start(**overrides: object) -> RunningNode:
        settings = node_settings(tmp_path, **overrides)
        server = TestServer(create_app(settings), host=settings.host, port=settings.port)
        await server.start_server()
        servers.append(server)
        return RunningNode(server)

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def node(node_factory: Callable[..., object]) -> RunningNode:
    return await node_factory()  # type: ignore[no-any-return,misc]


@pytest.fixture(autouse=True)
def _loopback_ice() -> None:
    """The Python clients a test runs in this process gather ICE candidates on 127.0.0.1
    only (aioice leaves loopback out, and the suite's namespace has nothing else). The pin
    is process-wide, as a node's own is at its start-up: set it for every test, so none
    depends on an earlier test having started a node."""
    pin_host_addresses(["127.0.0.1"])


@pytest.fixture(scope="session")
def clip() -> Clip:
    return encode_clip()


class Clients:
    """Python clients a test makes; every one is closed when the test ends, pass or fail
    (the `clients` fixture), so no test needs a close-in-finally block."""

    def __init__(self) -> None:
        self._made: list[Client] = []

    def add(self, client: Client) -> Client:
        self._made.append(client)
        return client

    def new(self, node: RunningNode, room: str, identity: str, role: Role = Role.LEARNER,
            **kw: Any) -> Client:
        """A client with a fresh join token for `identity` (not joined yet)."""
        return self.add(Client(node.url, room, node.token(room, identity, role), **kw))

    async def join(self, node: RunningNode, room: str, identity: str,
                   role: Role = Role.LEARNER, **kw: Any) -> Client:
        client = self.new(node, room, identity, role, **kw)
        await client.join()
        return client

    async def close(self) -> None:
        for client in reversed(self._made):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 10)
        self._made.clear()


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    made = Clients()
    yield made
    await made.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, for one test (tests/redis_server.py)."""
    from tests.redis_server import RedisServer  # it imports this module's free_port

    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[TurnServer]:
    """A real coturn on a free loopback port, for one test (tests/turn_server.py)."""
    from tests.turn_server import TurnServer

    server = TurnServer(tmp_path)
    server.start()
    yield server
    server.stop()
