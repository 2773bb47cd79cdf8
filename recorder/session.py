"""A session's files: the folder, its wrapped data key, manifest, timeline and segments.

    <root>/<session>/session.json      what and when (status, room, policy, delete-after)
                    data-key.wrapped    the session's data key, wrapped by the KEK
                    manifest.jsonl      one line per sealed segment and final file
                    timeline.jsonl      joins, leaves, mutes, consent, clock mappings, ...
                    tracks/<track>/NNNNNN.webm.open   the open segment (plaintext)
                    tracks/<track>/NNNNNN.seg         closed segments, sealed
                    final/<track>.seg                 the finalized track, sealed

Thread-safe: the tracks' muxing threads seal and append through one object.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from media.ids import Kind

from . import sealing
from .counters import RecorderCounters
from .errors import RecorderCode, RecorderError
from .ids import checked_id
from .journal import Journal, fsync_dir, read_lines, write_durably
from .sealing import Header, KeyWrapper
from .webm import check, remux

KEY_FILE = "data-key.wrapped"
FINAL_SEQUENCE = -1


class SessionFiles:
    def __init__(self, root: Path, session: str, data_key: bytes,
                 counters: RecorderCounters) -> None:
        self.session = checked_id(session)
        self.dir = root / session
        self.data_key = data_key
        self.counters = counters
        self.manifest = Journal(self.dir / "manifest.jsonl")
        self.timeline = Journal(self.dir / "timeline.jsonl")
        self._lock = threading.Lock()

    @classmethod
    def create(cls, root: Path, session: str, info: dict[str, Any], wrapper: KeyWrapper,
               counters: RecorderCounters) -> SessionFiles:
        folder = root / checked_id(session)
        folder.mkdir(parents=True)
        fsync_dir(root)
        data_key = secrets.token_bytes(32)
        write_durably(folder / KEY_FILE, wrapper.wrap(data_key, session))
        write_durably(folder / "session.json", json.dumps(
            {**info, "session": session, "status": "recording"}, indent=1).encode())
        return cls(root, session, data_key, counters)

    @classmethod
    def load(cls, root: Path, session: str, wrapper: KeyWrapper,
             counters: RecorderCounters) -> SessionFiles:
        folder = root / checked_id(session)
        if not (folder / "session.json").exists():
            raise RecorderError(RecorderCode.NOT_FOUND, f"no recording {session}")
        key_file = folder / KEY_FILE
        if not key_file.exists():
            raise RecorderError(RecorderCode.KEY_ERASED, f"recording {session} was erased")
        return cls(root, session, wrapper.unwrap(key_file.read_bytes(), session), counters)

    # --- session.json -----------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        return read_info(self.dir)

    def update(self, **fields: Any) -> None:
        with self._lock:
            write_durably(self.dir / "session.json",
                          json.dumps({**self.info(), **fields}, indent=1).encode())

    def event(self, name: str, **fields: Any) -> None:
        self.timeline.append({"event": name, "wall": round(time.time(), 3), **fields})

    # --- segments ---------------------------------------------------------------------

    def track_dir(self, track: str) -> Path:
        folder = self.dir / "tracks" / checked_id(track)
        if not folder.exists():
            folder.mkdir(parents=True)
            fsync_dir(folder.parent)
        return folder

    def open_path(self, track: str, sequence: int) -> Path:
        return self.track_dir(track) / f"{sequence:06d}.webm.open"

    def seal_open(self, track: str, sequence: int, first_pts: int, last_pts: int,
                  packets: int, *, last: bool, plaintext: bytes | None = None,
                  recovered: bool = False) -> None:
        """Seal the open segment `sequence` of `track`, then delete its plaintext."""
        path = self.open_path(track, sequence)
        data = path.read_bytes() if plaintext is None else plaintext
        self._store(track, sequence, first_pts, last_pts, packets, data, last, recovered)
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)

    def seal_terminator(self, track: str, sequence: int) -> None:
        """An empty last segment: the track ended with no segment open."""
        self._store(track, sequence, 0, 0, 0, b"", True, False)

    def _store(self, track: str, sequence: int, first_pts: int, last_pts: int, packets: int,
               data: bytes, last: bool, recovered: bool) -> None:
        sealed = sealing.seal(self.data_key, Header(self.session, track, sequence, first_pts,
                                                    last), data)
        write_durably(self.track_dir(track) / f"{sequence:06d}.seg", sealed)
        self.manifest.append({
            "segment": sequence, "track": track, "first_pts": first_pts,
            "last_pts": last_pts, "packets": packets, "bytes": len(sealed),
            "sha256": hashlib.sha256(sealed).hexdigest(), "last": last,
            "recovered": recovered,
        })
        self.counters.segments += 1
        self.counters.bytes += len(sealed)

    def tracks(self) -> list[str]:
        folder = self.dir / "tracks"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def sealed_segments(self, track: str) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.track_dir(track).glob("*.seg"))]

    def open_segments(self, track: str) -> list[Path]:
        return sorted(self.track_dir(track).glob("*.webm.open"))

    def segments(self, track: str) -> list[bytes]:
        """A track's segments, opened and checked (order, last flag, session, integrity)."""
        return sealing.open_track(self.data_key, self.sealed_segments(track),
                                  session=self.session, track=track)

    # --- finalize ---------------------------------------------------------------------

    def finalize(self, status: str = "finalized") -> dict[str, dict[str, Any]]:
        """Concatenate each track's segments by remux into one seekable WebM (sealed)."""
        results: dict[str, dict[str, Any]] = {}
        final_dir = self.dir / "final"
        final_dir.mkdir(exist_ok=True)
        for track in self.tracks():
            kind = Kind(track.rsplit("-", 1)[1])
            try:
                data = remux(self.segments(track))
                checked = check(data, kind)
            except RecorderError as exc:  # e.g. a track with no media: no final file
                self.manifest.append({"final_failed": track, "code": exc.code})
                continue
            sealed = sealing.seal(self.data_key, Header(self.session, track, FINAL_SEQUENCE,
                                                        checked.first_pts or 0, True), data)
            write_durably(final_dir / f"{track}.seg", sealed)
            results[track] = {
                "final": track, "bytes": len(sealed), "frames": checked.frames,
                "sha256": hashlib.sha256(sealed).hexdigest(),
                "duration_s": checked.duration_s, "first_pts": checked.first_pts,
                "last_pts": checked.last_pts,
            }
            self.manifest.append(results[track])
        participants = {x["participant"]: {"pseudonym": x["participant"], "role": x["role"],
                                           "consent": x["consent"]}
                        for x in self.timeline_lines() if x["event"] == "participant_joined"}
        self.update(status=status, finalized_at=round(time.time(), 3),
                    participants=list(participants.values()), tracks=sorted(results))
        return results

    def final(self, track: str) -> bytes:
        """The finalized WebM of a track, decrypted (in memory only)."""
        blob = (self.dir / "final" / f"{checked_id(track)}.seg").read_bytes()
        return sealing.open_sealed(self.data_key, blob, session=self.session, track=track,
                                   sequence=FINAL_SEQUENCE)[1]

    def manifest_lines(self) -> list[dict[str, Any]]:
        return read_lines(self.dir / "manifest.jsonl")

    def timeline_lines(self) -> list[dict[str, Any]]:
        return read_lines(self.dir / "timeline.jsonl")

    def close(self) -> None:
        self.manifest.close()
        self.timeline.close()


def read_info(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "session.json").read_text()))


def erase(folder: Path) -> None:
    """Remove a session's folder (media, manifests, derived files)."""
    key = folder / KEY_FILE
    key.unlink(missing_ok=True)  # first: from now on nothing of it can be read
    shutil.rmtree(folder, ignore_errors=True)
