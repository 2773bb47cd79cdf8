"""Freezes of a recorded video from its packets' RTP timestamps and arrival times."""

from __future__ import annotations

from recorder.freezes import FrameArrivals, Freeze

FRAME_TS = 3000  # 30 fps at 90 kHz


def frames(arrivals: FrameArrivals, first: int, count: int, start: float,
           step: float = 1 / 30) -> list[Freeze]:
    """`count` frames of two packets each from frame number `first`, `step` s apart."""
    out = []
    for i in range(count):
        for _ in range(2):  # the second packet of a frame is not a frame
            freeze = arrivals.on_packet((first + i) * FRAME_TS, start + i * step)
            if freeze is not None:
                out.append(freeze)
    return out


def test_a_600_ms_gap_in_a_30_fps_video_is_one_freeze_with_its_times() -> None:
    arrivals = FrameArrivals()
    assert frames(arrivals, 0, 30, 10.0) == []
    last = 10.0 + 29 / 30
    (freeze,) = frames(arrivals, 48, 30, last + 0.6)
    assert abs(freeze.start - last) < 1e-6 and abs(freeze.end - (last + 0.6)) < 1e-6


def test_steady_frames_reordered_packets_and_a_wrapping_timestamp_are_no_freeze() -> None:
    arrivals = FrameArrivals()
    base = (1 << 32) - 10 * FRAME_TS  # wraps after 10 frames
    for i in range(60):
        assert arrivals.on_packet((base + i * FRAME_TS) & 0xFFFFFFFF, i / 30) is None
        assert arrivals.on_packet((base + (i - 3) * FRAME_TS) & 0xFFFFFFFF,
                                  i / 30 + 0.4) is None  # a late packet of an older frame


def test_a_gap_over_5_s_is_a_pause_and_a_reset_forgets_the_last_frame() -> None:
    arrivals = FrameArrivals()
    frames(arrivals, 0, 30, 0.0)
    assert frames(arrivals, 200, 30, 7.0) == []  # 6 s: a pause (a mute is one), not a freeze
    arrivals.reset()
    assert frames(arrivals, 400, 30, 8.0) == []  # 0.03 s after the last, or 3 s: fresh
