"""The browser-like receive pipeline's core (signalling/client/playout.py): NACK retries,
keyframe recovery, decodability, playout time and lip sync, audio gap skipping."""

from __future__ import annotations

import pytest

from media.rtp import unwrap
from signalling.client.playout import (
    GIVE_UP_S,
    MAX_NACK_RETRIES,
    PLI_INTERVAL_S,
    AudioAssembler,
    InPacket,
    Playout,
    SyncGroup,
    VideoAssembler,
)

FRAME_TS = 3000  # 30 fps at 90 kHz


def frame(seq: int, index: int, packets: int = 2, key: bool = False) -> list[InPacket]:
    """Packets of video frame `index`, starting at `seq`."""
    return [
        InPacket(seq + i, (index * FRAME_TS) & 0xFFFFFFFF, i == packets - 1,
                 bytes([index & 0xFF, i]), frame_start=i == 0, keyframe=key and i == 0)
        for i in range(packets)
    ]


def feed(assembler: VideoAssembler, packets: list[InPacket], now: float,
         skip: frozenset[int] = frozenset()) -> None:
    for packet in packets:
        if packet.seq not in skip:
            assembler.on_packet(packet, now)


def test_unwrap_picks_the_nearest_value() -> None:
    assert unwrap(2, 65534, 16) == 65538
    assert unwrap(65534, 65538, 16) == 65534
    assert unwrap(5, 10, 16) == 5
    assert unwrap(10, 1 << 32, 32) == (1 << 32) + 10


def test_frames_play_in_order_at_their_time() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0, key=True), 0.0)
    actions = video.poll(0.0)
    assert [f.keyframe for f in actions.frames] == [] or actions.frames[0].keyframe
    first = actions.frames or video.poll(0.02).frames
    assert len(first) == 1 and first[0].data == b"\x00\x00\x00\x01"
    assert first[0].due == pytest.approx(0.01)  # min delay, no jitter yet
    feed(video, frame(102, 1), 1 / 30)
    assert video.poll(1 / 30).frames == []  # due 10 ms later
    later = video.poll(1 / 30 + 0.011).frames
    assert [f.data for f in later] == [b"\x01\x00\x01\x01"]
    assert not later[0].keyframe and not video.need_keyframe


def test_a_delta_frame_before_any_keyframe_is_dropped_and_a_keyframe_asked_for() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0), 0.0)
    actions = video.poll(0.0)
    assert actions.pli and actions.frames == []
    assert video.poll(0.1).pli is False  # not again before PLI_INTERVAL_S
    assert video.poll(PLI_INTERVAL_S + 0.01).pli is True
    feed(video, frame(102, 1, key=True), 0.6)
    video.poll(0.6)
    assert [f.keyframe for f in video.poll(1.0).frames] == [True]
    assert video.frames_dropped == 1


def test_a_gap_is_nacked_at_once_then_each_round_trip_until_repaired() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0, key=True), 0.0)
    video.poll(0.0)
    feed(video, frame(102, 1, packets=3), 0.033, skip=frozenset({103}))
    assert video.poll(0.033).nack == [103]
    assert video.poll(0.05).nack == []  # not yet: the first interval is 1.2 x 100 ms
    assert video.poll(0.154).nack == [103]
    feed(video, frame(105, 2), 0.066)
    assert video.poll(0.16).frames == []  # frames 1 and 2 wait for 103
    video.on_packet(frame(102, 1, packets=3)[1], 0.2)  # the retransmission
    assert video.round_trip is None  # it answered the second NACK: not a clean sample
    video.poll(0.2)
    ready = [f.data[0] for f in video.poll(1.0).frames]
    assert ready == [1, 2]


def test_the_round_trip_is_measured_from_a_nack_to_its_retransmission() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0, key=True), 0.0)
    feed(video, frame(102, 1), 0.033, skip=frozenset({102}))
    assert video.poll(0.033).nack == [102]
    assert video.playout.round_trip == 0.0  # no round trip measured yet
    video.on_packet(frame(102, 1)[0], 0.083)
    assert video.round_trip == pytest.approx(0.05)
    video.poll(0.083)
    assert video.playout.round_trip == pytest.approx(0.05)  # NACKs in use: playout waits


def test_an_unrepaired_gap_is_given_up_and_delta_frames_wait_for_a_keyframe() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0, key=True), 0.0)
    video.poll(0.0)
    video.round_trip = 0.05  # 10 NACKs, 60 ms apart, fit in GIVE_UP_S
    feed(video, frame(102, 1), 0.033, skip=frozenset({102}))
    feed(video, frame(104, 2), 0.066)
    nacks = 0
    t = 0.033
    pli = False
    while t < 3.0:
        actions = video.poll(t)
        nacks += actions.nack.count(102)
        pli = pli or actions.pli
        assert all(f.data[0] == 0 for f in actions.frames)  # nothing after the hole plays
        t += 0.01
    assert nacks == MAX_NACK_RETRIES
    assert video.gaps_given_up == 1 and video.need_keyframe and pli
    feed(video, frame(106, 3), 3.0)  # still a delta frame: dropped
    feed(video, frame(108, 4, key=True), 3.0)
    played = [f.data[0] for f in video.poll(3.0).frames + video.poll(4.0).frames]
    assert played == [4]
    assert not video.need_keyframe


def test_a_gap_is_given_up_after_a_second_even_with_retries_left() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0, key=True), 0.0)
    video.poll(0.0)
    video.round_trip = 0.5  # slow repairs: fewer than MAX_NACK_RETRIES fit in GIVE_UP_S
    feed(video, frame(102, 1), 0.033, skip=frozenset({102}))
    video.poll(0.033)
    video.poll(0.033 + GIVE_UP_S - 0.01)
    assert video.gaps_given_up == 0
    video.poll(0.033 + GIVE_UP_S + 0.01)
    assert video.gaps_given_up == 1


