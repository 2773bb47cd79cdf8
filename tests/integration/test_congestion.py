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
from qos.impairment import Impairment, LinkProfile
from qos.probe_tracks import probe_tracks
from signalling.client import Client
from tests.conftest import Clients, RunningNode

LINK = LinkProfile(rate_kbps=500, queue_packets=32)
RAMP_TO = 700_000
"""Without the cap, the window starts once the tutor's target passes this (the node's own
estimate ramps ~8 %/s from 500 kbps: about 5 s on a quiet machine, longer on a loaded one,
where the loopback uplink itself sees queueing delay and the estimate may dip first)."""
MIN_RUN_S = 7.0
MAX_RUN_S = 40.0
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


async def run(node: RunningNode, room: str, ramp_to: int | None, before_s: float
              ) -> tuple[Outcome, float]:
    """Publish, wait `before_s` (and, if `ramp_to`, until the tutor's target reaches it),
    then read the window. Returns the outcome and how long the wait before it was."""
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
        start = time.monotonic()
        deadline = start + MAX_RUN_S
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            target = encoder_target(sender)
            ramped = ramp_to is None or (target is not None and target >= ramp_to)
            if ramped and time.monotonic() - start >= before_s:
                break
        waited = time.monotonic() - start
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
        return Outcome(targets, dropped / (dropped + passed), dropped + passed), waited
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
    without, waited = await run(node, "cc-off", RAMP_TO, MIN_RUN_S)
    monkeypatch.setattr(media.bandwidth, "DEFAULT_POLICY", CapPolicy())
    # the capped run gets at least as long to ramp as the uncapped one needed
    capped, _ = await run(node, "cc-on", None, waited)
    report = (
        f"window after {waited:.1f} s; "
        f"without cap: target {min(without.targets)}..{max(without.targets)} bps, "
        f"loss {without.loss:.1%} of {without.datagrams}; "
        f"with cap: target {min(capped.targets)}..{max(capped.targets)} bps, "
        f"loss {capped.loss:.1%} of {capped.datagrams}"
    )
    print(report)
    # unconstrained, the tutor follows the clean uplink past what the learner can take...
    assert max(without.targets) >= RAMP_TO, report
    assert without.loss > 0.30, report
    # ...with the learner's REMB passed on, it stays below the learner's 500 kbps link
    assert max(capped.targets) < 500_000, report
    assert max(capped.targets) <= 0.6 * max(without.targets), report
    assert capped.loss < 0.05, report
    assert capped.loss < without.loss / 5, report


async def test_a_learner_bot_on_a_slow_uplink_sends_a_lower_rendition(
    node: RunningNode, clients: Clients,
) -> None:
    """The REMB the node sends a publisher reaches a bot's pre-encoded clip ladder (the
    gate's learners), which steps down until its 150 kbps uplink stops dropping."""
    from signalling.client.clip import ClipTrack, encode_clip

    ladder = [encode_clip(2.0, 30, 320, 240, 300_000), encode_clip(2.0, 30, 160, 120, 60_000),
              encode_clip(2.0, 30, 160, 120, 30_000, hold=2)]
    link = Impairment(outbound=LinkProfile(rate_kbps=150, queue_packets=32), seed=6)
    learner = clients.new(node, "ladder", "learner", Role.LEARNER, impairment=link)
    video = ClipTrack(ladder, "video")
    await learner.join()
    await learner.publish([ClipTrack(ladder[0], "audio"), video])
    deadline = time.monotonic() + 45.0
    calm: list[tuple[int, int]] = []  # (rendition, datagrams dropped) of quiet 3 s spans
    while time.monotonic() < deadline and not calm:
        dropped = link.dropped_out
        await asyncio.sleep(3.0)
        if link.dropped_out - dropped < 5:
            calm.append((video.rendition, link.dropped_out - dropped))
    assert calm, f"the uplink was still dropping after 45 s (rendition {video.rendition})"
    assert calm[0][0] > 0, "300 kbps cannot fit a 150 kbps link"
    assert link.dropped_out > 0  # it did start above the link's rate
