"""Recorder: the node's recordings (one folder per session under `root`), the key wrapper,
start-up recovery, and erasure."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from media.ids import Kind

from .consent import RoomPolicy
from .counters import RecorderCounters
from .errors import RecorderError
from .ids import checked_id, file_safe
from .journal import Journal, read_lines, write_durably
from .room_recording import RoomRecording
from .sealing import KeyWrapper
from .session import SessionFiles, erase, read_info
from .webm import check, remux

log = structlog.get_logger(__name__)

DAY = 86400.0


class Recorder:
    def __init__(
        self, root: Path, wrapper: KeyWrapper, *, segment_s: float = 4.0,
        queue_packets: int = 2000, retention_days: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        self.wrapper = wrapper
        self.segment_s = segment_s
        self.queue_packets = queue_packets
        self.retention_days = retention_days
        self.clock = clock
        self.counters = RecorderCounters()
        self.audit = root / "audit.jsonl"
        root.mkdir(parents=True, exist_ok=True)

    def start(self, room: str, policy: RoomPolicy) -> RoomRecording:
        """A new session for `room` (on the running loop)."""
        now = time.time()
        session = f"{datetime.fromtimestamp(now, UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        files = SessionFiles.create(self.root, session, {
            "room": room, "started_at": round(now, 3), "policy": policy.mode.value,
            "learner_video": policy.learner_video,
            "delete_after": round(now + self.retention_days * DAY, 3),
        }, self.wrapper, self.counters)
        files.event("recording_started", room=room, policy=policy.mode.value,
                    learner_video=policy.learner_video, at=0.0)
        log.info("recording_started", session=session, room=room, policy=policy.mode.value)
        return RoomRecording(files, room, policy, self.clock(), self.clock, self.counters,
                             segment_s=self.segment_s, queue_packets=self.queue_packets)

    def open(self, session: str) -> SessionFiles:
        return SessionFiles.load(self.root, checked_id(session), self.wrapper, self.counters)

    def sessions(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and (p / "session.json").exists())

    # --- crash recovery ---------------------------------------------------------------

    def recover(self, sessions: list[str] | None = None) -> list[str]:
        """Finish every recording a crash left open: each open segment is remuxed (never
        re-encoded), checked by decoding, sealed and marked recovered; each track gets its
        last segment; then the session is finalized. Returns the sessions recovered."""
        recovered = []
        for session in self.sessions() if sessions is None else sessions:
            try:
                files = self.open(session)
            except RecorderError:
                continue
            try:
                if files.info().get("status") != "recording":
                    continue
                self._recover(files)
                recovered.append(session)
            except Exception:
                log.exception("recording_recovery_failed", session=session)
                files.update(status="damaged")
            finally:
                files.close()
        return recovered

    def _recover(self, files: SessionFiles) -> None:
        lines = [x for x in files.manifest_lines() if "segment" in x]
        for torn in files.dir.rglob("*.tmp"):  # a sealed file the kill cut short
            torn.unlink()
        for track in files.tracks():
            kind = Kind(track.rsplit("-", 1)[1])
            sealed = {x["segment"]: x for x in lines if x["track"] == track}
            # a segment sealed just before the kill may have left its plaintext behind
            opens = [p for p in files.open_segments(track)
                     if int(p.name.split(".")[0]) not in sealed]
            for path in files.open_segments(track):
                if path not in opens:
                    path.unlink()
            done = False
            for n, path in enumerate(opens):
                sequence = int(path.name.split(".")[0])
                last = n == len(opens) - 1
                try:
                    data = remux([path.read_bytes()])
                    checked = check(data, kind)
                except RecorderError:
                    files.event("segment_unrecoverable", track=track, segment=sequence)
                    path.unlink()
                    continue
                files.seal_open(track, sequence, checked.first_pts or 0, checked.last_pts or 0,
                                checked.frames, last=last, plaintext=data, recovered=True)
                self.counters.recoveries += 1
                files.event("segment_recovered", track=track, segment=sequence,
                            frames=checked.frames, first_pts=checked.first_pts,
                            last_pts=checked.last_pts)
                done = done or last
            if not done and not any(x.get("last") for x in sealed.values()):
                count = len(files.sealed_segments(track))
                if count:
                    files.seal_terminator(track, count)
        files.event("recording_recovered")
        files.finalize(status="recovered")
        log.info("recording_recovered", session=files.session)

    # --- erasure and retention ----------------------------------------------------------

    def erase_session(self, session: str, reason: str) -> bool:
        folder = self.root / checked_id(session)
        if not folder.exists():
            return False
        erase(folder)
        self.counters.erasures += 1
        self._audit({"erased": "session", "session": session, "reason": reason})
        return True

    def erase_participant(self, pseudonym: str, reason: str) -> list[str]:
        """Remove every track of `pseudonym` from every session; tombstones say where."""
        name = file_safe(pseudonym)
        touched = []
        for session in self.sessions():
            folder = self.root / session
            removed = False
            for kind in Kind:
                track = f"{name}-{kind}"
                for path in (folder / "tracks" / track, folder / "final" / f"{track}.seg"):
                    if path.is_dir():
                        for part in path.iterdir():
                            part.unlink()
                        path.rmdir()
                        removed = True
                    elif path.exists():
                        path.unlink()
                        removed = True
            for journal in ("manifest.jsonl", "timeline.jsonl"):
                removed = _scrub(folder / journal, name) or removed
            if removed:
                touched.append(session)
                self._audit({"erased": "participant", "session": session,
                                 "participant": name, "reason": reason})
        self.counters.erasures += len(touched)
        return touched

    def purge(self, now: float | None = None) -> list[str]:
        """Erase every session past its delete-after date."""
        now = time.time() if now is None else now
        expired = []
        for session in self.sessions():
            try:
                info = read_info(self.root / session)
            except (OSError, ValueError):
                continue
            if float(info.get("delete_after", now + 1)) <= now:
                self.erase_session(session, "retention")
                expired.append(session)
        return expired

    def accessed(self, session: str, what: str, who: str) -> None:
        """Write an access to a recording to the audit log."""
        self._audit({"accessed": what, "session": session, "by": who})

    def tombstones(self) -> list[dict[str, Any]]:
        return read_lines(self.audit)

    def _audit(self, record: dict[str, Any]) -> None:
        journal = Journal(self.audit)
        journal.append({**record, "at": round(time.time(), 3)})
        journal.close()


def _scrub(path: Path, name: str) -> bool:
    """Rewrite a journal without the lines about participant `name` (its tracks, its
    joins and leaves); True if any line went."""
    lines = read_lines(path)

    def about(record: dict[str, Any]) -> bool:
        return any(isinstance(v, str) and (v == name or v.startswith(f"{name}-")
                                           or f"/{name}-" in v) for v in record.values())

    kept = [x for x in lines if not about(x)]
    if len(kept) == len(lines):
        return False
    write_durably(path, "".join(json.dumps(x, separators=(",", ":"), sort_keys=True) + "\n"
                                for x in kept).encode())
    return True
