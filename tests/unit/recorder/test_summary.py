"""The session summary, built from timeline lines written by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from recorder.errors import RecorderCode, RecorderError
from recorder.summaries import load_summary
from recorder.summary import summarize

INFO = {"room": "r1", "started_at": 1700000000.0, "status": "finalized"}
TIMELINE = [
    {"event": "recording_started", "at": 0.0},
    {"event": "participant_joined", "participant": "t1", "role": "tutor", "consent": False,
     "at": 0.0},
    {"event": "participant_joined", "participant": "l1", "role": "learner", "consent": True,
     "at": 1.0},
    {"event": "quality", "participant": "l1", "quality": "excellent", "score": 4.3, "at": 2.0},
    {"event": "talk", "participant": "t1", "start": 2.0, "end": 8.0, "at": 8.5},
    {"event": "quality", "participant": "l1", "quality": "poor", "score": 2.5, "at": 10.0},
    {"event": "mute", "track": "l1-audio", "at": 11.0},
    {"event": "participant_resumed", "participant": "l1", "at": 12.0},
    {"event": "quality", "participant": "l1", "quality": "good", "score": 3.8, "at": 14.0},
    {"event": "talk", "participant": "l1", "start": 15.0, "end": 17.0, "at": 17.5},
    {"event": "freeze", "participant": "l1", "track": "l1-video", "start": 16.0, "end": 16.4,
     "at": 16.4},
    {"event": "freeze", "participant": "l1", "track": "l1-video", "start": 16.5, "end": 16.75,
     "at": 16.75},
    {"event": "participant_left", "participant": "l1", "at": 18.0},
    {"event": "recording_stopped", "at": 20.0},
]


def test_a_finished_session_sums_talk_quality_and_reconnects_per_participant() -> None:
    s = summarize("s1", INFO, TIMELINE, ["l1-audio", "t1-audio"])
    assert s.duration_s == 20.0 and s.status == "finalized" and s.room == "r1"
    tutor, learner = s.participants
    assert (tutor.pseudonym, tutor.role, tutor.talk_s) == ("t1", "tutor", 6.0)
    assert (learner.pseudonym, learner.talk_s, learner.left_at) == ("l1", 2.0, 18.0)
    assert s.talk_s == 8.0
    assert s.tutor_share == pytest.approx(0.75) and s.learner_share == pytest.approx(0.25)
    q = learner.quality
    assert q.levels_s == {"excellent": 8.0, "poor": 4.0, "good": 4.0}
    assert q.worst == "poor" and q.min_mos == 2.5 and q.reconnects == 1 and q.mutes == 1
    assert (q.freezes, q.freeze_s) == (2, 0.65)
    assert (tutor.quality.freezes, tutor.quality.freeze_s) == (0, 0.0)
    assert q.mean_mos == pytest.approx((4.3 * 8 + 2.5 * 4 + 3.8 * 4) / 16, abs=0.01)
    assert tutor.quality.worst is None and tutor.quality.mean_mos is None


def test_an_open_session_uses_the_live_figures() -> None:
    live = TIMELINE[:5]
    s = summarize("s1", {**INFO, "status": "recording"}, live, [], now_at=9.0,
                  live_talk={"t1": 0.5, "l1": 0.5})
    assert s.duration_s == 9.0 and s.status == "recording"
    assert [p.talk_s for p in s.participants] == [6.5, 0.5]  # the timeline's + the open
    assert s.tutor_share == pytest.approx(6.5 / 7.0, abs=1e-4)


def test_nobody_spoke_means_no_share() -> None:
    s = summarize("s1", INFO, TIMELINE[:3], [])
    assert s.talk_s == 0.0 and s.tutor_share is None and s.duration_s == 1.0


def test_load_summary_refuses_path_tricks_and_unknown_sessions(tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "session.json").write_text("{}")
    for bad in ("../secret", "a/b", "", "x" * 65):
        with pytest.raises(RecorderError) as info:
            load_summary(tmp_path / "recordings", bad)
        assert info.value.code is RecorderCode.BAD_ID
    with pytest.raises(RecorderError) as info:
        load_summary(tmp_path, "nosuch")
    assert info.value.code is RecorderCode.NOT_FOUND
    assert load_summary(tmp_path, "secret").duration_s == 0.0
