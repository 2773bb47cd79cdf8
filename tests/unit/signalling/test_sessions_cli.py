"""`liveroom sessions` and `liveroom token --session`, on a data dir written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from signalling.cli import main
from signalling.review_tokens import verify_review

SESSION = "20260101T120000-0a1b2c3d"


def plant(data_dir: Path) -> None:
    folder = data_dir / "recordings" / SESSION
    folder.mkdir(parents=True)
    (folder / "session.json").write_text(json.dumps(
        {"room": "r1", "started_at": 1.0, "status": "finalized"}))
    lines = [
        {"event": "participant_joined", "participant": "t1", "role": "tutor", "at": 0.0},
        {"event": "participant_joined", "participant": "l1", "role": "learner", "at": 0.0},
        {"event": "talk", "participant": "t1", "start": 1.0, "end": 4.0, "at": 4.0},
        {"event": "talk", "participant": "l1", "start": 5.0, "end": 6.0, "at": 6.0},
        {"event": "recording_stopped", "at": 10.0},
    ]
    (folder / "timeline.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_sessions_lists_duration_people_and_the_tutors_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATA_DIR", str(tmp_path))
    assert main(["sessions"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # the header only
    plant(tmp_path)
    assert main(["sessions"]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row == [SESSION, "r1", "finalized", "10.0s", "2", "4.0s", "75%"]
    assert main(["sessions", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tutor_share"] == 0.75 and summary["duration_s"] == 10.0


def test_token_with_a_session_mints_a_reviewer_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATA_DIR", str(tmp_path))
    assert main(["token", "--session", SESSION, "--identity", "rev-1"]) == 0
    token = capsys.readouterr().out.strip()
    secret = (tmp_path / "token-secret").read_text().strip()
    assert verify_review(secret, token, session=SESSION).sub == "rev-1"
    assert main(["token", "--session", SESSION, "--identity", "rev-1", "--ttl", "99999"]) == 2
    assert main(["token", "--identity", "rev-1"]) == 2
