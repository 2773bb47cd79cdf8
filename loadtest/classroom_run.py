"""One classroom run against a node process, measured; or a capacity ramp of such runs.

    python -m loadtest.classroom_run --rooms 2 --learners 4 --lesson 40 --out runs/a
    python -m loadtest.classroom_run --capacity --learners 1 --steps 1,2,4,8 --out runs/cap

A run starts a node (`liveroom serve`, loopback, ICE pinned to 127.0.0.1; servers.py),
runs locust headless on loadtest/locustfile.py with its CSV and HTML reports, samples the
node's CPU and the machine's from /proc over the plateau (from the ramp's end + 5 s to the
lesson's end) and writes `summary.json`: the node's cores, the bots' millicores per seat,
join and first-frame percentiles, quality (loss, jitter, freezes per minute, MOS),
reconnect TTMR and the failures by code. Arguments it does not know go to locust.

`--capacity` runs one fresh node and run per step of rooms and stops at the first step
whose quality or node CPU breaks the limits (`LIMITS`: the clean group of the gate's
thresholds, qos/gate/thresholds.toml, for loss, freezes and MOS; join p95 and node CPU
from the options), bounded by `--max-minutes`; it writes `capacity.json` and
`capacity.html` (the curve as a chart) and reports the most rooms that passed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import secrets
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from .procstat import Sample, cores, machine_busy
from .servers import ROOT, free_port, python, start_liveroom

THRESHOLDS = ROOT / "qos" / "gate" / "thresholds.toml"


def limits(join_p95_ms: float, node_cores: float) -> dict[str, tuple[str, float]]:
    clean = tomllib.loads(THRESHOLDS.read_text())["groups"]["clean"]
    return {
        "loss_pct": ("max", float(clean["loss_pct"]["max"])),
        "freezes_per_min": ("max", float(clean["freezes_per_min"]["max"])),
        "mos_mean": ("min", float(clean["mos.mean"]["min"])),
        "join_p95_ms": ("max", join_p95_ms),
        "node_cores": ("max", node_cores),
        "failures": ("max", 0.0),
    }


def _num(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def summarise(csv_prefix: Path, quality_every_s: float) -> dict[str, Any]:
    with open(f"{csv_prefix}_stats.csv", newline="") as f:
        rows = list(csv.DictReader(f))

    def of(kind: str, name: str | None = None, prefix: str = "") -> list[dict[str, str]]:
        return [r for r in rows if r["Type"] == kind and (
            r["Name"] == name if name is not None else r["Name"].startswith(prefix))]

    def pct(kind: str, name: str) -> dict[str, float] | None:
        found = of(kind, name)
        if not found:
            return None
        r = found[0]
        return {"count": _num(r["Request Count"]), "p50": _num(r["50%"]),
                "p95": _num(r["95%"]), "max": _num(r["Max Response Time"])}

    def mean(prefix: str) -> float | None:
        found = of("quality", prefix=prefix)
        total = sum(_num(r["Request Count"]) for r in found)
        if not total:
            return None
        return sum(_num(r["Average Response Time"]) * _num(r["Request Count"])
                   for r in found) / total

    seat_windows = sum(_num(r["Request Count"]) for r in of("quality", prefix="freezes "))
    freezes = sum(_num(r["Average Response Time"]) * _num(r["Request Count"])
                  for r in of("quality", prefix="freezes "))
    aggregated = [r for r in rows if r["Name"] == "Aggregated"]
    summary: dict[str, Any] = {
        "join_tutor_ms": pct("join", "tutor"), "join_learner_ms": pct("join", "learner"),
        "first_frame_ms": pct("first_frame", "subscription"),
        "ttmr_ms": pct("reconnect", "ttmr"), "reload_learner_ms": pct("reload", "learner"),
        "bot_millicores_per_seat": pct("bot", "millicores_per_seat"),
        "loss_pct": mean("loss_pct "), "jitter_ms": mean("jitter_ms "), "mos_mean": mean("mos "),
        "freezes": freezes, "seat_windows": seat_windows,
        "failures": _num(aggregated[0]["Failure Count"]) if aggregated else 0.0,
    }
    # each quality window is `quality_every_s` of one seat's subscriptions
    seat_minutes = seat_windows * quality_every_s / 60.0
    summary["freezes_per_min"] = round(freezes / seat_minutes, 3) if seat_minutes else None
    joins = [summary["join_tutor_ms"], summary["join_learner_ms"]]
    summary["join_p95_ms"] = max((j["p95"] for j in joins if j), default=None)
    with contextlib.suppress(OSError):
        summary["failures_by_code"] = Path(f"{csv_prefix}_failures.csv").read_text()
    return summary


async def run_once(opts: argparse.Namespace, rooms: int, out: Path,
                   locust_args: list[str]) -> dict[str, Any]:
    os.makedirs(out, exist_ok=True)
    key = secrets.token_urlsafe(24)
    participants = rooms * (1 + opts.learners)
    server = await start_liveroom(out, max_participants=64,
                                  extra_env={"LIVEROOM_API_KEY": key, **dict(opts.node_env)})
    cmd = [python(), "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"),
           "--headless", "-H", server.url, "--rooms", str(rooms),
           "--learners", str(opts.learners), "--ramp", str(opts.ramp),
           "--lesson", str(opts.lesson), "--quality-every", str(opts.quality_every),
           "--api-key", key, "--csv", str(out / "run"),
           "--html", str(out / "run.html"), "--bot-log-dir", str(out / "bots"),
           "--loglevel", "WARNING", "--only-summary", *locust_args]
    if opts.processes > 1:
        p = free_port()
        cmd += ["--processes", str(opts.processes), "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(p), "--master-port", str(p)]
    log = open(out / "locust.log", "wb")  # noqa: ASYNC230
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    log.close()
    samples: list[Sample] = []
    plateau = (opts.ramp + 5.0, opts.lesson - 1.0)
    try:
        deadline = started + opts.lesson + 90.0
        while proc.returncode is None and time.monotonic() < deadline:
            t = time.monotonic() - started
            if plateau[0] <= t <= plateau[1]:
                samples.append(Sample.take(time.monotonic(), [server.pid]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 1.0)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        await server.stop()
    summary = summarise(out / "run", opts.quality_every)
    summary.update(rooms=rooms, learners=opts.learners, participants=participants,
                   locust_exit=proc.returncode, lesson_s=opts.lesson, ramp_s=opts.ramp)
    if len(samples) >= 2:
        summary["node_cores"] = round(cores(samples[0], samples[-1], [server.pid]), 3)
        summary["machine_cores"] = round(machine_busy(samples[0], samples[-1]), 3)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def broken(summary: dict[str, Any], rules: dict[str, tuple[str, float]]) -> list[str]:
    found = []
    for name, (kind, bound) in rules.items():
        value = summary.get(name)
        if value is None:
            if name != "node_cores":
                found.append(f"{name}: no data")
            continue
        if (kind == "max" and value > bound) or (kind == "min" and value < bound):
            found.append(f"{name} {value:.3g} ({kind} {bound:g})")
    return found


def chart(curve: list[dict[str, Any]], title: str) -> str:
    width, height, pad = 640, 320, 40
    top = max([1.0, *(c.get("node_cores") or 0 for c in curve)])
    most = max(c["rooms"] for c in curve)
    points = " ".join(
        f"{pad + (width - 2 * pad) * c['rooms'] / most:.0f},"
        f"{height - pad - (height - 2 * pad) * (c.get('node_cores') or 0) / top:.0f}"
        for c in curve)
    rows = "".join(
        f"<tr><td>{c['rooms']}</td><td>{c.get('node_cores')}</td><td>{c.get('join_p95_ms')}"
        f"</td><td>{c.get('loss_pct')}</td><td>{c.get('freezes_per_min')}</td>"
        f"<td>{c.get('mos_mean')}</td><td>{'; '.join(c['broken']) or 'ok'}</td></tr>"
        for c in curve)
    return (f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1>"
            f"<svg width={width} height={height} style='border:1px solid #ccc'>"
            f"<polyline fill=none stroke=#06c stroke-width=2 points='{points}'/>"
            f"<text x={pad} y=20>node cores (max {top:.2f}) against rooms (max {most})</text>"
            "</svg><table border=1><tr><th>rooms<th>node cores<th>join p95 ms<th>loss %"
            f"<th>freezes/min<th>MOS<th>limits</tr>{rows}</table>")


async def capacity(opts: argparse.Namespace, locust_args: list[str]) -> int:
    rules = limits(opts.join_p95_ms, opts.node_cores)
    curve: list[dict[str, Any]] = []
    end = time.monotonic() + opts.max_minutes * 60
    best = 0
    for rooms in (int(s) for s in opts.steps.split(",")):
        if time.monotonic() + opts.lesson + 30 > end:
            break
        summary = await run_once(opts, rooms, opts.out / f"rooms-{rooms}", locust_args)
        summary["broken"] = broken(summary, rules)
        curve.append(summary)
        print(json.dumps({k: summary.get(k) for k in (
            "rooms", "node_cores", "join_p95_ms", "loss_pct", "freezes_per_min", "mos_mean",
            "bot_millicores_per_seat", "broken")}), flush=True)
        if summary["broken"]:
            break
        best = rooms
    shape = f"1 + {opts.learners}"
    report = {"shape": shape, "max_rooms": best, "limits": rules, "curve": curve}
    (opts.out / "capacity.json").write_text(json.dumps(report, indent=2))
    (opts.out / "capacity.html").write_text(chart(curve, f"capacity, classrooms of {shape}"))
    print(json.dumps({"shape": shape, "max_rooms": best}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.classroom_run",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rooms", type=int, default=2)
    parser.add_argument("--learners", type=int, default=4)
    parser.add_argument("--ramp", type=float, default=10.0)
    parser.add_argument("--lesson", type=float, default=40.0)
    parser.add_argument("--quality-every", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=1, help="locust worker processes")
    parser.add_argument("--out", type=Path, default=Path("classroom-runs"))
    parser.add_argument("--node-env", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="an environment variable of the node")
    parser.add_argument("--capacity", action="store_true")
    parser.add_argument("--steps", default="1,2,4,6,8,12,16")
    parser.add_argument("--join-p95-ms", type=float, default=3000.0)
    parser.add_argument("--node-cores", type=float, default=1.5)
    parser.add_argument("--max-minutes", type=float, default=20.0)
    opts, locust_args = parser.parse_known_args(argv)
    if opts.capacity:
        return asyncio.run(capacity(opts, locust_args))
    summary = asyncio.run(run_once(opts, opts.rooms, opts.out, locust_args))
    print(json.dumps({k: v for k, v in summary.items() if k != "failures_by_code"}, indent=2))
    return 0 if summary.get("locust_exit") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
