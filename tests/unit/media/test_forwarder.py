"""Forwarding decisions, with no event loop and no network."""

from __future__ import annotations

from media.forwarder import Forwarder, Verdict
from media.keyframes import KeyframeThrottle
from media.rtp import seq_diff, vp8_starts_keyframe

KEY = True
DELTA = False


def video(initial_seq: int = 100, initial_ts: int = 5000) -> Forwarder:
    return Forwarder(clock_rate=90000, gate_on_keyframe=True,
                     initial_sequence_number=initial_seq, initial_timestamp=initial_ts)


def audio(initial_seq: int = 100, initial_ts: int = 5000) -> Forwarder:
    return Forwarder(clock_rate=48000, gate_on_keyframe=False,
                     initial_sequence_number=initial_seq, initial_timestamp=initial_ts)


def test_video_waits_for_a_keyframe_then_maps_with_a_constant_offset() -> None:
    f = video()
    assert f.waiting_for_keyframe
    assert f.translate(1, 7, 900, DELTA, 0.0).verdict is Verdict.DROP_WAITING_KEYFRAME
    t = f.translate(1, 8, 3900, KEY, 0.03)
    assert (t.verdict, t.sequence_number, t.timestamp) == (Verdict.FORWARD, 100, 5000)
    t = f.translate(1, 9, 3900, DELTA, 0.03)
    assert (t.sequence_number, t.timestamp) == (101, 5000)
    assert not f.waiting_for_keyframe


def test_gaps_survive_so_the_subscriber_can_nack() -> None:
    f = audio()
    f.translate(1, 10, 0, DELTA, 0.0)
    t = f.translate(1, 13, 2880, DELTA, 0.06)  # 11 and 12 lost upstream
    assert t.sequence_number == 103
    late = f.translate(1, 11, 960, DELTA, 0.07)  # a retransmission arrives
    assert (late.verdict, late.sequence_number) == (Verdict.FORWARD, 101)
    assert f.last_sequence_number == 103  # a late packet does not move the head back
    assert f.source_sequence_number(102) == 12  # a subscriber's NACK maps upstream
    assert f.source_sequence_number(104) is None  # never sent
    assert f.source_sequence_number(99) is None  # before this epoch


def test_rewrite_across_sequence_and_timestamp_wraparound() -> None:
    f = audio(initial_seq=65534, initial_ts=0xFFFFFC40)
    out = [f.translate(9, s, ts, DELTA, 0.0) for s, ts in ((500, 0), (501, 960), (502, 1920))]
    assert [t.sequence_number for t in out] == [65534, 65535, 0]
    assert [t.timestamp for t in out] == [0xFFFFFC40, 0, 960]
    # and the source's own wraparound
    g = audio(initial_seq=10)
    seqs = [g.translate(9, s, 0, DELTA, 0.0).sequence_number for s in (65535, 0, 1)]
    assert seqs == [10, 11, 12]
    assert g.source_sequence_number(11) == 0


def test_packets_older_than_the_starting_keyframe_are_dropped() -> None:
    f = video()
    f.translate(1, 200, 0, KEY, 0.0)
    assert f.translate(1, 199, 0, DELTA, 0.0).verdict is Verdict.DROP_OLD


def test_pause_drops_and_resume_continues_sequence_on_a_keyframe() -> None:
    f = video()
    f.translate(1, 1, 0, KEY, 0.0)
    f.translate(1, 2, 3000, DELTA, 0.033)
    f.pause()
    assert f.translate(1, 3, 6000, KEY, 0.066).verdict is Verdict.DROP_PAUSED
    f.resume()
    assert f.translate(1, 50, 90000, DELTA, 1.0).verdict is Verdict.DROP_WAITING_KEYFRAME
    t = f.translate(1, 51, 93000, KEY, 1.03)
    assert t.sequence_number == 102  # 101 was the last sent: no hole, no NACK storm
    assert t.timestamp == 5000 + 93000  # same source: its clock still holds


def test_a_new_source_continues_the_same_outgoing_stream() -> None:
    f = video()
    f.translate(1, 1000, 7_000_000, KEY, 10.0)
    f.translate(1, 1001, 7_003_000, DELTA, 10.033)
    # the publisher reconnected: new SSRC, unrelated numbering
    assert f.translate(2, 5, 123, DELTA, 12.0).verdict is Verdict.DROP_WAITING_KEYFRAME
    t = f.translate(2, 6, 456, KEY, 12.033)
    assert t.sequence_number == 102
    elapsed = round((12.033 - 10.033) * 90000)
    assert t.timestamp == 5000 + 3000 + elapsed
    assert f.translate(2, 7, 3456, DELTA, 12.066).timestamp == t.timestamp + 3000


def test_keyframe_requests_are_throttled() -> None:
    throttle = KeyframeThrottle(0.5)
    assert throttle.allow(10.0)
    assert not throttle.allow(10.2)
    assert not throttle.allow(10.49)
    assert throttle.allow(10.5)


def test_vp8_keyframe_detection_reads_the_payload_descriptor() -> None:
    assert vp8_starts_keyframe(bytes([0x10, 0x00]))  # S=1, PID=0, P=0
    assert not vp8_starts_keyframe(bytes([0x10, 0x01]))  # P=1: interframe
    assert not vp8_starts_keyframe(bytes([0x00, 0x00]))  # not a partition start
    assert not vp8_starts_keyframe(bytes([0x11, 0x00]))  # partition 1
    # X=1, I=1 with a 15-bit picture id, L=1, T=1
    assert vp8_starts_keyframe(bytes([0x90, 0xE0, 0x81, 0x23, 0x05, 0x40, 0x00]))
    assert not vp8_starts_keyframe(bytes([0x90, 0xE0, 0x81, 0x23, 0x05, 0x40, 0x01]))
    assert not vp8_starts_keyframe(bytes([0x90, 0x80]))  # truncated
    assert not vp8_starts_keyframe(b"")


def test_serial_number_distance() -> None:
    assert seq_diff(1, 65535) == 2
    assert seq_diff(65535, 1) == -2
    assert seq_diff(100, 100) == 0
