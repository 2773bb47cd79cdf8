"""Webhooks through real nodes to a real aiohttp receiver on 127.0.0.1.

The receiver is down for the first deliveries (not listening, then answering 503); the
node that enqueued them stops while it is down, and a new node on the same data dir
delivers them once it is up: every event arrives, exactly once by id after dedup (the
duplicates are counted and reported; one is forced: the first delivery accepted is
answered after the node's timeout, so the node sends it again), each with a valid
signature (and a real one, tampered with, fails), nothing with a name or an address in
it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from media.ids import Role
from recorder.config import RecorderSettings
from signalling.client import Client
from signalling.webhooks import WebhookService
from signalling.webhooks_config import WebhookSettings
from signalling.webhooks_events import EventType
from signalling.webhooks_journal import OutboxJournal
from signalling.webhooks_signing import ID_HEADER, SignatureCode, SignatureError, verify
from tests.conftest import API_KEY, Clients, RunningNode
from tests.integration.test_node import metric

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
ROOM = "hooks"
TUTOR, LEARNER = "tutor-7", "learner-3"
NAMES = ("Ada Tutor", "Bo Learner")  # display names in the tokens: never in an event
TIMEOUT_S = 1.0


class Receiver:
    """The platform's endpoint: verifies every request, answers 503 until `up`, dedupes
    by id as docs/webhooks.md tells receivers to."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        # bound, not listening: connections are refused, and no node takes the port
        self._reserved = socket.socket()
        self._reserved.bind(("127.0.0.1", 0))
        self.port = int(self._reserved.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self.up = False
        self.slow_once = True  # the first event accepted is answered after the node's
        # timeout: the node tries again, the receiver sees its id twice
        self.refused = 0  # 503s answered
        self.bad_signatures = 0
        self.events: dict[str, dict[str, Any]] = {}
        self.duplicates: Counter[str] = Counter()
        self.bodies: list[bytes] = []
        self.signed: list[tuple[bytes, dict[str, str]]] = []  # accepted: body, headers
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        try:
            verify(self.secret, body, request.headers, time.time())
        except SignatureError:
            self.bad_signatures += 1
            return web.Response(status=400)
        if not self.up:
            self.refused += 1
            return web.Response(status=503)
        event = json.loads(body)
        assert request.headers[ID_HEADER] == event["id"]
        self.signed.append((body, dict(request.headers)))
        if event["id"] in self.events:
            self.duplicates[event["type"]] += 1
        else:
            self.events[event["id"]] = event
        if self.slow_once:
            self.slow_once = False
            await asyncio.sleep(TIMEOUT_S + 0.5)
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        self._reserved.close()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self._reserved.close()
        if self._runner is not None:
            await self._runner.cleanup()


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def metrics(http: aiohttp.ClientSession, node: RunningNode) -> str:
    async with http.get(f"{node.url}/metrics") as r:
        return await r.text()


async def test_a_receiver_down_at_first_gets_every_event_once_signed_across_a_node_restart(
    node_factory: Callable[..., Any], clients: Clients, tmp_path: Path,
) -> None:
    receiver = Receiver("")  # its secret: the node's, once it made one
    hooks = WebhookSettings(urls=[receiver.url], timeout_s=TIMEOUT_S,
                            backoff_base_s=0.05, backoff_cap_s=0.4, max_attempts=1000)
    recording = RecorderSettings(policy="audio_video")  # type: ignore[arg-type]
    first: RunningNode = await node_factory(webhook=hooks, recording=recording)
    secret = receiver.secret = (tmp_path / "webhook-secret").read_text().strip()  # unset:
    # made in the data dir
    api = f"{first.url}/v1"
    try:
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            tutor, learner = (clients.add(Client(first.url, ROOM, first.token(
                ROOM, who, role, name=name))) for who, role, name in (
                    (TUTOR, Role.TUTOR, NAMES[0]), (LEARNER, Role.LEARNER, NAMES[1])))
            await tutor.join()
            await learner.join()
            async with http.post(f"{api}/rooms/{ROOM}/recording") as r:
                assert r.status == 201
                session = (await r.json())["session"]
            async with http.delete(f"{api}/rooms/{ROOM}/recording") as r:
                assert r.status == 204
            await learner.leave()
            # nobody listens yet: every attempt so far failed, nothing was lost
            text = ""
            for _ in range(100):
                text = await metrics(http, first)
                if metric(text, "liveroom_webhook_failed_attempts_total") >= 10:
                    break
                await asyncio.sleep(0.05)
            assert metric(text, "liveroom_webhook_failed_attempts_total") >= 10
            assert metric(text, "liveroom_webhook_deliveries_total") == 0
            # room_started, two joins, recording_ready, a leave
            assert metric(text, "liveroom_webhook_queue_depth") == 5
            await receiver.start()  # listening now, but answering 503
            await until(lambda: receiver.refused >= 3, 10, "503s to the first node")
        await first.server.close()  # stops while the receiver is down: the tutor is
        await asyncio.wait_for(tutor.close(), 10)  # still seated, the room finishes
        assert receiver.events == {}
        owed = OutboxJournal(tmp_path / "webhooks").load()
        assert len(owed) == 7  # ... + the tutor's leave and room_finished, on disk

        second: RunningNode = await node_factory(webhook=hooks, recording=recording)
        refused = receiver.refused
        await until(lambda: receiver.refused > refused, 10, "503s to the second node")
        receiver.up = True
        async with aiohttp.ClientSession(headers=HEADERS) as http:
            async with http.delete(f"{second.url}/v1/recordings/{session}") as r:
                assert r.status == 204
            await until(lambda: len(receiver.events) == 8, 20, "every event")
            await until(lambda: bool(receiver.duplicates), 10, "the slow one's retry")
            for _ in range(100):  # the slow one's retry lands (or another late one)
                text = await metrics(http, second)
                if metric(text, "liveroom_webhook_queue_depth") == 0:
                    break
                await asyncio.sleep(0.05)
        assert metric(text, "liveroom_webhook_queue_depth") == 0
        assert metric(text, "liveroom_webhook_abandoned_total") == 0
    finally:
        await receiver.stop()

    print(f"webhook deliveries: {len(receiver.bodies)} requests, {receiver.refused} "
          f"answered 503, {sum(receiver.duplicates.values())} duplicates by id "
          f"{dict(receiver.duplicates)}")
    assert receiver.bad_signatures == 0
    assert sum(receiver.duplicates.values()) >= 1  # the one answered too late, deduped
    assert {e.event_id for e in owed} <= set(receiver.events)
    events = sorted(receiver.events.values(), key=lambda e: e["created_at"])
    assert Counter(e["type"] for e in events) == Counter({
        "room_started": 1, "participant_joined": 2, "participant_left": 2,
        "recording_ready": 1, "room_finished": 1, "recording_deleted": 1})
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        assert isinstance(event["created_at"], float) and event["data"]
        by_type.setdefault(event["type"], []).append(event["data"])
    assert by_type["room_started"][0]["room"] == ROOM
    assert {(d["participant"], d["role"]) for d in by_type["participant_joined"]} == {
        (TUTOR, "tutor"), (LEARNER, "learner")}
    assert {(d["participant"], d["role"], d["reason"]) for d in by_type["participant_left"]
            } == {(LEARNER, "learner", "left"), (TUTOR, "tutor", "server_shutdown")}
    assert by_type["recording_ready"][0] == {"session": session, "room": ROOM,
                                             "status": "finalized", "tracks": []}
    (finished,) = by_type["room_finished"]
    assert finished["room"] == ROOM and finished["reason"] == "server_shutdown"
    assert finished["duration_s"] > 0
    assert {(x["participant"], x["role"]) for x in finished["participants"]} == {
        (TUTOR, "tutor"), (LEARNER, "learner")}
    (summary,) = finished["sessions"]
    assert summary["session"] == session and summary["room"] == ROOM
    assert {x["pseudonym"] for x in summary["participants"]} == {TUTOR, LEARNER}
    assert by_type["recording_deleted"] == [
        {"session": session, "reason": "admin_request", "participant": None}]
    body, headers = receiver.signed[0]  # a real delivery, tampered with: refused
    verify(secret, body, headers, time.time(), tolerance=3600)
    with pytest.raises(SignatureError) as tampered:
        verify(secret, body.replace(b'"', b"'", 1), headers, time.time(), tolerance=3600)
    assert tampered.value.code == SignatureCode.BAD_SIGNATURE
    for body in receiver.bodies:  # pseudonyms and roles only
        assert not any(name.encode() in body for name in NAMES)
        assert b"127.0.0.1" not in body


async def test_the_journal_is_compacted_while_the_node_runs(tmp_path: Path) -> None:
    receiver = Receiver("s" * 32)
    receiver.up, receiver.slow_once = True, False
    await receiver.start()
    settings = WebhookSettings(urls=[receiver.url], secret="s" * 32)
    service = WebhookService(settings, settings.secret, tmp_path, compact_after=20)
    await service.start()
    try:
        for n in range(200):
            service.emit(EventType.ROOM_STARTED, {"room": f"r{n}", "max_participants": 2})
            if n % 10 == 9:
                await asyncio.sleep(0)  # a turn of the loop now and then, as a node's
        await until(lambda: len(receiver.events) == 200, 20, "200 deliveries")
        await until(lambda: service.depth() == 0, 5, "an empty queue")
    finally:
        await service.stop()
        await receiver.stop()
    lines = service.journal.path.read_text().splitlines()
    assert len(lines) < 200 + 20  # 400 lines written: rewritten along the way
    assert OutboxJournal(tmp_path / "webhooks").load() == []
    assert service.counters.delivered == 200 and receiver.bad_signatures == 0
