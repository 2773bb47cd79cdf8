"""Audio-only fallback: a learner whose link cannot carry the tutor's video keeps the audio.

The tutor publishes the probe (aiortc's Vp8Encoder cannot go below 250 kbit/s); the
learner's inbound link is 150 kbit/s with a 32-packet queue (the gate's P5). Congestion
control lowers the tutor to the encoder's floor, which is still too much; the node then
pauses the learner's video, the audio gets through, and the video is tried again (the
retry is shortened to 4 s here so the test sees it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import pytest

import media.fallback
from media.fallback import FallbackPolicy
from media.ids import Kind, Role
from media.rtp import unwrap
from qos.impairment import Impairment, LinkProfile
from qos.probe_tracks import probe_tracks
from signalling import protocol as p
from signalling.client import PacketRecord
from tests.conftest import Clients, RunningNode
from tests.integration.test_congestion import drain

LINK = LinkProfile(rate_kbps=150, queue_packets=32)
RETRY_S = 4.0


async def metric(node: RunningNode, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{node.url}/metrics") as r:
        text = await r.text()
    values = [float(line.split()[-1]) for line in text.splitlines()
              if line.startswith(name + " ") or line.startswith(name + "{")]
    assert values, f"{name} not exported"
    return sum(values)


def audio_loss(records: list[PacketRecord], start: float, end: float) -> float:
    """Sequence numbers missing among the audio packets that arrived in [start, end)."""
    seqs: set[int] = set()
    highest: int | None = None
    for record in sorted(records, key=lambda r: r.at):
        if not start <= record.at < end:
            continue
        seq = record.sequence_number if highest is None else unwrap(
            record.sequence_number, highest, 16)
        highest = seq if highest is None else max(highest, seq)
        seqs.add(seq)
    assert len(seqs) > 20, "hardly any audio arrived"
    return 1 - len(seqs) / (max(seqs) - min(seqs) + 1)


@pytest.mark.timeout(90)
async def test_a_learner_on_150_kbps_keeps_the_audio_and_gets_the_video_tried_again(
    node: RunningNode, monkeypatch: pytest.MonkeyPatch, clients: Clients
) -> None:
    monkeypatch.setattr(media.fallback, "DEFAULT_POLICY", FallbackPolicy(retry_after=RETRY_S))
    room = "fallback"
    tutor = clients.new(node, room, "tutor", Role.TUTOR)
    link = Impairment(inbound=LINK, seed=5)
    learner = clients.new(node, room, "learner", Role.LEARNER,
                          impairment=link, record_packets=True)
    reader: asyncio.Task[None] | None = None
    try:
        await tutor.join()
        await learner.join()
        assert await metric(node, "liveroom_video_fallbacks_total") == 0
        await tutor.publish(list(probe_tracks()))
        reader = asyncio.ensure_future(drain(learner))
        deadline = time.monotonic() + 20.0
        while await metric(node, "liveroom_video_fallbacks_total") < 1:
            assert time.monotonic() < deadline, "the node never paused the learner's video"
            await asyncio.sleep(0.25)
        paused_at = time.monotonic()
        assert await metric(node, "liveroom_subscriptions_video_paused") == 1
        downlink = learner.downlink_from("tutor")
        assert downlink is not None
        await asyncio.sleep(RETRY_S - 0.5)
        window = (paused_at + 1.5, paused_at + RETRY_S - 0.5)  # the queue has drained
        video = [r for r in downlink.packets[Kind.VIDEO] if window[0] <= r.at < window[1]]
        loss = audio_loss(downlink.packets[Kind.AUDIO], *window)
        print(f"paused {paused_at:.1f}: video packets in the window {len(video)}, "
              f"audio loss {loss:.1%}")
        assert video == [], "video still flows to the paused learner"
        assert loss < 0.05
        # the retry: video comes back, starting on a keyframe
        await asyncio.sleep(2.0)
        resumed = [r for r in downlink.packets[Kind.VIDEO] if r.at >= window[1]]
        assert resumed, "the video was not tried again"
        assert resumed[0].keyframe_start
        # the learner was told both times (its page shows "video paused")
        told = [(e.publisher, e.paused) for e in learner.events_of(p.VideoPaused)]
        assert told[:2] == [("tutor", True), ("tutor", False)]
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
