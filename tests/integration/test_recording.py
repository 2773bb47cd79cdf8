"""Recording a real 1:1 lesson: aiortc peers publishing probe media through a real node.

The finalized files decode; the audio/video offset measured on the files with the probe's
beep and flash is within 40 ms; each track's duration is the wall time it was published
for, within 0.5 s; the tutor's and learner's files line up on one session clock; no
plaintext media is left on disk; a learner without consent leaves no byte.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from media.ids import Role
from qos.probe_tracks import probe_tracks
from recorder.config import RecorderSettings
from signalling import protocol as p
from signalling.client import Client, ClientError
from signalling.tokens import Consent
from tests.conftest import API_KEY, Clients, RunningNode
from tests.integration.recording_probe import (
    av_flashes,
    decode,
    files_named,
    held_to,
    plaintext_media,
    recorder_of,
    segment_pts,
)

HEADERS = {"Authorization": f"Bearer {API_KEY}"}
RECORDING = RecorderSettings(policy="audio_video", auto_start=True)  # type: ignore[arg-type]
CONSENT = Consent(recording=True)


async def stop_recording(node: RunningNode, room: str) -> None:
    async with aiohttp.ClientSession() as http, http.delete(
            f"{node.url}/v1/rooms/{room}/recording", headers=HEADERS) as r:
        assert r.status == 204


async def test_a_recorded_1_1_lesson_is_in_sync_and_lasts_its_wall_time(
    node_factory: Callable[..., object], tmp_path: Path, clients: Clients
) -> None:
    node: RunningNode = await node_factory(recording=RECORDING)  # type: ignore[misc]
    room = "rec-1-1"
    tutor = clients.new(node, room, "tutor", Role.TUTOR)
    learner = clients.add(Client(node.url, room, node.token(room, "learner", Role.LEARNER,
                                                             consent=CONSENT)))
    await tutor.join()
    await learner.join()
    probes = {"tutor": probe_tracks(), "learner": probe_tracks()}
    await tutor.publish(list(probes["tutor"]))
    await learner.publish(list(probes["learner"]))
    published = time.monotonic()
    await asyncio.sleep(20.0)
    await tutor.wait_for(lambda c: any(
        e.recorded == ["learner", "tutor"] for e in c.events_of(p.RecordingStarted)),
        timeout=5)
    stopped = time.monotonic()
    await stop_recording(node, room)
    wall = stopped - published
    for client in (tutor, learner):
        await client.wait_for(lambda c: bool(c.events_of(p.RecordingStopped)), timeout=5)
    await tutor.close()  # the lesson ends before its files are read
    await learner.close()
    recorder = recorder_of(tmp_path)
    (session,) = recorder.sessions()
    files = recorder.open(session)
    info = files.info()
    assert info["status"] == "finalized"
    assert files.tracks() == ["learner-audio", "learner-video", "tutor-audio", "tutor-video"]
    assert info["participants"] == [
        {"pseudonym": "tutor", "role": "tutor", "consent": False},
        {"pseudonym": "learner", "role": "learner", "consent": True}]
    figures = {track: decode(files.final(track)) for track in files.tracks()}
    starts = {}
    for who in ("tutor", "learner"):
        audio, video = figures[f"{who}-audio"], figures[f"{who}-video"]
        flashes = av_flashes(audio, video)
        offsets = [x for _, x in flashes]
        skipped = sum(track.frames_skipped for track in probes[who])
        off, excused = held_to(flashes, audio, 40.0)
        print(f"{who}: {len(offsets)} flashes, A/V offset median "
              f"{statistics.median(offsets):.1f} ms, range {min(offsets):.1f}.."
              f"{max(offsets):.1f} ms; durations audio {audio.duration_s:.2f} s, video "
              f"{video.duration_s:.2f} s, wall {wall:.2f} s; probe frames skipped {skipped}; "
              f"over 40 ms {off}, the beep cut by the sender {excused}")
        print(who, [(round(t, 1), round(x)) for t, x in flashes])
        assert len(offsets) >= 15
        # each flash within 40 ms. The probe publishers share this process: on a loaded
        # machine they can fall behind and skip frames; a flash whose beep onset was never
        # sent is excused, and if frames were skipped 90 % are held to it
        # (docs/recording.md has the figures)
        assert abs(statistics.median(offsets)) <= 40.0
        if skipped == 0:
            assert off == excused, flashes
        else:
            assert len(off) <= 0.1 * len(offsets), flashes
        for track in (audio, video):
            assert abs(track.duration_s - wall) <= 0.5
        starts[who] = audio.first_s
        for name in (f"{who}-audio", f"{who}-video"):
            pts = segment_pts(recorder, session, name)
            assert all(b > a for a, b in itertools.pairwise(pts))
    # one session clock: both participants started publishing together, so do their files
    assert abs(starts["tutor"] - starts["learner"]) < 0.5
    cpu = sum(x["cpu_s"] for x in files.timeline_lines() if x["event"] == "track_ended")
    print(f"recorder muxing threads: {cpu:.2f} s CPU for 4 tracks over {wall:.1f} s "
          f"({100 * cpu / wall:.1f} % of a core)")
    events = [x["event"] for x in files.timeline_lines()]
    for event in ("recording_started", "participant_joined", "track_started",
                  "clock_sender_report_fit", "quality", "recording_stopped", "track_ended"):
        assert event in events
    files.close()
    assert plaintext_media(tmp_path) == []


async def test_a_learner_without_consent_leaves_no_byte_while_the_tutor_is_recorded(
    node_factory: Callable[..., object], tmp_path: Path, clients: Clients
) -> None:
    node: RunningNode = await node_factory(recording=RECORDING)  # type: ignore[misc]
    room = "rec-no-consent"
    tutor = clients.new(node, room, "tutor", Role.TUTOR)
    learner = clients.new(node, room, "learner-x", Role.LEARNER)
    await tutor.join()
    await learner.join()
    await tutor.publish(list(probe_tracks()))
    await learner.publish(list(probe_tracks()))
    await asyncio.sleep(6.0)
    for client in (tutor, learner):
        await client.wait_for(lambda c: any(
            e.recorded == ["tutor"] for e in c.events_of(p.RecordingStarted)),
            timeout=5)
    await stop_recording(node, room)
    await tutor.close()  # the lesson ends before its files are read
    await learner.close()
    recorder = recorder_of(tmp_path)
    (session,) = recorder.sessions()
    files = recorder.open(session)
    assert files.tracks() == ["tutor-audio", "tutor-video"]
    assert files_named(tmp_path, "*learner-x*") == []
    assert decode(files.final("tutor-video")).frames > 100
    refused = [x for x in files.timeline_lines() if x["event"] == "track_not_recorded"]
    assert {x["reason"] for x in refused} == {"no_guardian_consent"}
    files.close()


async def test_the_tutor_starts_and_stops_recording_and_a_learner_may_not(
    node_factory: Callable[..., object], tmp_path: Path, clients: Clients
) -> None:
    settings = RecorderSettings(policy="audio_video")  # type: ignore[arg-type]
    node: RunningNode = await node_factory(recording=settings)  # type: ignore[misc]
    room = "rec-tutor"
    tutor = clients.new(node, room, "tutor", Role.TUTOR)
    learner = clients.add(Client(node.url, room, node.token(room, "learner", Role.LEARNER,
                                                             consent=CONSENT)))
    await tutor.join()
    await learner.join()
    await tutor.publish(list(probe_tracks()))
    with pytest.raises(ClientError) as refused:
        await learner.request(p.Record(id="r1", active=True))
    assert refused.value.code == "recording_refused"
    assert recorder_of(tmp_path).sessions() == []
    await tutor.request(p.Record(id="r2", active=True))
    await learner.wait_for(lambda c: any(
        e.recorded == ["tutor"] for e in c.events_of(p.RecordingStarted)), timeout=5)
    await asyncio.sleep(3.0)
    await tutor.request(p.Record(id="r3", active=False))
    await learner.wait_for(lambda c: bool(c.events_of(p.RecordingStopped)), timeout=5)
    await tutor.close()  # the lesson ends before its files are read
    await learner.close()
    recorder = recorder_of(tmp_path)
    (session,) = recorder.sessions()
    files = recorder.open(session)
    assert files.info()["status"] == "finalized"
    assert decode(files.final("tutor-audio")).frames > 100
    files.close()
