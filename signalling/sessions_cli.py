"""`liveroom sessions` (the recorded sessions in the data dir, summarized) and
`liveroom token --session` (a reviewer token), for signalling/cli.py."""

from __future__ import annotations

import sys

from recorder.errors import RecorderError
from recorder.summaries import load_summary

from .review_tokens import DEFAULT_REVIEW_TTL_S, mint_review
from .settings import Settings


def list_sessions(settings: Settings, *, as_json: bool = False) -> int:
    root = settings.data_dir / "recordings"
    names = sorted(p.name for p in root.iterdir()
                   if (p / "session.json").exists()) if root.exists() else []
    if not as_json:
        print(f"{'SESSION':26} {'ROOM':16} {'STATUS':10} {'DURATION':>9} {'PEOPLE':>6} "
              f"{'TALK':>7} {'TUTOR':>6}")
    for name in names:
        try:
            s = load_summary(root, name)
        except (RecorderError, OSError, ValueError):
            continue
        if as_json:
            print(s.model_dump_json())
            continue
        share = "-" if s.tutor_share is None else f"{100 * s.tutor_share:.0f}%"
        print(f"{s.session:26} {(s.room or '-')[:16]:16} {s.status:10} "
              f"{s.duration_s:8.1f}s {len(s.participants):6d} {s.talk_s:6.1f}s {share:>6}")
    return 0


def review_token(settings: Settings, session: str, identity: str, ttl: int | None) -> int:
    try:
        print(mint_review(settings.resolved_secret(), session=session, identity=identity,
                          ttl_s=ttl or DEFAULT_REVIEW_TTL_S))
    except ValueError as exc:
        print(f"liveroom: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0
