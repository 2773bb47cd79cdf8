"""Review of a recorded lesson through a real node with real aiortc peers.

Talk time from the RTP audio levels (no decoding) against the truth of a scripted probe
session (the tutor beeps 300 ms a second, the learner 100 ms: a 75 % tutor share; the
truth is the time in beep frames the probe tracks handed to aiortc); the
session summary; reviewer access: every bad token refused, every good access audited,
Range requests answered with the right bytes, raw storage never served.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import av

from media.ids import Role
from qos.probe_source import ProbeConfig
from qos.probe_tracks import ProbeAudioTrack, ProbeEpoch, probe_tracks
from recorder.config import RecorderSettings
from signalling import protocol as p
from signalling.client import Client
from signalling.review_tokens import mint_review
from signalling.tokens import Consent
from tests.conftest import API_KEY, SECRET, Clients, RunningNode
from tests.integration.recording_probe import recorder_of

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
RECORDING = RecorderSettings(policy="audio_video", auto_start=True)  # type: ignore[arg-type]
CONSENT = Consent(recording=True)
TUTOR_BEEP_MS, LEARNER_BEEP_MS = 300, 100


class BeepCounter(ProbeAudioTrack):
    """The probe's audio, counting the beep frames it hands to aiortc: the truth."""

    def __init__(self, config: ProbeConfig) -> None:
        super().__init__(config, ProbeEpoch(), asyncio.sleep)
        self.beep_frames = 0

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        assert frame.pts is not None
        start = frame.pts % self.config.sample_rate  # samples into its second
        if start < self.config.beep_ms * self.config.sample_rate // 1000:
            self.beep_frames += 1
        return frame

    @property
    def beeping_s(self) -> float:
        return self.beep_frames * self.config.audio_frame_samples / self.config.sample_rate


async def recorded_session(node: RunningNode, clients: Clients, room: str, seconds: float,
                           *, audio_only: bool = False) -> tuple[str, dict[str, Any],
                                                                  dict[str, float]]:
    """A 1:1 probe lesson recorded for `seconds`: its session id, the live summary taken
    just before the recording stopped, and each one's time in beeps sent until then."""
    tutor = clients.add(Client(node.url, room, node.token(room, "tutor", Role.TUTOR)))
    learner = clients.add(Client(node.url, room, node.token(room, "learner", Role.LEARNER,
                                                            consent=CONSENT)))
    await tutor.join()
    await learner.join()
    sent = {}
    for who, client, beep_ms in (("tutor", tutor, TUTOR_BEEP_MS),
                                 ("learner", learner, LEARNER_BEEP_MS)):
        config = ProbeConfig(beep_ms=beep_ms)
        audio = sent[who] = BeepCounter(config)
        tracks: list[Any] = [audio] if audio_only else [audio, probe_tracks(config)[1]]
        await client.publish(tracks)
    await tutor.wait_for(lambda c: any(
        e.recorded == ["learner", "tutor"] for e in c.events_of(p.RecordingStarted)),
        timeout=10)
    await asyncio.sleep(seconds)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{node.url}/v1/sessions", headers=HEADERS) as r:
            assert r.status == 200
            (listed,) = (await r.json())["sessions"]
        session = listed["session"]
        async with http.get(f"{node.url}/v1/sessions/{session}", headers=HEADERS) as r:
            assert r.status == 200
            live = await r.json()
        truth = {who: track.beeping_s for who, track in sent.items()}
        async with http.delete(f"{node.url}/v1/rooms/{room}/recording", headers=HEADERS) as r:
            assert r.status == 204
    await tutor.wait_for(lambda c: bool(c.events_of(p.RecordingStopped)), timeout=10)
    for who, track in sent.items():
        print(f"{who}: probe audio sent {track.frames_sent} frames, skipped "
              f"{track.frames_skipped} (late: a loaded machine)")
    return session, live, truth


