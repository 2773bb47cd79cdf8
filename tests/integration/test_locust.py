"""The classroom load test (loadtest/locustfile.py), headless, in a short real run.

A node on loopback (the `node_factory` fixture, in this process), and locust as a child
process with two worker processes (`--processes 2`, master and workers on 127.0.0.1):
2 rooms of one tutor and two learners, ~20 s, real classroom bots (aiortc peers, ICE pinned
to 127.0.0.1). Zero failures, and its CSV and HTML reports written with a join row per
role counting its participants. The plan's pure parts are checked without a network.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

from loadtest.classroom import Action, Chaos, ClassroomPlan, SeatPlan
from loadtest.subscription import QualityWindow, SubscriptionCounter
from tests.conftest import API_KEY, RunningNode, free_port

ROOT = Path(__file__).resolve().parents[2]
ROOMS, LEARNERS = 2, 2
RUN_LIMIT_S = 50.0


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(path, newline="") as f:
        return {(r["Type"], r["Name"]): r for r in csv.DictReader(f)}


async def test_a_headless_classroom_run_on_two_workers_reports_every_join(
    node_factory: Callable[..., object], tmp_path: Path,
) -> None:
    node: RunningNode = await node_factory()  # type: ignore[misc]
    port = free_port()
    cmd = [
        _python(), "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"),
        "--headless", "--processes", "2", "-H", node.url,
        "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
        "--master-port", str(port),
        "--rooms", str(ROOMS), "--learners", str(LEARNERS), "--ramp", "3", "--lesson", "20",
        "--quality-every", "3", "--api-key", API_KEY, "--ice-address", "127.0.0.1",
        "--csv", str(tmp_path / "run"), "--html", str(tmp_path / "run.html"),
        "--bot-log-dir", str(tmp_path / "bots"), "--loglevel", "WARNING", "--only-summary",
    ]
    log = open(tmp_path / "locust.log", "wb")  # noqa: ASYNC230 (a local file, opened once)
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    log.close()
    started = time.monotonic()
    try:
        code = await asyncio.wait_for(proc.wait(), RUN_LIMIT_S)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    took = time.monotonic() - started
    output = (tmp_path / "locust.log").read_text(errors="replace")
    assert code == 0, output[-4000:]
    stats = _rows(tmp_path / "run_stats.csv")
    failures = (tmp_path / "run_failures.csv").read_text()
    assert stats[("", "Aggregated")]["Failure Count"] == "0", failures
    # one join per participant: the token to its first frame, for each role
    assert stats[("join", "tutor")]["Request Count"] == str(ROOMS)
    assert stats[("join", "learner")]["Request Count"] == str(ROOMS * LEARNERS)
    assert float(stats[("join", "learner")]["Max Response Time"]) < 15_000
    # each participant receives the other two: one first frame per subscription
    assert stats[("first_frame", "subscription")]["Request Count"] == str(ROOMS * 3 * 2)
    assert stats[("POST", "/v1/tokens")]["Request Count"] == str(ROOMS * 3)
    for room in range(ROOMS):
        row = stats[("quality", f"loss_pct class{room}")]
        assert int(row["Request Count"]) >= 3  # every seat reported at least once
    html = (tmp_path / "run.html").read_text()
    assert "first_frame" in html and "join" in html
    assert took < RUN_LIMIT_S


def test_the_seat_plan_fills_rooms_evenly_and_gives_released_seats_back() -> None:
    plan = SeatPlan(ClassroomPlan(rooms=2, learners=2, ramp_s=3, lesson_s=20))
    tutors = [plan.claim("tutor") for _ in range(3)]
    assert [t.identity if t else None for t in tutors] == ["class0-t", "class1-t", None]
    learners = [plan.claim("learner") for _ in range(4)]
    assert [s.identity for s in learners if s] == [
        "class0-l0", "class1-l0", "class0-l1", "class1-l1"]
    assert sorted(s.rank for s in learners if s) == [0, 1, 2, 3]
    assert plan.claim("learner") is None
    plan.release("class1-l0")
    again = plan.claim("learner")
    assert again is not None and again.identity == "class1-l0"


def test_chaos_shares_are_exact_over_the_class_and_the_shape_ends_with_the_lesson() -> None:
    chaos = Chaos(learners=8, drop_share=0.25, reload_share=0.25, leave_share=0.125,
                  first_wave_s=13, waves=2, wave_every_s=20)
    actions = [chaos.action(rank) for rank in range(8)]
    assert actions.count(Action.DROP) == 2 and actions.count(Action.RELOAD) == 2
    assert actions.count(Action.LEAVE) == 1 and actions.count(Action.NONE) == 3
    assert chaos.wave_times() == [13, 33]
    shape = ClassroomPlan(rooms=2, learners=2, ramp_s=3, lesson_s=20)
    assert shape.tick(0) == (6, 2.0)
    assert shape.tick(19.9) == (6, 2.0) and shape.tick(20) is None


def _rtp(pt: int, seq: int, ts: int, marker: bool = False, ssrc: int = 7) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, ts, ssrc) + b"x" * 20


def test_a_subscription_counter_notes_its_first_frame_loss_and_audio_jitter() -> None:
    sdp = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
           "m=video 9 UDP/TLS/RTP/SAVPF 97\r\na=rtpmap:97 VP8/90000\r\n")
    from loadtest.counting import payload_types

    counter = SubscriptionCounter(kinds=payload_types(sdp))
    counter.on_datagram(_rtp(111, 1, 0, ssrc=5))
    assert counter.first_frame_at is None  # a video subscription: waits for a video frame
    counter.on_datagram(_rtp(97, 10, 0))
    counter.on_datagram(_rtp(97, 11, 0, marker=True))
    assert counter.first_frame_at is not None
    counter.on_datagram(_rtp(97, 13, 3000, marker=True))  # 12 lost
    window = QualityWindow()
    quality = window.take([counter])
    assert quality is not None
    assert quality.loss_percent == 20.0  # 1 of 5 numbered packets
    assert 1.0 <= quality.mos <= 4.5
    assert window.take([counter]) is None  # nothing new since
