"""Tests for signalling.client.clip: pre-encoded bot media and its paced replay track."""

from __future__ import annotations

import asyncio
import itertools
from fractions import Fraction
from typing import Any

import aioice.ice
import av
import numpy as np
import pytest
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
)
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from signalling.client.clip import (
    Clip,
    ClipTrack,
    encode_clip,
    is_vp8_keyframe,
    read_frame_number,
)

TIMEOUT = 10.0


def small_clip() -> Clip:
    return encode_clip(1.0, 30, 320, 240)


def tiny_clip() -> Clip:
    """Six frames, so a replay loops quickly."""
    return encode_clip(0.2, 30, 320, 240)


def decode_video(clip: Clip) -> list[av.VideoFrame]:
    ctx = av.CodecContext.create("vp8", "r")
    frames: list[av.VideoFrame] = []
    for packet in clip.video:
        decoded = ctx.decode(av.Packet(bytes(packet)))
        assert len(decoded) == 1
        frames.extend(decoded)
    return frames


async def take(track: ClipTrack, count: int) -> list[Any]:
    async def run() -> list[Any]:
        return [await track.recv() for _ in range(count)]

    return await asyncio.wait_for(run(), TIMEOUT + count * 0.05)


def test_only_first_frame_is_keyframe() -> None:
    clip = small_clip()
    assert clip.frame_count == len(clip.video) == 30
    assert clip.keyframes == (0,)
    flags = [is_vp8_keyframe(bytes(p)) for p in clip.video]
    assert flags == [True] + [False] * 29
    assert clip.video[0].is_keyframe
    assert not any(p.is_keyframe for p in clip.video[1:])


def test_encode_clip_is_cached() -> None:
    assert small_clip() is small_clip()


def test_default_clip_bitrate() -> None:
    clip = encode_clip()
    assert (clip.width, clip.height, clip.fps, clip.frame_count) == (640, 480, 30, 120)
    bits = 8 * sum(p.size for p in clip.video)
    assert 0.5e6 <= bits / clip.duration <= 1.5e6
    assert clip.keyframes == (0,)


@pytest.mark.parametrize("size", [(320, 240), (640, 480)])
def test_frame_numbers_survive_vp8(size: tuple[int, int]) -> None:
    clip = encode_clip(1.0 if size[0] == 320 else 4.0, 30, *size)
    numbers = [read_frame_number(f) for f in decode_video(clip)]
    assert numbers == list(range(clip.frame_count))


def test_read_frame_number_rejects_unstamped_frames() -> None:
    gray = np.full((240, 320), 128, dtype=np.uint8)
    assert read_frame_number(av.VideoFrame.from_ndarray(gray, format="gray")) is None
    noise = np.random.default_rng(1).integers(0, 256, (360, 320), dtype=np.uint8)
    assert read_frame_number(av.VideoFrame.from_ndarray(noise, format="yuv420p")) is None


def test_audio_is_a_non_silent_opus_tone() -> None:
    clip = small_clip()
    assert len(clip.audio) >= 50
    ctx = av.CodecContext.create("opus", "r")
    chunks = []
    for packet in clip.audio:
        for frame in ctx.decode(av.Packet(bytes(packet))):
            assert frame.sample_rate == 48000
            chunks.append(frame.to_ndarray().astype(np.float64).ravel())
    samples = np.concatenate(chunks)
    assert samples.size >= 48000
    rms = float(np.sqrt(np.mean(samples[4800:] ** 2)))
    scale = 32768.0 if np.abs(samples).max() > 2 else 1.0
    assert rms / scale > 0.05
    bits = 8 * sum(p.size for p in clip.audio)
    assert 20_000 <= bits / clip.duration <= 48_000


@pytest.mark.asyncio
async def test_video_track_pts_monotonic_across_loop() -> None:
    clip = tiny_clip()
    track = ClipTrack(clip, "video")
    packets = await take(track, 2 * clip.frame_count + 1)
    pts = [p.pts for p in packets]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert all(p % 3000 == 0 for p in pts)
    assert all(p.time_base == Fraction(1, 90000) for p in packets)
    payloads = [bytes(p) for p in packets]
    sources = [bytes(clip.video[i % clip.frame_count]) for i in range(len(packets))]
    assert payloads == sources
    assert track.frames_sent == len(packets)
    assert track.keyframes_sent == 3
    encoder = Vp8Encoder()
    for packet in packets:
        _, timestamp = encoder.pack(packet)
        assert timestamp == packet.pts
    track.stop()


