"""A node and three Python clients (a tutor, two learners) exchanging audio and video."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import av
import numpy.typing as npt
import pytest

from media.ids import Kind, Role, RoomId
from signalling import protocol as p
from signalling.client import Client, RemoteDownlink
from signalling.client.clip import Clip, ClipTrack, read_frame_number
from signalling.keys import NODE
from tests.conftest import Clients, RunningNode

ROOM = "lesson-1"


async def joined_client(node: RunningNode, identity: str, role: Role, **kw: object) -> Client:
    client = Client(node.url, ROOM, node.token(ROOM, identity, role), **kw)  # type: ignore[arg-type]
    await client.join()
    return client


async def publish_clip(client: Client, clip: Clip) -> None:
    await client.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])


async def frame_numbers(downlink: RemoteDownlink, count: int, timeout: float = 10.0) -> list[int]:
    """Decode `count` frames from a downlink's video track and read their stamps."""
    numbers: list[int] = []
    track = downlink.tracks[Kind.VIDEO]
    async with asyncio.timeout(timeout):
        while len(numbers) < count:
            frame = await track.recv()
            assert isinstance(frame, av.VideoFrame)
            number = read_frame_number(frame)
            assert number is not None, "a forwarded frame lost its stamp"
            numbers.append(number)
    return numbers


async def audio_frames(downlink: RemoteDownlink, count: int, timeout: float = 10.0) -> int:
    track = downlink.tracks[Kind.AUDIO]
    loud = 0
    async with asyncio.timeout(timeout):
        for _ in range(count):
            frame = await track.recv()
            assert isinstance(frame, av.AudioFrame)
            samples: npt.NDArray[Any] = frame.to_ndarray()
            if abs(samples).max() > 1000:
                loud += 1
    return loud


def advancing(numbers: list[int], clip: Clip) -> bool:
    """Stamps go up by 1-3 frames, or jump back to a keyframe (the bot answers a PLI so)."""
    return all(
        1 <= (b - a) % clip.frame_count <= 3 or b in clip.keyframes
        for a, b in itertools.pairwise(numbers)
    )


def has_tracks(publisher: str) -> Callable[[Client], RemoteDownlink | None]:
    def check(client: Client) -> RemoteDownlink | None:
        downlink = client.downlink_from(publisher)
        if downlink is not None and len(downlink.tracks) == 2:
            return downlink
        return None

    return check


async def test_tutor_and_two_learners_see_and_hear_each_other(
    node: RunningNode, clip: Clip, clients: Clients
) -> None:
    room = [
        await clients.join(node, ROOM, "tutor", Role.TUTOR, record_packets=True),
        await clients.join(node, ROOM, "learner-a", Role.LEARNER, record_packets=True),
        await clients.join(node, ROOM, "learner-b", Role.LEARNER, record_packets=True),
    ]
    for client in room:
        await publish_clip(client, clip)
    for receiver in room:
        for sender in room:
            if sender is receiver:
                continue
            downlink = await receiver.wait_for(has_tracks(sender.identity))
            numbers = await frame_numbers(downlink, 20)
            # frames decode, carry the clip's stamps, and advance
            assert all(0 <= n < clip.frame_count for n in numbers)
            assert advancing(numbers, clip), numbers
            assert await audio_frames(downlink, 25) >= 20
            # the first video packet the subscriber received starts a keyframe
            video_packets = [r for r in downlink.packets[Kind.VIDEO] if r.size > 0]
            assert video_packets[0].keyframe_start
    assert len(node.app[NODE].hubs[RoomId(ROOM)].room) == 3


async def test_late_learner_sees_video_within_a_second(
    node: RunningNode, clip: Clip, clients: Clients
) -> None:
    tutor = await clients.join(node, ROOM, "tutor", Role.TUTOR)
    learner_a = await clients.join(node, ROOM, "learner-a", Role.LEARNER)
    await publish_clip(tutor, clip)
    downlink = await learner_a.wait_for(has_tracks("tutor"))
    await frame_numbers(downlink, 30)  # the room is up and running
    late = clients.new(node, ROOM, "learner-late", Role.LEARNER)
    started = time.monotonic()
    await late.join()
    late_downlink = await late.wait_for(has_tracks("tutor"))
    await frame_numbers(late_downlink, 1)
    elapsed = time.monotonic() - started
    await late.close()
    assert elapsed < 1.0, f"late joiner waited {elapsed:.2f} s for video"


