"""The webhook outbox on disk: an append-only JSON-lines journal in the data dir.

    <data_dir>/webhooks/outbox.jsonl     {"op": "enqueued", "id", "body", "receivers"}
                                         {"op": "delivered" | "abandoned", "id", "receiver"}
    <data_dir>/webhooks/abandoned.jsonl  what was set aside, with its body (for an operator)

An event is enqueued (fsynced) before its first attempt; a delivery is owed to a receiver
until a `delivered` or `abandoned` line says otherwise. At start-up the journal is read
(a torn last line, from a kill, is skipped) and rewritten with only what is still owed.
Blocking: call it off the event loop.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder.journal import fsync_dir, read_lines, write_durably

DONE = ("delivered", "abandoned")


@dataclass(frozen=True)
class QueuedEvent:
    event_id: str
    body: bytes
    receivers: list[str]  # still owed it


def enqueued(event: QueuedEvent) -> dict[str, Any]:
    return {"op": "enqueued", "id": event.event_id, "body": event.body.decode(),
            "receivers": event.receivers}


def done(op: str, event_id: str, receiver: str, **more: object) -> dict[str, Any]:
    return {"op": op, "id": event_id, "receiver": receiver, **more}


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":")) + "\n"


class OutboxJournal:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "outbox.jsonl"
        self.aside = folder / "abandoned.jsonl"
        self.lines = 0  # in the journal now (for compaction)
        self._lock = threading.Lock()

    def load(self) -> list[QueuedEvent]:
        """What is still owed, oldest first."""
        owed: dict[str, tuple[bytes, list[str]]] = {}
        for record in read_lines(self.path):
            event_id = record.get("id")
            if not isinstance(event_id, str):
                continue
            if record.get("op") == "enqueued" and event_id not in owed:
                owed[event_id] = (str(record.get("body", "")).encode(),
                                  [str(r) for r in record.get("receivers", [])])
            elif record.get("op") in DONE and event_id in owed:
                receivers = owed[event_id][1]
                if record.get("receiver") in receivers:
                    receivers.remove(record["receiver"])
        return [QueuedEvent(i, body, receivers) for i, (body, receivers) in owed.items()
                if receivers]

    def compact(self, events: list[QueuedEvent]) -> None:
        """Rewrite the journal with only `events` (atomically: a crash keeps the old)."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_durably(self.path, "".join(_line(enqueued(e)) for e in events).encode())
            self.lines = len(events)

    def append(self, records: list[dict[str, Any]]) -> None:
        """Returns once the lines are on disk; abandoned ones also go to the aside file."""
        if not records:
            return
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            aside = [r for r in records if r.get("op") == "abandoned"]
            targets = [(self.path, records)] + ([(self.aside, aside)] if aside else [])
            for path, lines in targets:
                existed = path.exists()
                with open(path, "a", encoding="utf-8") as f:
                    f.write("".join(_line(r) for r in lines))
                    f.flush()
                    os.fsync(f.fileno())
                if not existed:
                    fsync_dir(self.folder)
            self.lines += len(records)
