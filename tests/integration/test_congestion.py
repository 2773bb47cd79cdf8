"""Congestion control: a slow learner's REMB reaches the tutor's encoder through the node.

The tutor publishes the probe (raw frames that aiortc's Vp8Encoder encodes, following the
REMB it receives; its target is clamped to 250 kbps..1.5 Mbps). The learner's inbound link
is a 500 kbps token bucket with a 32-packet queue (the gate's P4). The same scenario runs
twice on one node: with the node's congestion control switched off (the publisher follows
the node's estimate of the clean publisher->node path only) and on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import pytest
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamTrack

import media.bandwidth
from media.bandwidth import CapPolicy
from media.ids import Kind, Role
from qos.probe_tracks import probe_tracks
from signalling.client import Client
from signalling.impairment import Impairment, LinkProfile
from tests.conftest import RunningNode

LINK = LinkProfile(rate_kbps=500, queue_packets=32)
RUN_S = 11.0  # the node's own estimate ramps ~8 %/s: well above 500 kbps by then
WINDOW_S = 4.0  # loss and targets are read over the last seconds of the run


@dataclass
class Outcome:
    targets: list[int]  # the tutor's encoder target (bps), sampled in the window
    loss: float  # the learner's inbound datagram loss in the window
    datagrams: int  # datagrams that reached the learner's link in the window


def encoder_target(sender: RTCRtpSender) -> int | None:
    encoder = getattr(sender, "_RTCRtpSender__encoder", None)
    return getattr(encoder, "target_bitrate", None)


async def drain(learner: Client) -> None:
    """Read the learner's decoded frames so that aiortc's frame queues stay short."""
    while (downlink := learner.downlink_from("tutor")) is None or len(downlink.tracks) < 2:
        await asyncio.sleep(0.05)

    async def read(track: MediaStreamTrack) -> None:
        while True:
            await track.recv()

    await asyncio.gather(*(read(track) for track in downlink.tracks.values()))


async def run(node: RunningNode, room: str) -> Outcome:
    tutor = Client(node.url, room, node.token(room, "tutor", Role.TUTOR))
    link = Impairment(inbound=LINK, seed=4)
    learner = Client(node.url, room, node.token(room, "learner", Role.LEARNER), impairment=link)
    reader: asyncio.Task[None] | None = None
    try:
        await tutor.join()
        await learner.join()
        await tutor.publish(list(probe_tracks()))
        assert tutor.uplink is not None
        sender = next(s for s in tutor.uplink.getSenders() if s.kind == Kind.VIDEO)
        reader = asyncio.ensure_future(drain(learner))
        await asyncio.sleep(RUN_S - WINDOW_S)
        dropped, passed = link.dropped_in, link.passed_in
        targets: list[int] = []
        end = time.monotonic() + WINDOW_S
        while time.monotonic() < end:
            await asyncio.sleep(0.25)
            target = encoder_target(sender)
            assert target is not None, "the tutor's encoder never started"
            targets.append(target)
        dropped, passed = link.dropped_in - dropped, link.passed_in - passed
        assert passed > 200, "hardly any media reached the learner"
        return Outcome(targets, dropped / (dropped + passed), dropped + passed)
    finally:
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        await tutor.close()
        await learner.close()


async def test_a_learner_on_a_500_kbps_link_slows_the_tutor_encoder_and_stops_losing(
    node: RunningNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media.bandwidth, "DEFAULT_POLICY", CapPolicy(enabled=False))
    without = await run(node, "cc-off")
    monkeypatch.setattr(media.bandwidth, "DEFAULT_POLICY", CapPolicy())
    capped = await run(node, "cc-on")
    report = (
        f"without cap: target {min(without.targets)}..{max(without.targets)} bps, "
        f"loss {without.loss:.1%} of {without.datagrams}; "
        f"with cap: target {min(capped.targets)}..{max(capped.targets)} bps, "
        f"loss {capped.loss:.1%} of {capped.datagrams}"
    )
    print(report)
    # unconstrained, the tutor follows the clean uplink past what the learner can take...
    assert max(without.targets) >= 650_000, report
    assert without.loss > 0.30, report
    # ...with the learner's REMB passed on, it stays below the learner's 500 kbps link
    assert max(capped.targets) < 500_000, report
    assert max(capped.targets) <= 0.6 * max(without.targets), report
    assert capped.loss < 0.05, report
    assert capped.loss < without.loss / 5, report