@pytest.mark.asyncio
async def test_audio_track_uses_48k_clock() -> None:
    track = ClipTrack(tiny_clip(), "audio")
    packets = await take(track, 5)
    pts = [p.pts for p in packets]
    assert all(b > a and (b - a) % 960 == 0 for a, b in itertools.pairwise(pts))
    assert all(p.time_base == Fraction(1, 48000) for p in packets)
    encoder = OpusEncoder()
    assert [encoder.pack(p)[1] for p in packets] == pts
    track.request_keyframe()  # no-op for audio
    track.stop()


@pytest.mark.asyncio
async def test_request_keyframe_jumps_to_keyframe() -> None:
    clip = small_clip()
    track = ClipTrack(clip, "video")
    first = await take(track, 3)
    track.request_keyframe()
    (after,) = await take(track, 1)
    assert is_vp8_keyframe(bytes(after)) and after.is_keyframe
    assert bytes(after) == bytes(clip.video[0])
    assert after.pts > first[-1].pts
    (nxt,) = await take(track, 1)
    assert bytes(nxt) == bytes(clip.video[1])
    assert (track.frames_sent, track.keyframes_sent) == (5, 2)
    track.stop()


@pytest.mark.asyncio
async def test_two_tracks_are_independent() -> None:
    clip = small_clip()
    original_pts = [p.pts for p in clip.video]
    one, two = ClipTrack(clip, "video"), ClipTrack(clip, "video")
    a = await take(one, 4)
    one.request_keyframe()
    b = await take(two, 2)
    assert [bytes(p) for p in b] == [bytes(clip.video[0]), bytes(clip.video[1])]
    (c,) = await take(one, 1)
    assert bytes(c) == bytes(clip.video[0])
    for packet in a + b:
        assert all(packet is not src for src in clip.video)
        packet.pts = 123456
    assert [p.pts for p in clip.video] == original_pts
    assert (one.frames_sent, two.frames_sent) == (5, 2)
    one.stop()
    two.stop()


@pytest.mark.asyncio
async def test_late_caller_skips_slots_instead_of_bursting() -> None:
    track = ClipTrack(small_clip(), "video")
    (first,) = await take(track, 1)
    await asyncio.sleep(0.5)  # 15 frame periods
    (late,) = await take(track, 1)
    assert late.pts - first.pts > 3 * 3000
    assert bytes(late) == bytes(small_clip().video[1])
    track.stop()


@pytest.mark.asyncio
async def test_stop_ends_track() -> None:
    track = ClipTrack(small_clip(), "video")
    await take(track, 1)
    pending = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(pending, TIMEOUT)
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ClipTrack(small_clip(), "data")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode_clip(1.0, 30, 100, 100)


@pytest.mark.asyncio
async def test_rtp_round_trip_keeps_frame_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda *a, **k: ["127.0.0.1"])
    clip = encode_clip(2.0, 30, 320, 240)
    sender_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    receiver_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    track = ClipTrack(clip, "video")
    transceiver = sender_pc.addTransceiver(track, direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video")
    transceiver.setCodecPreferences([c for c in caps.codecs if c.mimeType == "video/VP8"])
    remote: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    @receiver_pc.on("track")
    def on_track(t: MediaStreamTrack) -> None:
        if not remote.done():
            remote.set_result(t)

    numbers: list[int] = []

    async def collect(incoming: MediaStreamTrack) -> None:
        while len(numbers) < 20:
            frame = await incoming.recv()
            assert isinstance(frame, av.VideoFrame)
            number = read_frame_number(frame)
            if number is not None:
                numbers.append(number)

    try:
        await sender_pc.setLocalDescription(await sender_pc.createOffer())
        await receiver_pc.setRemoteDescription(sender_pc.localDescription)
        await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
        await sender_pc.setRemoteDescription(receiver_pc.localDescription)
        assert "VP8/90000" in receiver_pc.localDescription.sdp
        incoming = await asyncio.wait_for(remote, TIMEOUT)
        await asyncio.wait_for(collect(incoming), 3 * TIMEOUT)
    finally:
        await sender_pc.close()
        await receiver_pc.close()

    steps = [(b - a) % clip.frame_count for a, b in itertools.pairwise(numbers)]
    assert all(0 < s < clip.frame_count // 2 for s in steps), numbers
    assert track.frames_sent >= len(numbers)
