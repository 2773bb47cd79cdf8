"""A bot's pre-encoded video following a bitrate target, as a browser's encoder adapts."""

from __future__ import annotations

import asyncio

import pytest

from signalling.client.clip import ClipTrack, RenditionChoice, encode_clip, is_vp8_keyframe

RATES = [300_000.0, 150_000.0, 60_000.0]


def test_down_at_once_to_the_highest_rendition_that_fits() -> None:
    choice = RenditionChoice(RATES)
    assert choice.update(1_000_000, 0.0) == 0
    assert choice.update(200_000, 0.1) == 1
    assert choice.update(100_000, 0.2) == 2
    assert choice.update(10_000, 0.3) == 2  # nothing fits: the lowest


def test_up_one_step_after_the_target_allowed_it_for_three_seconds() -> None:
    choice = RenditionChoice(RATES)
    assert choice.update(50_000, 0.0) == 2
    assert choice.update(170_000, 1.0) == 2  # fits 150k, but not with 20 % headroom
    assert choice.update(180_000, 2.0) == 2  # from here on it does
    assert choice.update(180_000, 4.9) == 2
    assert choice.update(180_000, 5.0) == 1
    assert choice.update(1_000_000, 5.5) == 1  # one step at a time
    assert choice.update(1_000_000, 8.4) == 1
    assert choice.update(1_000_000, 8.5) == 0


def test_a_dip_restarts_the_wait_before_going_up() -> None:
    choice = RenditionChoice(RATES)
    choice.update(50_000, 0.0)
    choice.update(180_000, 1.0)
    choice.update(100_000, 2.0)  # still fits 60k only, but not 1.2 x 150k
    assert choice.update(180_000, 3.0) == 2
    assert choice.update(180_000, 5.9) == 2
    assert choice.update(180_000, 6.0) == 1


def test_rates_must_be_highest_first() -> None:
    with pytest.raises(ValueError):
        RenditionChoice([60_000, 300_000])
    with pytest.raises(ValueError):
        RenditionChoice([])


async def test_the_track_switches_rendition_on_its_keyframe() -> None:
    high = encode_clip(1.0, 30, 320, 240, 300_000)
    low = encode_clip(1.0, 30, 160, 120, 60_000)
    assert high.video_bps > 2 * low.video_bps
    track = ClipTrack([low, high], "video")  # any order: sorted by bitrate
    try:
        first = await track.recv()
        assert track.rendition == 0 and bytes(first) == bytes(high.video[0])
        for _ in range(4):
            assert bytes(await track.recv()) in {bytes(p) for p in high.video}
        track.set_target_bitrate(80_000)
        switched = await asyncio.wait_for(track.recv(), 1.0)
        assert track.rendition == 1 and track.switches == 1
        assert is_vp8_keyframe(bytes(switched)) and bytes(switched) == bytes(low.video[0])
        following = await track.recv()
        assert bytes(following) == bytes(low.video[1])
    finally:
        track.stop()


async def test_a_single_clip_ignores_the_target() -> None:
    clip = encode_clip(1.0, 30, 320, 240, 300_000)
    track = ClipTrack(clip, "video")
    try:
        await track.recv()
        track.set_target_bitrate(10_000)
        assert bytes(await track.recv()) == bytes(clip.video[1])
        assert track.switches == 0
    finally:
        track.stop()
