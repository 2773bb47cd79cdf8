"""A session's summary from its timeline (pure: the lines in, a typed summary out).

Duration, participants (pseudonyms, roles), talk time per participant and the tutor's
share, a quality summary per participant (the live quality levels the node put on the
timeline: time in each level, MOS at the transitions, reconnects, mutes, video freezes)
and the recording status. An open session passes its live figures (`now_at`, `live_talk`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

QUALITY_ORDER = ("excellent", "good", "fair", "poor", "lost")


class QualitySummary(BaseModel):
    levels_s: dict[str, float]  # time at each live quality level (qos.live)
    worst: str | None
    min_mos: float | None
    mean_mos: float | None  # time-weighted, from the level transitions' scores
    reconnects: int
    mutes: int
    freezes: int  # of the participant's video as the node received it (recorder.freezes)
    freeze_s: float


class ParticipantSummary(BaseModel):
    pseudonym: str
    role: str
    consent: bool
    joined_at: float
    left_at: float | None
    talk_s: float
    talk_spans: int
    quality: QualitySummary


class SessionSummary(BaseModel):
    session: str
    room: str | None
    started_at: float | None  # wall time (unix s)
    duration_s: float
    status: str  # the recording's: recording, finalized, recovered, damaged
    tracks: list[str]
    participants: list[ParticipantSummary]
    talk_s: float
    tutor_share: float | None  # of all talk time, 0..1; None if nobody spoke
    learner_share: float | None


def _owner(track: str) -> str:
    return track.rsplit("-", 1)[0]


def summarize(session: str, info: dict[str, Any], timeline: list[dict[str, Any]],
              tracks: list[str], *, now_at: float | None = None,
              live_talk: dict[str, float] | None = None) -> SessionSummary:
    """`now_at`: the session time now, for a session still recording; `live_talk`: the
    speaking spans still open (s, by pseudonym), not yet on the timeline."""
    ats = [float(x["at"]) for x in timeline if isinstance(x.get("at"), int | float)]
    stopped = [float(x["at"]) for x in timeline if x.get("event") == "recording_stopped"]
    if stopped:
        duration = stopped[-1]
    elif now_at is not None:
        duration = now_at
    else:
        duration = max(ats, default=0.0)
    roles: dict[str, dict[str, Any]] = {}
    talk: dict[str, float] = {}
    spans: dict[str, int] = {}
    reconnects: dict[str, int] = {}
    mutes: dict[str, int] = {}
    freezes: dict[str, list[float]] = {}
    quality: dict[str, list[tuple[float, str, float | None]]] = {}
    left: dict[str, float] = {}
    for x in timeline:
        event, who = x.get("event"), x.get("participant")
        if event in ("mute",) and isinstance(x.get("track"), str):
            if x["track"].endswith("-audio"):
                owner = _owner(x["track"])
                mutes[owner] = mutes.get(owner, 0) + 1
        if not isinstance(who, str):
            continue
        at = float(x.get("at", 0.0))
        if event == "participant_joined":
            roles.setdefault(who, {"role": x.get("role", "unknown"),
                                   "consent": bool(x.get("consent")), "joined_at": at})
            left.pop(who, None)
        elif event == "participant_resumed":
            reconnects[who] = reconnects.get(who, 0) + 1
            left.pop(who, None)
        elif event == "participant_left":
            left[who] = at
        elif event == "talk":
            talk[who] = talk.get(who, 0.0) + float(x["end"]) - float(x["start"])
            spans[who] = spans.get(who, 0) + 1
        elif event == "freeze":
            freezes.setdefault(who, []).append(float(x["end"]) - float(x["start"]))
        elif event == "quality":
            score = x.get("score")
            quality.setdefault(who, []).append(
                (at, str(x.get("quality")), None if score is None else float(score)))
    if live_talk is not None:
        for who, seconds in live_talk.items():
            talk[who] = talk.get(who, 0.0) + seconds
    participants = []
    for who, r in roles.items():
        end = left.get(who, duration)
        participants.append(ParticipantSummary(
            pseudonym=who, role=r["role"], consent=r["consent"], joined_at=r["joined_at"],
            left_at=left.get(who), talk_s=round(talk.get(who, 0.0), 3),
            talk_spans=spans.get(who, 0),
            quality=_quality(quality.get(who, []), end, reconnects.get(who, 0),
                             mutes.get(who, 0), freezes.get(who, []))))
    total = sum(p.talk_s for p in participants)

    def share(role: str) -> float | None:
        if total <= 0:
            return None
        return round(sum(p.talk_s for p in participants if p.role == role) / total, 4)

    return SessionSummary(
        session=session, room=info.get("room"), started_at=info.get("started_at"),
        duration_s=round(duration, 3), status=str(info.get("status", "unknown")),
        tracks=tracks, participants=participants, talk_s=round(total, 3),
        tutor_share=share("tutor"), learner_share=share("learner"))


def _quality(changes: list[tuple[float, str, float | None]], end: float, reconnects: int,
             mutes: int, freezes: list[float]) -> QualitySummary:
    levels: dict[str, float] = {}
    weighted = weight = 0.0
    scores = [s for _, _, s in changes if s is not None]
    for i, (at, level, score) in enumerate(changes):
        until = changes[i + 1][0] if i + 1 < len(changes) else max(end, at)
        levels[level] = round(levels.get(level, 0.0) + until - at, 3)
        if score is not None:
            weighted += score * (until - at)
            weight += until - at
    seen = [q for q in QUALITY_ORDER if q in levels]
    return QualitySummary(
        levels_s=levels, worst=seen[-1] if seen else None,
        min_mos=min(scores) if scores else None,
        mean_mos=round(weighted / weight, 2) if weight > 0 else (scores[-1] if scores else None),
        reconnects=reconnects, mutes=mutes, freezes=len(freezes),
        freeze_s=round(sum(freezes), 3))
