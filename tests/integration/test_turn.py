"""TURN credentials from the node, checked by a real coturn on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from media.ids import Role
from signalling.client import Client
from signalling.turn import TurnServers
from tests.conftest import Clients, RunningNode
from tests.turn_server import SECRET, TurnServer


async def allocate(turn: TurnServer, username: str, credential: str) -> tuple[str, int]:
    """A relay allocation over TCP with these credentials: the relayed address."""
    transport, _ = await asyncio.wait_for(create_turn_endpoint(
        asyncio.DatagramProtocol, ("127.0.0.1", turn.port), username, credential,
        transport="tcp"), 10)
    try:
        relayed: tuple[str, int] = transport.get_extra_info("sockname")
        return relayed
    finally:
        transport.close()


async def test_joined_hands_out_turn_credentials_that_coturn_accepts(
    turn: TurnServer, node_factory: Callable[..., object], clients: Clients
) -> None:
    node: RunningNode = await node_factory(  # type: ignore[misc]
        turn_urls=[turn.tcp_url], turn_secret=SECRET, turn_ttl_s=600)
    learner = clients.add(Client(node.url, "reading-1", node.token("reading-1", "p-7f3a")))
    joined = await learner.join()
    [server] = joined.ice_servers
    assert server.urls == [turn.tcp_url]
    expiry, _, who = server.username.partition(":")
    assert who == "p-7f3a", "the pseudonym, never a name"
    assert 590 <= int(expiry) - time.time() <= 610
    relayed = await allocate(turn, server.username, server.credential)
    print(f"coturn relayed {relayed} for {server.username}")
    assert relayed[0] == "127.0.0.1"


@pytest.mark.parametrize("case", ["wrong secret", "expired", "other user"])
async def test_coturn_refuses_credentials_that_are_not_the_nodes(
    turn: TurnServer, case: str
) -> None:
    now = time.time()
    good = TurnServers(["x"], SECRET, 600).for_participant("p-1", now)[0]
    if case == "wrong secret":
        server = TurnServers(["x"], "not-the-secret", 600).for_participant("p-1", now)[0]
        username, credential = server.username, server.credential
    elif case == "expired":
        old = TurnServers(["x"], SECRET, 60).for_participant("p-1", now - 3600)[0]
        username, credential = old.username, old.credential
    else:  # a participant's credential with another participant's name on it
        username, credential = good.username.replace("p-1", "p-2"), good.credential
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(turn, username, credential)
    print(f"{case}: {refused.value}")
    assert "401" in str(refused.value)


async def test_no_turn_servers_unless_configured(
    node: RunningNode, clients: Clients
) -> None:
    learner = clients.add(Client(node.url, "reading-1", node.token("reading-1", "p-1",
                                                                   Role.LEARNER)))
    assert (await learner.join()).ice_servers == []
