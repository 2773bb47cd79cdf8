"""ICE consent on the node's peer connections does not blame the peer for the node's own
starvation, and still expires when the peer is really gone (media/consent.py).

Two real aiortc peer connections on loopback; the node's side runs the guarded consent
loop, checking every ~0.2 s instead of ~5 s (the interval is the only thing changed).
The peer stops answering STUN (its connection drops binding requests, its sockets stay
open, so DTLS does not end the connection first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection

import media.consent
from media.consent import guard_consent
from media.peer import pin_host_addresses
from media.starvation import LoopLag
from media.udp import ice_connections


@pytest.fixture
async def pair(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Any, Any, LoopLag]]:
    monkeypatch.setattr(media.consent, "CONSENT_INTERVAL", 0.2)
    pin_host_addresses(["127.0.0.1"])
    node, peer = RTCPeerConnection(), RTCPeerConnection()
    lag = LoopLag()
    node.addTransceiver("audio", direction="sendonly")
    guard_consent(node, lag)
    await node.setLocalDescription(await node.createOffer())
    await peer.setRemoteDescription(node.localDescription)
    await peer.setLocalDescription(await peer.createAnswer())
    await node.setRemoteDescription(peer.localDescription)
    async with asyncio.timeout(10):
        while node.iceConnectionState != "completed" or peer.iceConnectionState not in (
            "completed", "connected"
        ):
            await asyncio.sleep(0.05)
    try:
        yield node, peer, lag
    finally:
        await peer.close()
        await node.close()
        pin_host_addresses([])


def silence(peer: Any) -> None:
    """The peer stops answering ICE checks (it is gone, as far as consent can tell)."""
    for connection in ice_connections(peer):
        connection.request_received = lambda *args: None


def node_ice_closed(node: Any) -> bool:
    return all(not c._nominated for c in ice_connections(node))


async def test_a_silent_peer_loses_consent_when_the_node_is_running_freely(
    pair: tuple[Any, Any, LoopLag],
) -> None:
    node, peer, _ = pair
    silence(peer)
    started = time.monotonic()
    async with asyncio.timeout(15):
        while not node_ice_closed(node):
            await asyncio.sleep(0.1)
    assert time.monotonic() - started >= 6 * 0.16  # six failed checks, not one


async def test_a_starved_node_does_not_count_its_failed_checks_until_it_runs_freely_again(
    pair: tuple[Any, Any, LoopLag],
) -> None:
    node, peer, lag = pair

    async def starve() -> None:  # the node's tick would do this while the loop is late
        while True:
            lag.starved(time.monotonic())
            await asyncio.sleep(0.05)

    starving = asyncio.ensure_future(starve())
    try:
        silence(peer)
        await asyncio.sleep(6.0)  # ~10 failed checks, each one excused
        assert not node_ice_closed(node)
    finally:
        starving.cancel()
    async with asyncio.timeout(15):
        while not node_ice_closed(node):
            await asyncio.sleep(0.1)
