"""`render_session` refuses what it must not render, before writing anything: a session
still recording, an unknown or unsafe id, a format without encoders, a session whose
segments are in object storage. Decoded audio of any layout becomes mono samples."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from recorder.counters import RecorderCounters
from recorder.errors import RecorderCode, RecorderError
from recorder.recorder import Recorder
from recorder.render import (
    RenderOptions,
    available_formats,
    default_timeout,
    mono,
    render_session,
)
from recorder.sealing import LocalKek
from recorder.session import SessionFiles

KEK = LocalKek(bytes(range(32)))


def refused(recorder: Recorder, session: str, out: Path, fmt: str = "webm") -> RecorderCode:
    with pytest.raises(RecorderError) as error:
        render_session(recorder, session, RenderOptions(out=out, format=fmt))
    assert list(out.parent.iterdir()) == []  # neither the file nor a partial
    return error.value.code


def test_a_session_still_recording_or_unknown_or_unsafe_is_refused(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "recordings", KEK)
    files = SessionFiles.create(recorder.root, "s1", {"room": "r"}, KEK, RecorderCounters())
    files.close()
    out = tmp_path / "out" / "s1.webm"
    out.parent.mkdir()
    assert refused(recorder, "s1", out) is RecorderCode.NOT_FINALIZED
    assert refused(recorder, "s2", out) is RecorderCode.NOT_FOUND
    assert refused(recorder, "../s1", out) is RecorderCode.BAD_ID
    assert refused(recorder, "s1", out, "avi") is RecorderCode.FORMAT_UNAVAILABLE
    files = recorder.open("s1")
    files.update(status="finalized", uploaded=True)  # its segments are in object storage
    files.close()
    assert refused(recorder, "s1", out) is RecorderCode.NOT_FOUND
    assert recorder.tombstones() == []  # nothing was rendered, so nothing accessed


def test_both_formats_have_encoders_here_and_the_default_bound_grows_with_the_session() -> None:
    assert available_formats() == ["webm", "mp4"]
    assert default_timeout(20.0) == 100.0 and default_timeout(3600.0) == 7260.0


def test_decoded_audio_of_any_layout_becomes_mono_float_samples() -> None:
    left, right = np.full(960, 0.5, np.float32), np.full(960, -0.25, np.float32)
    planar = av.AudioFrame.from_ndarray(np.stack([left, right]), format="fltp",
                                        layout="stereo")
    planar.sample_rate = 48000
    assert np.allclose(mono(planar), 0.125)
    packed = av.AudioFrame.from_ndarray(
        np.stack([np.full(960, 16384, np.int16), np.zeros(960, np.int16)]).T.reshape(1, -1),
        format="s16", layout="stereo")
    packed.sample_rate = 48000
    assert np.allclose(mono(packed), 0.25, atol=1e-3) and len(mono(packed)) == 960
    other = av.AudioFrame.from_ndarray(left.reshape(1, -1), format="flt", layout="mono")
    other.sample_rate = 44100
    with pytest.raises(RecorderError) as error:
        mono(other)
    assert error.value.code is RecorderCode.CORRUPT
