"""A Chromium page forced to relay (`iceTransportPolicy: "relay"`, TURN over TCP) through a
real coturn on loopback: media both ways, every candidate pair it uses a relay one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import av
from playwright.async_api import Page, expect

from media.ids import Kind, Role
from signalling.client.clip import Clip
from tests.browser.helpers import (
    downlink_with_tracks,
    inbound_audio,
    join,
    join_url,
    python_client,
    tile,
    video_frames,
)
from tests.conftest import Clients, RunningNode
from tests.turn_server import SECRET, TurnServer

NewPage = Callable[..., Awaitable[Page]]


async def selected_pairs(page: Page) -> list[dict[str, Any]]:
    """For each of the page's peer connections, its selected pair's local candidate."""
    return list(await page.evaluate(
        """async () => {
            const session = window.liveroom.session;
            const pcs = [session.uplink?.pc];
            for (const p of session.participants.values()) pcs.push(p.downlink?.pc);
            const out = [];
            for (const pc of pcs.filter(Boolean)) {
                const report = await pc.getStats();
                const stats = [...report.values()];
                const transport = stats.find((s) => s.type === 'transport');
                const pair = report.get(transport?.selectedCandidatePairId);
                const local = pair && report.get(pair.localCandidateId);
                out.push({type: local?.candidateType, relayProtocol: local?.relayProtocol,
                          bytesSent: pair?.bytesSent ?? 0, bytesReceived: pair?.bytesReceived ?? 0,
                          policy: pc.getConfiguration().iceTransportPolicy});
            }
            return out;
        }"""
    ))


async def test_a_page_forced_to_relay_over_tcp_sees_hears_and_is_seen_through_coturn(
    turn: TurnServer, node_factory: Callable[..., object], new_page: NewPage, clip: Clip,
    clients: Clients,
) -> None:
    node: RunningNode = await node_factory(  # type: ignore[misc]
        turn_urls=[turn.tcp_url], turn_secret=SECRET, ice_transport_policy="relay")
    tutor = clients.add(await python_client(node, "tutor", Role.TUTOR, clip=clip))
    page = await new_page()
    await join(page, join_url(node, "p-maya", Role.LEARNER, name="Maya"))

    # the learner sees and hears the tutor
    await expect(tile(page, "tutor")).to_have_attribute("data-camera", "on", timeout=20_000)
    frames = await video_frames(page, '.tile[data-identity="tutor"] video', 2.0)
    audio = await inbound_audio(page, "tutor")
    # the tutor decodes the learner's camera
    downlink = await tutor.wait_for(downlink_with_tracks("p-maya"), timeout=20)
    decoded = 0
    for _ in range(40):
        frame = await asyncio.wait_for(downlink.tracks[Kind.VIDEO].recv(), 10)
        assert isinstance(frame, av.VideoFrame)
        decoded += 1
    pairs = await selected_pairs(page)
    print(f"relayed page: {frames} tutor frames in 2 s, audio {audio}; the tutor decoded "
          f"{decoded} of the page's frames; selected pairs {pairs}")
    assert frames >= 20
    assert audio["level"] > 0.05 and audio["energy"] > 0
    assert len(pairs) == 2, "the page's uplink and its downlink from the tutor"
    for pair in pairs:
        assert pair["policy"] == "relay"
        assert (pair["type"], pair["relayProtocol"]) == ("relay", "tcp")
        assert pair["bytesSent"] > 0 and pair["bytesReceived"] > 0
    log = turn.log_text()
    assert "p-maya" in log, "coturn saw the page's allocations under its pseudonym"