async def test_talk_time_from_audio_levels_is_within_5_percent_of_the_truth(
    node_factory: Callable[..., object], clients: Clients, tmp_path: Path
) -> None:
    node: RunningNode = await node_factory(recording=RECORDING)  # type: ignore[misc]
    session, live, truth = await recorded_session(node, clients, "review-talk", 30.0,
                                                  audio_only=True)
    assert live["status"] == "recording" and live["duration_s"] > 30.0
    assert live["talk_s"] > 0
    async with aiohttp.ClientSession() as http, http.get(
            f"{node.url}/v1/sessions/{session}", headers=HEADERS) as r:
        assert r.status == 200
        summary = await r.json()
    assert summary["status"] == "finalized"
    people = {x["pseudonym"]: x for x in summary["participants"]}
    assert {k: v["role"] for k, v in people.items()} == {"tutor": "tutor",
                                                          "learner": "learner"}
    for who in ("tutor", "learner"):
        measured = people[who]["talk_s"]
        print(f"{who}: talk {measured:.2f} s from levels, {truth[who]:.2f} s in beeps sent "
              f"({100 * (measured - truth[who]) / truth[who]:+.1f} %), "
              f"{people[who]['talk_spans']} spans, quality {people[who]['quality']}")
        assert abs(measured - truth[who]) <= 0.05 * truth[who]
        assert people[who]["talk_spans"] >= 25  # one span per beep: the 700 ms gaps split
    share = summary["tutor_share"]
    print(f"tutor share {share:.3f} (scripted 0.750); duration {summary['duration_s']} s")
    assert abs(share - 0.75) <= 0.05 * 0.75
    assert abs(summary["learner_share"] + share - 1.0) < 1e-3
    # the spans are on the timeline, within the session
    files = recorder_of(tmp_path).open(session)
    spans = [x for x in files.timeline_lines() if x["event"] == "talk"]
    files.close()
    assert spans and all(0 <= s["start"] < s["end"] <= summary["duration_s"] for s in spans)


