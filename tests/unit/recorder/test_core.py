"""Segment boundaries, spans, VP8 frames and consent decisions (no loop, no IO)."""

from __future__ import annotations

import pytest

from media.ids import Kind, Role
from recorder.consent import Policy, Reason, RoomPolicy, decide
from recorder.errors import RecorderError
from recorder.frames import Vp8Assembler, vp8_size
from recorder.ids import TrackKey, checked_id
from recorder.segments import SegmentCutter, Spans


def test_video_segments_open_on_keyframes_after_each_boundary() -> None:
    cut = SegmentCutter(video=True, duration=4.0, retry=1.0)
    first = cut.on_frame(0.0, keyframe=False, now=0.0)
    assert (first.write, first.request_keyframe) == (False, True)
    assert cut.on_frame(0.1, False, 0.1).request_keyframe is False  # throttled
    assert cut.on_frame(0.2, True, 0.2).open_segment and cut.sequence == 0
    assert not cut.on_frame(3.0, False, 3.0).open_segment
    at_boundary = cut.on_frame(4.3, False, 4.3)
    assert at_boundary.write and at_boundary.request_keyframe and not at_boundary.open_segment
    assert cut.on_frame(4.4, False, 4.4).request_keyframe is False
    assert cut.on_frame(4.5, True, 4.5).open_segment and cut.sequence == 1


def test_audio_is_cut_on_the_first_frame_past_the_boundary() -> None:
    cut = SegmentCutter(video=False, duration=4.0)
    assert cut.on_frame(1.0, False, 1.0).open_segment
    assert not cut.on_frame(4.98, False, 4.98).open_segment
    assert cut.on_frame(5.0, False, 5.0).open_segment and cut.sequence == 1


def test_after_a_loss_video_waits_for_a_keyframe() -> None:
    cut = SegmentCutter(video=True)
    cut.on_frame(0.0, True, 0.0)
    cut.lost()
    assert not cut.on_frame(0.1, False, 0.1).write
    assert cut.on_frame(0.2, True, 0.2).write


def test_gaps_and_mutes_are_spans_in_session_time() -> None:
    spans = Spans(gap_s=0.5)
    assert spans.on_frame(1.0) is None
    gap = spans.on_frame(2.0)
    assert gap is not None and (gap.kind, gap.start, gap.end) == ("gap", 1.0, 2.0)
    spans.mute(2.1)
    assert spans.on_frame(7.0) is None  # a mute is not also a gap
    mute = spans.unmute(7.1)
    assert mute is not None and (mute.kind, mute.start, mute.end) == ("mute", 2.1, 7.1)


def vp8_packet(start: bool, payload: bytes) -> bytes:
    return bytes([0x90 if start else 0x80, 0x80, 0x81, 0x23]) + payload  # X, I (15-bit id)


def keyframe_data() -> bytes:
    return b"\x10\x02\x00\x9d\x01\x2a" + (640).to_bytes(2, "little") + (480).to_bytes(
        2, "little") + b"rest"


def test_vp8_frames_are_assembled_across_reordered_packets() -> None:
    asm = Vp8Assembler()
    data = keyframe_data()
    frame, lost = asm.on_packet(1, 11, 3000, True, vp8_packet(False, data[6:]), 0.1)
    assert frame is None and not lost
    frame, lost = asm.on_packet(1, 10, 3000, False, vp8_packet(True, data[:6]), 0.2)
    assert frame is not None and frame.keyframe and frame.data == data and not lost
    assert vp8_size(frame.data) == (640, 480)


def test_a_vp8_frame_missing_a_packet_is_reported_lost_when_a_later_one_completes() -> None:
    asm = Vp8Assembler()
    asm.on_packet(1, 10, 3000, False, vp8_packet(True, b"\x11a"), 0.1)  # 11 never comes
    frame, lost = asm.on_packet(1, 12, 6000, True, vp8_packet(True, b"\x11b"), 0.2)
    assert frame is not None and not frame.keyframe and lost


@pytest.mark.parametrize(
    ("policy", "role", "kind", "consent", "record", "reason"),
    [
        (RoomPolicy(Policy.OFF), Role.TUTOR, Kind.AUDIO, True, False, Reason.POLICY_OFF),
        (RoomPolicy(Policy.AUDIO_VIDEO), Role.TUTOR, Kind.VIDEO, False, True, Reason.RECORDED),
        (RoomPolicy(Policy.AUDIO_VIDEO), Role.LEARNER, Kind.AUDIO, False, False,
         Reason.NO_CONSENT),
        (RoomPolicy(Policy.AUDIO_VIDEO), Role.LEARNER, Kind.VIDEO, True, True, Reason.RECORDED),
        (RoomPolicy(Policy.AUDIO_VIDEO, learner_video=False), Role.LEARNER, Kind.VIDEO, True,
         False, Reason.LEARNER_VIDEO_EXCLUDED),
        (RoomPolicy(Policy.AUDIO_VIDEO, learner_video=False), Role.LEARNER, Kind.AUDIO, True,
         True, Reason.RECORDED),
        (RoomPolicy(Policy.AUDIO), Role.TUTOR, Kind.VIDEO, True, False, Reason.AUDIO_ONLY),
        (RoomPolicy(Policy.AUDIO_VIDEO), Role.OBSERVER, Kind.AUDIO, True, False,
         Reason.NOT_A_PUBLISHER_ROLE),
    ],
)
def test_consent_decisions(policy: RoomPolicy, role: Role, kind: Kind, consent: bool,
                           record: bool, reason: Reason) -> None:
    decision = decide(policy, role, kind, consent)
    assert (decision.record, decision.reason) == (record, reason)


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "a" * 65, "x.y", "ü", "a\x00"])
def test_ids_with_path_tricks_are_refused(bad: str) -> None:
    with pytest.raises(RecorderError):
        checked_id(bad)


def test_a_track_is_keyed_by_pseudonym_and_kind_and_its_file_name_is_safe() -> None:
    assert TrackKey("tutor-1", Kind.AUDIO).name == "tutor-1-audio"
    odd = TrackKey("../../x@y", Kind.VIDEO).name
    assert "/" not in odd and "." not in odd and odd.endswith("-video")
