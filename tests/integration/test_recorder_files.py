"""The recorder's files with real media (aiortc's VP8 and Opus encoders, PyAV muxing), no
network: segments on keyframes, sealing, finalize, refusals, erasure, crash recovery."""

from __future__ import annotations

import io
import shutil
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from media.ids import Kind
from qos.probe_source import ProbeConfig, audio_frame, video_frame
from recorder.clock import SenderClock
from recorder.consent import Policy, RoomPolicy
from recorder.counters import RecorderCounters
from recorder.errors import RecorderCode, RecorderError
from recorder.ids import TrackKey
from recorder.recorder import Recorder
from recorder.sealing import LocalKek
from recorder.session import SessionFiles
from recorder.track import TrackRecorder
from recorder.webm import check

CONFIG = ProbeConfig(width=320, height=240)
KEK = LocalKek(b"k" * 32)


class Publisher:
    """Probe media through aiortc's encoders, as RTP payloads, at a simulated pace."""

    def __init__(self, ssrc: int = 1111) -> None:
        self.video = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000))
        self.audio = get_encoder(RTCRtpCodecParameters(
            mimeType="audio/opus", clockRate=48000, channels=2))
        self.ssrc = ssrc
        self.seq = {Kind.AUDIO: 0, Kind.VIDEO: 0}
        self.keyframe_wanted = True

    def ask_keyframe(self) -> None:
        self.keyframe_wanted = True

    def send(self, video: TrackRecorder, audio: TrackRecorder, start: float, seconds: float,
             first_frame: int = 0) -> None:
        for i in range(first_frame, first_frame + int(seconds * 30)):
            at = start + (i - first_frame) / 30
            frame = video_frame(CONFIG, i, 0)
            frame.pts, frame.time_base = i * 3000, Fraction(1, 90000)
            payloads, ts = self.video.encode(frame, force_keyframe=self.keyframe_wanted)
            self.keyframe_wanted = False
            for n, payload in enumerate(payloads):
                self.seq[Kind.VIDEO] += 1
                assert video.put(("rtp", self.ssrc, self.seq[Kind.VIDEO] & 0xFFFF, ts,
                                  n == len(payloads) - 1, payload, at))
            if i % 3 == 0:  # 3 frames of video = 100 ms = 5 Opus packets
                for k in range(5):
                    payloads, ts = self.audio.encode(audio_frame(CONFIG, i // 3 * 5 + k))
                    for payload in payloads:
                        self.seq[Kind.AUDIO] += 1
                        assert audio.put(("rtp", self.ssrc + 1, self.seq[Kind.AUDIO], ts, True,
                                          payload, at + k * 0.02))
            if i % 30 == 0:  # pace the producer a little: the queue is bounded
                time.sleep(0.01)


def tracks(files: SessionFiles, publisher: Publisher) -> tuple[TrackRecorder, TrackRecorder]:
    sender = SenderClock()
    video = TrackRecorder(files, TrackKey("tutor-1", Kind.VIDEO), sender,
                          publisher.ask_keyframe, queue_packets=100000)
    audio = TrackRecorder(files, TrackKey("tutor-1", Kind.AUDIO), sender, lambda: None,
                          queue_packets=100000)
    return video, audio


def new_session(root: Path, name: str = "s1") -> SessionFiles:
    return SessionFiles.create(root, name, {"room": "r"}, KEK, RecorderCounters())


def record(root: Path, seconds: float = 9.0, name: str = "s1") -> SessionFiles:
    files = new_session(root, name)
    publisher = Publisher()
    video, audio = tracks(files, publisher)
    publisher.send(video, audio, 1.0, seconds)
    for track in (video, audio):
        track.end(1.0 + seconds)
        track.join(30)
    return files


def test_a_track_is_cut_into_keyframe_segments_sealed_and_finalized(tmp_path: Path) -> None:
    files = record(tmp_path)
    video = files.segments("tutor-1-video")
    assert len(video) == 3  # 0-4 s, 4-8 s, 8-9 s
    for part in video:
        with av.open(io.BytesIO(part), "r") as c:
            first = next(p for p in c.demux(c.streams[0]) if p.size)
            assert first.is_keyframe
    lines = [x for x in files.manifest_lines() if "segment" in x]
    assert {x["track"] for x in lines} == {"tutor-1-video", "tutor-1-audio"}
    assert all(x["sha256"] and x["bytes"] > 0 for x in lines)
    assert not list(tmp_path.rglob("*.webm.open"))  # only the open segment is plaintext
    results = files.finalize()
    for track, kind in (("tutor-1-video", Kind.VIDEO), ("tutor-1-audio", Kind.AUDIO)):
        checked = check(files.final(track), kind)
        assert results[track]["duration_s"] is not None
        assert checked.first_pts is not None and checked.last_pts is not None
        span = (checked.last_pts - checked.first_pts) / (90000 if kind is Kind.VIDEO else 48000)
        assert abs(span - 9.0) < 0.15, (track, span)
        assert abs(checked.first_pts / (90000 if kind is Kind.VIDEO else 48000) - 1.0) < 0.05
    assert check(files.final("tutor-1-video"), Kind.VIDEO).frames == 270


def test_tampered_swapped_truncated_and_foreign_segments_are_refused(tmp_path: Path) -> None:
    files = record(tmp_path / "a")
    other = record(tmp_path / "b", name="s2")
    folder = files.track_dir("tutor-1-video")
    segs = sorted(folder.glob("*.seg"))
    original = [p.read_bytes() for p in segs]
    files.segments("tutor-1-video")  # intact: reads

    def refused() -> None:
        with pytest.raises(RecorderError) as err:
            files.segments("tutor-1-video")
        assert err.value.code is RecorderCode.SEGMENT_REFUSED

    tampered = bytearray(original[1])
    tampered[-100] ^= 1
    segs[1].write_bytes(bytes(tampered))
    refused()
    segs[1].write_bytes(original[0])  # swapped: segment 0 in place of 1
    segs[0].write_bytes(original[1])
    refused()
    segs[0].write_bytes(original[0])
    segs[1].write_bytes(original[1])
    segs[-1].unlink()  # the last dropped
    refused()
    segs[-1].write_bytes(other.sealed_segments("tutor-1-video")[-1])  # another session's
    refused()
    segs[-1].write_bytes(original[-1])
    files.segments("tutor-1-video")
    # erasing the wrapped key: nothing of the session can be read any more
    (files.dir / "data-key.wrapped").unlink()
    with pytest.raises(RecorderError) as err:
        SessionFiles.load(tmp_path / "a", "s1", KEK, RecorderCounters())
    assert err.value.code is RecorderCode.KEY_ERASED


def test_a_crash_image_is_recovered_without_re_encoding(tmp_path: Path) -> None:
    files = new_session(tmp_path / "live", "s3")
    publisher = Publisher()
    video, audio = tracks(files, publisher)
    publisher.send(video, audio, 1.0, 6.0)  # segment 0 closed at 4 s, 1 open
    time.sleep(1.0)  # let the muxing threads drain
    image = tmp_path / "image"
    shutil.copytree(tmp_path / "live", image)  # what a kill -9 leaves on disk
    for track in (video, audio):
        track.end(7.0)
        track.join(30)
    assert list(image.rglob("*.webm.open"))
    recorder = Recorder(image, KEK)
    assert recorder.recover() == ["s3"]
    assert not list(image.rglob("*.webm.open"))
    again = recorder.open("s3")
    assert again.info()["status"] == "recovered"
    recovered = [x for x in again.manifest_lines() if x.get("recovered")]
    assert {x["track"] for x in recovered} == {"tutor-1-video", "tutor-1-audio"}
    checked = check(again.final("tutor-1-video"), Kind.VIDEO)
    assert checked.last_pts is not None
    lost = 7.0 - 1 / 30 - checked.last_pts / 90000
    assert lost < 1.0 + 0.1, lost  # at most ~1 s (the drain wait) before the "kill"
    assert recorder.counters.recoveries == 2


def test_retention_purge_and_participant_erasure_leave_tombstones(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, KEK, retention_days=1)
    files = record(tmp_path, 2.0, name="s4")
    files.update(delete_after=time.time() - 1)
    record(tmp_path, 2.0, name="s5")
    assert recorder.erase_participant("tutor-1", "request") == ["s4", "s5"]
    assert not list((tmp_path / "s5").rglob("*.seg"))
    for journal in ("manifest.jsonl", "timeline.jsonl"):  # nothing about them is left
        assert "tutor-1" not in (tmp_path / "s5" / journal).read_text()
    assert recorder.purge() == ["s4"]
    assert not (tmp_path / "s4").exists()
    assert [t["erased"] for t in recorder.tombstones()] == ["participant", "participant",
                                                           "session"]


def test_policy_defaults_are_off() -> None:
    assert RoomPolicy().mode is Policy.OFF
