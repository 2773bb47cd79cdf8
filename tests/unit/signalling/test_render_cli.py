"""`liveroom render` refuses in plain words when it cannot start (the render itself is
tested on a real recorded lesson: tests/integration/test_render.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from signalling.cli import main


def test_render_without_a_recording_key_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATA_DIR", str(tmp_path))
    assert main(["render", "20260101T120000-0a1b2c3d"]) == 2
    err = capsys.readouterr().err
    assert "no recording key" in err and "LIVEROOM_RECORDING_KEK" in err
    assert list(tmp_path.iterdir()) == []  # no key made up, nothing written


def test_render_of_an_unknown_or_unsafe_session_or_format_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIVEROOM_RECORDING_KEK", "A" * 43)
    assert main(["render", "s1", "--out", str(tmp_path / "x.webm")]) == 2
    assert "recording_not_found" in capsys.readouterr().err
    assert main(["render", "../s1"]) == 2
    assert "bad_id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["render", "s1", "--format", "avi"])