async def test_mute_stops_forwarding_and_unmute_resumes_with_a_keyframe(
    node: RunningNode, clip: Clip, clients: Clients
) -> None:
    tutor = await clients.join(node, ROOM, "tutor", Role.TUTOR)
    learner = await clients.join(node, ROOM, "learner-a", Role.LEARNER, record_packets=True)
    await publish_clip(tutor, clip)
    downlink = await learner.wait_for(has_tracks("tutor"))
    await frame_numbers(downlink, 10)
    await tutor.mute(Kind.VIDEO, True)
    await learner.wait_for(lambda c: any(e.muted for e in c.events_of(p.TrackMuted)))
    await asyncio.sleep(0.3)  # packets in flight when the mute landed
    video = downlink.packets[Kind.VIDEO]
    before = len(video)
    await asyncio.sleep(1.0)
    assert len(video) == before, "video kept flowing while muted"
    await tutor.mute(Kind.VIDEO, False)
    await learner.wait_for(lambda c: len(video) > before, timeout=5)
    resumed = [r for r in video[before:] if r.size > 0]
    assert resumed[0].keyframe_start, "forwarding resumed on a delta frame"
    # sequence numbers continue without a hole across the pause
    last_before = video[before - 1].sequence_number
    assert resumed[0].sequence_number == (last_before + 1) & 0xFFFF
    await learner.wait_for(lambda c: any(not e.muted for e in c.events_of(p.TrackMuted)))
    await frame_numbers(downlink, 5)


@pytest.mark.parametrize("side", ["publisher", "subscriber"])
async def test_two_percent_loss_keeps_99_percent_of_frames(
    node: RunningNode, clip: Clip, side: str, clients: Clients
) -> None:
    from qos.impairment import Impairment

    impairment = Impairment(loss_in=0.02, loss_out=0.02, seed=7)
    tutor = await clients.join(
        node, ROOM, "tutor", Role.TUTOR,
        **({"impairment": impairment} if side == "publisher" else {}))
    learner = await clients.join(
        node, ROOM, "learner-a", Role.LEARNER,
        **({"impairment": impairment} if side == "subscriber" else {}))
    await publish_clip(tutor, clip)
    downlink = await learner.wait_for(has_tracks("tutor"))
    await frame_numbers(downlink, 5)
    numbers = await frame_numbers(downlink, 150, timeout=20)  # 5 s at 30 fps
    pairs = list(itertools.pairwise(numbers))
    restarts = sum(1 for _, b in pairs if b in clip.keyframes)
    missing = sum((b - a) % clip.frame_count - 1 for a, b in pairs if b not in clip.keyframes)
    print(f"loss on {side}: dropped {impairment.dropped_in}+{impairment.dropped_out}, "
          f"frames missing {missing}, keyframe restarts {restarts}")
    assert restarts <= 2, "loss was papered over with keyframes instead of retransmissions"
    counters = node.app[NODE].counters
    print(f"nacks received {counters.nacks_received}, retransmitted "
          f"{counters.retransmissions}, upstream {counters.nacks_sent_upstream}")
    if side == "subscriber":
        assert counters.retransmissions > 0  # answered from the node's history
    else:
        assert counters.nacks_sent_upstream > 0  # gaps the node never had go upstream
    assert impairment.dropped_in + impairment.dropped_out > 20
    assert missing / (len(numbers) + missing) <= 0.01, (missing, numbers)


async def test_a_muted_track_stays_muted_across_a_re_publish(
    node: RunningNode, clip: Clip, clients: Clients
) -> None:
    tutor = await clients.join(node, ROOM, "tutor", Role.TUTOR)
    learner = await clients.join(node, ROOM, "learner-a", Role.LEARNER, record_packets=True)
    await publish_clip(tutor, clip)
    downlink = await learner.wait_for(has_tracks("tutor"))
    await frame_numbers(downlink, 5)
    await tutor.mute(Kind.VIDEO, True)
    reply = await tutor.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
    assert {x.kind: x.muted for x in reply.publications} == {Kind.AUDIO: False,
                                                             Kind.VIDEO: True}
    await asyncio.sleep(0.5)
    video = downlink.packets[Kind.VIDEO]
    before = len(video)
    await asyncio.sleep(1.0)
    assert len(video) == before, "a re-publish unmuted the video behind the room's back"
    assert learner.downlink_from("tutor") is downlink  # no renegotiation for the learner
    assert not learner.events_of(p.TrackUnpublished)
    await tutor.mute(Kind.VIDEO, False)
    await learner.wait_for(lambda c: len(video) > before, timeout=5)
