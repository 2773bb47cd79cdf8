"""Where sealed recordings are kept: one protocol, a local filesystem store (the default)
and an S3-compatible one (`recorder.s3`). Objects are already encrypted (`sealing`): a
store never sees plaintext or keys.

Object keys are `<session>/<path>` with every part an id (`[A-Za-z0-9_.-]`, no `..`).
The `Uploader` copies a finished session's sealed files to a store, verifies each copy
(size and sha256 read back), writes an `uploaded` manifest line, and only then deletes the
local copy. Its queue is the manifest itself, so it survives a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

import structlog

from .counters import RecorderCounters
from .errors import RecorderCode, RecorderError
from .session import SessionFiles

log = structlog.get_logger(__name__)

_PART = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")
UPLOADED = ("manifest.jsonl", "timeline.jsonl", "session.json")  # kept locally too


def checked_key(key: str) -> str:
    parts = key.split("/")
    if not 2 <= len(parts) <= 4 or not all(_PART.fullmatch(p) and ".." not in p for p in parts):
        raise RecorderError(RecorderCode.BAD_ID, f"bad object key {key[:80]!r}")
    return key


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; RecorderError(NOT_FOUND) if there is none."""
        ...

    async def delete(self, key: str) -> None: ...

    async def keys(self, prefix: str) -> list[str]:
        """Every key under `prefix` (a session id, or a session id and a folder), sorted."""
        ...

    async def close(self) -> None: ...


class LocalStore:
    """Objects as files under `root` (written durably: fsync file and folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        await asyncio.to_thread(_write, path, data)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError as exc:
            raise RecorderError(RecorderCode.NOT_FOUND, f"no object {key}") from exc

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def keys(self, prefix: str) -> list[str]:
        base = self.root / prefix.strip("/")
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    async def close(self) -> None:
        return None


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def object_key(files: SessionFiles, path: Path) -> str:
    return f"{files.session}/{path.relative_to(files.dir)}"


class Uploader:
    """Copies finished sessions to a store; retries from the manifest after a restart."""

    def __init__(self, store: ObjectStore, counters: RecorderCounters) -> None:
        self.store = store
        self.counters = counters

    async def upload(self, files: SessionFiles) -> int:
        """Upload every sealed file of `files` not yet uploaded; returns how many were."""
        done = {x["uploaded"] for x in files.manifest_lines() if "uploaded" in x}
        sealed = sorted((files.dir / "tracks").rglob("*.seg")) + sorted(
            (files.dir / "final").glob("*.seg"))
        count = 0
        for path in sealed:
            key = object_key(files, path)
            if key in done:
                continue
            data = await asyncio.to_thread(path.read_bytes)
            digest = hashlib.sha256(data).hexdigest()
            try:
                await self.store.put(key, data)
                copy = await self.store.get(key)
            except Exception:
                self.counters.upload_failures += 1
                log.warning("recording_upload_failed", session=files.session, key=key)
                raise
            if len(copy) != len(data) or hashlib.sha256(copy).hexdigest() != digest:
                self.counters.upload_failures += 1
                raise RecorderError(RecorderCode.STORAGE, f"upload of {key} did not verify")
            files.manifest.append({"uploaded": key, "bytes": len(data), "sha256": digest})
            path.unlink()  # only now: the copy is verified and recorded
            count += 1
        for name in UPLOADED:
            path = files.dir / name
            if path.exists():
                await self.store.put(f"{files.session}/{name}", path.read_bytes())
        files.update(uploaded=True)
        return count

    async def erase(self, session: str, prefix: str = "") -> int:
        keys = await self.store.keys(f"{session}/{prefix}".rstrip("/"))
        for key in keys:
            await self.store.delete(key)
        return len(keys)