def test_a_complete_keyframe_past_a_hole_plays_at_once() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0, key=True), 0.0)
    video.poll(0.0)
    feed(video, frame(102, 1), 0.033, skip=frozenset({102, 103}))
    video.poll(0.04)  # waiting for 102-103 (frame 1)
    video.need_keyframe = True  # e.g. the decoder failed
    feed(video, frame(104, 2, key=True, packets=3), 0.07)
    video.poll(0.07)
    assert [f.data[0] for f in video.poll(1.0).frames] == [2]


def test_a_frame_whose_start_was_lost_is_never_decoded() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0, key=True), 0.0)
    video.poll(0.0)
    feed(video, frame(102, 1, packets=3), 0.033, skip=frozenset({102}))
    feed(video, frame(105, 2), 0.066)
    t = 0.033
    played = []
    while t < 2.0:
        played += [f.data[0] for f in video.poll(t).frames]
        t += 0.01
    assert played == [0]
    assert video.need_keyframe


def test_playout_delay_follows_lateness_and_audio_waits_for_video() -> None:
    sync = SyncGroup()
    video = Playout(90_000, sync)
    audio = Playout(48_000, sync, min_delay=0.02)
    for i in range(100):  # every 10th frame arrives 40 ms late
        t = i / 30
        video.on_arrival(i * FRAME_TS, t)
        video.schedule(i * FRAME_TS, t + (0.04 if i % 10 == 0 else 0.0))
    assert video.own_delay == pytest.approx(0.05)  # 10 ms + p95 lateness of 40 ms
    audio.on_arrival(0, 0.0)
    due = audio.schedule(960 * 50, 1.0)  # 1 s of audio later, on time
    assert audio.own_delay == pytest.approx(0.02)
    assert due == pytest.approx(1.0 + 0.05)  # the group's delay: the video's
    video.round_trip = 0.1
    video.schedule(100 * FRAME_TS, 100 / 30)
    assert video.own_delay == pytest.approx(0.15)


def test_playout_delay_shrinks_slowly() -> None:
    video = Playout(90_000)
    video.on_arrival(0, 0.0)
    video.schedule(0, 0.3)
    assert video.own_delay == pytest.approx(0.31)
    for i in range(1, 51):  # on time from now on
        video.on_arrival(i * FRAME_TS, i / 30)
        video.schedule(i * FRAME_TS, i / 30)
    # the lone late frame stopped counting once 20 frames were in the window; since
    # then the delay has shrunk by 1 ms a frame
    assert video.own_delay == pytest.approx(0.31 - 0.001 * (50 - 19), abs=0.002)
    for i in range(51, 400):
        video.on_arrival(i * FRAME_TS, i / 30)
        video.schedule(i * FRAME_TS, i / 30)
    assert video.own_delay == pytest.approx(0.01)


def test_due_times_never_go_backwards() -> None:
    video = Playout(90_000)
    video.on_arrival(FRAME_TS, 0.1)
    first = video.schedule(FRAME_TS, 0.1)
    video.on_arrival(2 * FRAME_TS, 0.05)  # a smaller transit lowers the base
    assert video.schedule(2 * FRAME_TS, 0.05) >= first


def test_audio_plays_in_order_and_skips_a_hole_when_the_next_packet_is_due() -> None:
    audio = AudioAssembler(Playout(48_000, min_delay=0.02))

    def packet(seq: int) -> InPacket:
        return InPacket(seq, seq * 960, True, bytes([seq]))

    audio.on_packet(packet(1), 0.0)
    assert audio.poll(0.0).frames == []
    assert [f.data[0] for f in audio.poll(0.021).frames] == [1]
    audio.on_packet(packet(3), 0.04)  # 2 is missing
    assert audio.poll(0.045).frames == []
    assert audio.next_due == pytest.approx(0.06)
    assert [f.data[0] for f in audio.poll(0.061).frames] == [3]
    assert audio.skipped == 1
    audio.on_packet(packet(2), 0.07)  # too late: ignored
    assert audio.poll(1.0).frames == []


def test_a_keyframe_with_a_hole_that_is_never_repaired_does_not_block_the_next_one() -> None:
    video = VideoAssembler(Playout(90_000))
    video.round_trip = 0.05
    feed(video, frame(100, 0, packets=3, key=True), 0.0, skip=frozenset({101}))
    t = 0.0
    played: list[int] = []
    while t < 1.5:
        played += [f.data[0] for f in video.poll(t).frames]
        t = round(t + 0.01, 6)
    assert played == [] and video.gaps_given_up == 1
    feed(video, frame(103, 1), 1.5)  # a delta frame: still waiting for a keyframe
    feed(video, frame(105, 2, key=True), 1.5)
    assert [f.data[0] for f in video.poll(1.5).frames + video.poll(3.0).frames] == [2]


def test_a_hole_inside_a_delta_frame_is_given_up_too() -> None:
    video = VideoAssembler(Playout(90_000))
    feed(video, frame(100, 0, key=True), 0.0)
    video.poll(0.0)
    feed(video, frame(102, 1, packets=3), 0.033, skip=frozenset({103}))  # middle packet
    feed(video, frame(105, 2), 0.066)
    t = 0.033
    while t < 1.2:
        video.poll(t)
        t = round(t + 0.01, 6)
    assert video.gaps_given_up == 1 and video.need_keyframe
