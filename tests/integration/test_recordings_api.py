"""The recordings admin API on a real node with S3 storage (a real moto_server): start and
stop a room's recording (the room is told), list and get, play a finalized track back
from the bucket, refuse path tricks, erase by participant and by session, purge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from media.ids import Kind, Role
from qos.probe_tracks import probe_tracks
from recorder.config import RecorderSettings
from recorder.s3 import S3Store
from recorder.webm import check
from signalling import protocol as p
from signalling.client import Client
from tests.conftest import API_KEY, RunningNode
from tests.integration.recording_probe import files_named
from tests.integration.test_recording_storage import moto_server

__all__ = ["moto_server"]
HEADERS = {"Authorization": f"Bearer {API_KEY}"}


async def call(http: aiohttp.ClientSession, method: str, url: str,
               json: object = None) -> tuple[int, object]:
    async with http.request(method, url, headers=HEADERS, json=json) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, body


async def test_recordings_api_with_s3_storage(
    node_factory: Callable[..., object], moto_server: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    bucket = f"lessons-{time.monotonic_ns()}"
    s3 = await S3Store.connect(bucket, endpoint=moto_server)
    await s3.create_bucket()
    settings = RecorderSettings(policy="audio_video", storage="s3",  # type: ignore[arg-type]
                                s3_endpoint=moto_server, s3_bucket=bucket,
                                retention_days=2 / 86400)
    node: RunningNode = await node_factory(recording=settings)  # type: ignore[misc]
    room = "rec-api"
    tutor = Client(node.url, room, node.token(room, "tutor", Role.TUTOR))
    api = f"{node.url}/v1"
    try:
        async with aiohttp.ClientSession() as http:
            await tutor.join()
            await tutor.publish(list(probe_tracks()))
            status, body = await call(http, "POST", f"{api}/rooms/{room}/recording")
            assert status == 201 and isinstance(body, dict)
            session = body["session"]
            await tutor.wait_for(lambda c: any(
                e.recorded == ["tutor"] for e in c.events_of(p.RecordingStarted)),
                timeout=5)
            await asyncio.sleep(5.0)
            status, _ = await call(http, "DELETE", f"{api}/rooms/{room}/recording")
            assert status == 204
            await tutor.wait_for(lambda c: bool(c.events_of(p.RecordingStopped)),
                                    timeout=5)
            status, listing = await call(http, "GET", f"{api}/recordings")
            assert status == 200 and isinstance(listing, dict)
            (entry,) = listing["recordings"]
            assert entry["session"] == session and entry["status"] == "finalized"
            assert entry["uploaded"] is True
            keys = await s3.keys(session)
            assert f"{session}/final/tutor-video.seg" in keys
            assert files_named(tmp_path, "*.seg") == []  # local copies gone once verified
            status, detail = await call(http, "GET", f"{api}/recordings/{session}")
            assert status == 200 and isinstance(detail, dict)
            assert any(x.get("uploaded") for x in detail["manifest"])
            status, webm = await call(http, "GET",
                                      f"{api}/recordings/{session}/tracks/tutor-video")
            assert status == 200 and isinstance(webm, bytes)
            assert check(webm, Kind.VIDEO).frames > 100
            for bad in ("x..y", "a.b", "a b", "a" * 65):
                status, _ = await call(http, "GET", f"{api}/recordings/{bad}")
                assert status == 400, bad
                status, _ = await call(http, "DELETE", f"{api}/participants/{bad}/recordings")
                assert status == 400, bad
            for bad in ("%2e%2e", "..%2f..%2fetc"):  # the URL is normalised: no route
                status, _ = await call(http, "GET", f"{api}/recordings/{bad}/tracks/x")
                assert status in (400, 404), bad
            status, _ = await call(http, "GET", f"{api}/recordings/{session}/tracks/a.b")
            assert status == 400
            # erasure by participant pseudonym, then by session
            status, erased = await call(http, "DELETE", f"{api}/participants/tutor/recordings")
            assert status == 200 and erased == {"erased_from": [session]}
            assert not [k for k in await s3.keys(session) if "tutor-" in k]
            timeline = await s3.get(f"{session}/timeline.jsonl")
            assert b"tutor" not in timeline  # the stored journals are scrubbed too
            status, _ = await call(http, "DELETE", f"{api}/recordings/{session}")
            assert status == 204
            assert await s3.keys(session) == []
            status, _ = await call(http, "GET", f"{api}/recordings/{session}")
            assert status == 404
            # retention: a second recording expires (2 s here) and the purge removes it all
            status, body = await call(http, "POST", f"{api}/rooms/{room}/recording")
            assert status == 201 and isinstance(body, dict)
            second = body["session"]
            await asyncio.sleep(3.0)
            status, _ = await call(http, "DELETE", f"{api}/rooms/{room}/recording")
            assert await s3.keys(second)
            status, purged = await call(http, "POST", f"{api}/recordings/purge")
            assert status == 200 and purged == {"purged": [second]}
            assert await s3.keys(second) == []
            assert files_named(tmp_path / "recordings", f"{second}*") == []
            tombstones = (tmp_path / "recordings" / "audit.jsonl").read_text()
            assert tombstones.count('"erased"') == 3  # participant, session, retention
            assert tombstones.count('"accessed"') == 2  # the manifest read, the playback
            status, metrics = await call(http, "GET", f"{node.url}/metrics")
            assert b"liveroom_recorded_segments_total" in metrics  # type: ignore[operator]
    finally:
        await tutor.close()
        await s3.close()
