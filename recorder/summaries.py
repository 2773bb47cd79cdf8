"""Reading a session's summary from disk: session.json and timeline.jsonl only (no key
is needed, no media is read)."""

from __future__ import annotations

from pathlib import Path

from .errors import RecorderCode, RecorderError
from .ids import checked_id
from .journal import read_lines
from .session import read_info
from .summary import SessionSummary, summarize


def load_summary(root: Path, session: str, *, now_at: float | None = None,
                 live_talk: dict[str, float] | None = None) -> SessionSummary:
    folder = root / checked_id(session)
    if not (folder / "session.json").exists():
        raise RecorderError(RecorderCode.NOT_FOUND, "no such session")
    tracks_dir = folder / "tracks"
    tracks = sorted(p.name for p in tracks_dir.iterdir()) if tracks_dir.exists() else []
    return summarize(session, read_info(folder), read_lines(folder / "timeline.jsonl"),
                     tracks, now_at=now_at, live_talk=live_talk)