async def test_a_reviewer_gets_in_with_a_good_token_only_and_every_access_is_audited(
    node_factory: Callable[..., object], clients: Clients, tmp_path: Path
) -> None:
    node: RunningNode = await node_factory(recording=RECORDING)  # type: ignore[misc]
    session, _, _ = await recorded_session(node, clients, "review-access", 6.0)
    base = f"{node.url}/review/{session}"
    audit = tmp_path / "review-audit.jsonl"
    # unsafe: the jar keeps cookies of an IP address (the node is on 127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{node.url}/v1/sessions/{session}/review-tokens",
                             headers=HEADERS, json={"identity": "rev-7", "ttl_s": 600}) as r:
            assert r.status == 201
            minted = await r.json()
        token = minted["token"]
        assert minted["review_url"].endswith(f"/review/{session}?token={token}")
        async with http.post(f"{node.url}/v1/sessions/{session}/review-tokens",
                             json={"identity": "rev-7"}) as r:
            assert r.status == 401  # the admin API wants its key
        async with http.get(f"{node.url}/v1/recordings/{session}/tracks/tutor-video",
                            headers=HEADERS) as r:
            whole = await r.read()
        assert len(whole) > 10_000

        # refused: no token, a forged, an expired, another session's, join tokens, the key
        bad = {
            "none": ("", 401, "bad_token"),
            "forged": (mint_review("x" * 32, session=session, identity="rev-7"), 401,
                       "bad_token"),
            "expired": (mint_review(SECRET, session=session, identity="rev-7", ttl_s=60,
                                    now=time.time() - 600), 401, "token_expired"),
            "other session": (mint_review(SECRET, session="20990101T000000-deadbeef",
                                          identity="rev-7"), 403, "wrong_session"),
            "join token, reviewer": (node.token("review-access", "rev-7", Role.REVIEWER),
                                     403, "not_reviewer"),
            "join token, tutor": (node.token("review-access", "tutor", Role.TUTOR), 403,
                                  "not_reviewer"),
            "api key": (API_KEY, 401, "bad_token"),
        }
        before = len(audit.read_text().splitlines()) if audit.exists() else 0
        for name, (bad_token, status, code) in bad.items():
            for path in ("/summary", "/tracks/tutor-video", ""):
                headers = {"Authorization": f"Bearer {bad_token}"} if bad_token else {}
                async with http.get(base + path, headers=headers) as r:
                    body = await r.json()
                    assert (r.status, body["error"]["code"]) == (status, code), (name, path)
                async with http.get(base + path, params={"token": bad_token}) as r:
                    assert r.status == status, (name, path)
        refusals = [json.loads(x) for x in audit.read_text().splitlines()[before:]]
        assert len(refusals) == len(bad) * 6
        assert all("refused" in x and x["session"] == session for x in refusals)

        # path tricks in ids: refused before any file is touched, even with a good token
        good = {"Authorization": f"Bearer {token}"}
        for path in (f"/review/..%2F{session}/summary", f"/review/{session}/tracks/..%2Fkey",
                     f"/review/{session}/tracks/tutor-video%00",
                     f"/review/{session}/tracks/{'a' * 65}", "/review/%2e%2e/summary"):
            async with http.get(node.url + path, headers=good) as r:
                assert r.status in (400, 404), path
                assert r.status != 200
        for path in (f"/review/{session}/tracks/data-key", f"/review/{session}/tracks/manifest"):
            async with http.get(node.url + path, headers=good) as r:
                assert r.status == 404, path
        for path in (f"/recordings/{session}/data-key.wrapped", "/review/", "/recordings/",
                     f"/static/../recordings/{session}/session.json"):
            async with http.get(node.url + path, headers=good) as r:
                assert r.status == 404, path  # raw storage is never listed or served

        # granted: the summary, the page (sets the cookie), a track whole and by ranges
        n_before = len(audit.read_text().splitlines())
        async with http.get(base + "/summary", headers=good) as r:
            assert r.status == 200
            review = await r.json()
        assert review["summary"]["session"] == session
        assert "talk" in {x["event"] for x in review["timeline"]}
        async with http.get(base, params={"token": token}) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            assert "liveroom_review" in r.cookies
        async with http.get(base + "/tracks/tutor-video") as r:  # by the cookie alone
            assert r.status == 200 and r.headers["Accept-Ranges"] == "bytes"
            assert r.headers["Content-Type"] == "video/webm"
            assert await r.read() == whole
        size = len(whole)
        ranges = {"bytes=100-199": (100, 199), "bytes=-50": (size - 50, size - 1),
                  f"bytes={size - 10}-": (size - 10, size - 1),
                  f"bytes=5000-{size * 2}": (5000, size - 1)}
        for header, (first, last) in ranges.items():
            async with http.get(base + "/tracks/tutor-video",
                                headers={**good, "Range": header}) as r:
                assert r.status == 206, header
                assert r.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
                assert await r.read() == whole[first:last + 1]
        async with http.get(base + "/tracks/tutor-video",
                            headers={**good, "Range": f"bytes={size}-"}) as r:
            assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{size}"
        async with http.get(base + "/tracks/learner-audio", headers=good) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "audio/webm"
        granted = [json.loads(x) for x in audit.read_text().splitlines()[n_before:]]
    whats = [(x["by"], x["session"], x["what"], x.get("range")) for x in granted]
    print("audit:", whats)
    assert whats == [
        ("rev-7", session, "summary", None), ("rev-7", session, "page", None),
        ("rev-7", session, "track:tutor-video", "all"),
        ("rev-7", session, "track:tutor-video", "100-199"),
        ("rev-7", session, "track:tutor-video", f"{size - 50}-{size - 1}"),
        ("rev-7", session, "track:tutor-video", f"{size - 10}-{size - 1}"),
        ("rev-7", session, "track:tutor-video", f"5000-{size - 1}"),
        ("rev-7", session, "track:tutor-video", "unsatisfiable"),
        ("rev-7", session, "track:learner-audio", "all"),
    ]
    assert all(isinstance(x["at"], float) and "refused" not in x for x in granted)
