"""The webhook outbox journal on disk: what is owed survives a restart, compaction keeps
only that, a torn last line is skipped, abandoned deliveries are set aside."""

from __future__ import annotations

import json
from pathlib import Path

from signalling.webhooks_journal import OutboxJournal, QueuedEvent, done, enqueued

A = "http://a.example/hook"
B = "http://b.example/hook"


def test_a_restart_owes_exactly_what_was_not_delivered(tmp_path: Path) -> None:
    journal = OutboxJournal(tmp_path / "webhooks")
    journal.append([enqueued(QueuedEvent("e1", b'{"n":1}', [A, B])),
                    enqueued(QueuedEvent("e2", b'{"n":2}', [A]))])
    journal.append([done("delivered", "e1", A), done("delivered", "e2", A)])
    journal.append([enqueued(QueuedEvent("e1", b'{"n":1}', [A, B]))])  # a rewrite: ignored
    with open(journal.path, "a") as f:
        f.write('{"op":"delivered","id":"e1","rec')  # torn by a kill
    again = OutboxJournal(tmp_path / "webhooks")
    assert again.load() == [QueuedEvent("e1", b'{"n":1}', [B])]


def test_compaction_keeps_only_what_is_owed(tmp_path: Path) -> None:
    journal = OutboxJournal(tmp_path / "webhooks")
    journal.append([enqueued(QueuedEvent(f"e{n}", b"{}", [A])) for n in range(5)])
    journal.append([done("delivered", f"e{n}", A) for n in range(4)])
    journal.compact(journal.load())
    lines = journal.path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["e4"] and journal.lines == 1
    assert OutboxJournal(tmp_path / "webhooks").load() == [QueuedEvent("e4", b"{}", [A])]


def test_an_abandoned_delivery_is_no_longer_owed_and_is_set_aside_with_its_body(
        tmp_path: Path) -> None:
    journal = OutboxJournal(tmp_path / "webhooks")
    journal.append([enqueued(QueuedEvent("e1", b'{"n":1}', [A]))])
    journal.append([done("abandoned", "e1", A, why="30 attempts failed", body='{"n":1}')])
    assert journal.load() == []
    (aside,) = [json.loads(x) for x in journal.aside.read_text().splitlines()]
    assert aside["id"] == "e1" and aside["body"] == '{"n":1}' and aside["receiver"] == A
