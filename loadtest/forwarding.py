"""Forwarding benchmark: Liveroom against Janus, CPU per subscriber on one machine.

    python -m loadtest.forwarding [--steps 1,4,16,64,96] [--rounds 1] [--out report.json]
    python -m loadtest.forwarding --soak [--soak-n 32] [--soak-seconds 300]
    python -m loadtest.forwarding --overload [--steps 64,96,128] [--admission]

For each N and setup (alternated, so machine noise hits both), a fresh server is started
as its own process with one publisher bot (pre-encoded VP8 640x480 ~1 Mbps + Opus). The
server's CPU (user+sys from /proc, in cores) is measured over a window with the publisher
alone, then N counting subscribers join (bots in separate processes, never decoding) and
it is measured again over a steady window. Marginal CPU per subscriber is the difference
divided by N, from the same server run. The report is JSON (one object per setup, N and
round) plus a table and the Liveroom/Janus ratios of marginal CPU, pair by pair.

Subscribers are aiortc receivers that send RTCP feedback as browsers do (receiver reports,
REMB, NACK, PLI) and decode nothing (`--receivers aiortc`, loadtest/receivers.py), or
bots that only count (`--receivers counting`, the figures before issue 16). `--overload`
runs steps past saturation and reports, per step, the publisher's frame rate as the node
received it, every subscriber's, loss, node CPU and whether every peer connection
survived. The node refuses no joins unless `--admission` (it would turn subscribers away
with node_overloaded, which the report then counts); it sheds load unless `--no-shed`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from . import procstat
from . import record_option as recording
from .counting import SNAPSHOT_FIELDS
from .overload import at_node, overload_checks, overload_table, survival
from .receivers import RECEIVERS
from .servers import Bot, Server, janus_available, start_janus, start_liveroom

SETUPS = ("liveroom", "liveroom-uvloop", "janus")
_F = {name: i for i, name in enumerate(SNAPSHOT_FIELDS)}


def _mkdir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def _write(path: Path, text: str) -> None:
    path.write_text(text)


ADMISSION_OFF = {"LIVEROOM_ADMISSION_REFUSE": "false"}  # overload measured and shed, not refused


async def start_server(
    setup: str, work: Path, n: int, opts: argparse.Namespace | None = None
) -> Server:
    if setup == "janus":
        return await start_janus(work)
    admission = bool(opts is not None and getattr(opts, "admission", False))
    shed = bool(opts is None or getattr(opts, "shed", True))
    env = {} if admission else dict(ADMISSION_OFF)
    env["LIVEROOM_SHED_VIDEO"] = "true" if shed else "false"
    env.update(recording.server_env(opts))  # --record
    return await start_liveroom(work, max_participants=n + 8, uvloop=setup.endswith("uvloop"),
                                extra_env=env)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


class Window:
    """CPU and memory of the server (and bots, and the machine) over a measured interval."""

    def __init__(self, server: Server, bots: list[Bot]) -> None:
        self.server = server
        self.bots = bots
        self.bot_pids = [b.pid for b in bots]

    async def measure(self, seconds: float) -> dict[str, Any]:
        pids = [self.server.pid, *self.bot_pids]
        counters_a = await node_counters(self.server)
        a = procstat.Sample.take(time.monotonic(), pids)
        rss_a = procstat.rss_bytes(self.server.pid)
        await asyncio.sleep(seconds)
        b = procstat.Sample.take(time.monotonic(), pids)
        rss_b = procstat.rss_bytes(self.server.pid)
        counters_b = await node_counters(self.server)
        await asyncio.sleep(1.3)  # let every bot print a report past the window's end
        return {
            "node_counters": counter_rates(counters_a, counters_b, b.t - a.t),
            "t0": a.t, "t1": b.t,
            "node_cpu_cores": procstat.cores(a, b, [self.server.pid]),
            "bots_cpu_cores": procstat.cores(a, b, self.bot_pids),
            "machine_busy_cores": procstat.machine_busy(a, b),
            "node_rss_mb": max(rss_a, rss_b) / 2**20,
        }


def _rates(bot: Bot, t0: float, t1: float) -> tuple[float, dict[str, Any], dict[str, Any]]:
    first, last = bot.at(t0), bot.before(t1)
    if first is None or last is None or last["t"] <= first["t"]:
        raise RuntimeError(f"bot {bot.name} reported nothing in the window")
    return last["t"] - first["t"], first, last


def summarise(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": math.nan, "median": math.nan, "max": math.nan}
    return {"min": round(min(values), 2), "median": round(statistics.median(values), 2),
            "max": round(max(values), 2)}


def subscriber_metrics(bots: list[Bot], t0: float, t1: float) -> dict[str, Any]:
    fps, audio, video_pps, lost, rtx, mbps = [], [], [], [], [], []
    for bot in bots:
        dt, first, last = _rates(bot, t0, t1)
        for a, b in zip(first.get("subs", []), last.get("subs", []), strict=True):
            d = [y - x for x, y in zip(a, b, strict=True)]
            fps.append(d[_F["video_frames"]] / dt)
            audio.append(d[_F["audio_packets"]] / dt)
            video_pps.append(d[_F["video_packets"]] / dt)
            lost.append(d[_F["video_lost"]] + d[_F["audio_lost"]])
            rtx.append(d[_F["rtx_packets"]])
            mbps.append(d[_F["bytes"]] * 8 / dt / 1e6)
    forwarded = sum(video_pps) + sum(audio) + sum(rtx) / max(t1 - t0, 1e-9)
    profiles = sorted({p for b in bots for r in b.reports if (p := r.get("srtp_profile"))})
    return {
        "srtp_profiles": profiles,
        "subscribers_measured": len(fps),
        "video_fps": summarise(fps),
        "audio_pps": summarise(audio),
        "video_pps": summarise(video_pps),
        "lost_packets": sum(lost),
        "subscribers_with_loss": sum(1 for x in lost if x > 0),
        "rtx_packets": sum(rtx),
        "forwarded_pps": round(forwarded, 1),
        "forwarded_mbps": round(sum(mbps), 2),
        "per_subscriber_video_fps": [round(x, 2) for x in fps],
        "per_subscriber_audio_pps": [round(x, 2) for x in audio],
        "per_subscriber_lost": lost,
    }


def publisher_metrics(pub: Bot, t0: float, t1: float) -> dict[str, Any]:
    dt, first, last = _rates(pub, t0, t1)
    out: dict[str, Any] = {
        "publisher_fps": round((last["video_frames"] - first["video_frames"]) / dt, 2),
        "publisher_audio_pps": round((last["audio_frames"] - first["audio_frames"]) / dt, 2),
        "publisher_pps": round((last["packets_sent"] - first["packets_sent"]) / dt, 2),
        "publisher_pc_failed": bool(last.get("pcs_failed", 0)),
    }
    if "video_packets_sent" in last:
        out["publisher_video_pps"] = round(
            (last["video_packets_sent"] - first["video_packets_sent"]) / dt, 2)
    return out


_NODE_COUNTERS = {
    "liveroom_received_packets_total": "node_received",
    "liveroom_forwarded_packets_total": "node_forwarded",
    "liveroom_nacks_total": "node_nacks",
    "liveroom_keyframe_requests_total": "node_keyframe_requests",
    "liveroom_subscriber_rtcp_total": "node_subscriber_rtcp",
}


async def node_counters(server: Server) -> dict[str, float]:
    """The node's own forwarding counters (Prometheus text), summed over labels."""
    if server.setup == "janus":
        return {}
    totals: dict[str, float] = {}
    with contextlib.suppress(aiohttp.ClientError, OSError, ValueError):
        async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as resp:
            text = await resp.text()
        for line in text.splitlines():
            name, _, value = line.partition("{")
            key = _NODE_COUNTERS.get(name)
            if key == "node_received" and 'kind="video"' in value:
                totals["node_received_video"] = float(line.rsplit(" ", 1)[1])
            if key is not None:
                label = value.split('"')[1] if '"' in value else ""
                labelled = ("node_nacks", "node_keyframe_requests", "node_subscriber_rtcp")
                full = f"{key}_{label}" if key in labelled else key
                totals[full] = totals.get(full, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


def counter_rates(a: dict[str, float], b: dict[str, float], dt: float) -> dict[str, float]:
    out = {}
    for key, value in b.items():
        if key in a:
            delta = value - a[key]
            rate = key in ("node_received", "node_forwarded", "node_received_video")
            out[key + ("_pps" if rate else "")] = round(delta / dt, 1) if rate else int(delta)
    return out


async def run_one(setup: str, n: int, opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    """One fresh server: publisher-only window, then N subscribers and the loaded window."""
    _mkdir(work)
    bound = ["--max-seconds", str(opts.bot_max_seconds), "--receivers", opts.receivers]
    server = await start_server(setup, work, n, opts)
    bots: list[Bot] = []
    try:
        pub = await server.start_bot("publisher", ["--role", "publisher", *bound])
        bots.append(pub)
        await wait_until(lambda: bool(pub.last and pub.last.get("feed")
                                      and pub.last.get("video_frames")), 60, "the publisher")
        await asyncio.sleep(opts.warmup)
        base = await Window(server, [pub]).measure(opts.base_window)
        subs: list[Bot] = []
        for i, first in enumerate(range(0, n, opts.per_bot)):
            count = min(opts.per_bot, n - first)
            bot = await server.start_bot(f"subscribers-{i}", [
                "--role", "subscribers", "--count", str(count), "--first", str(first),
                "--feed", str(pub.last["feed"] if pub.last else ""), *bound,
            ])
            subs.append(bot)
            bots.append(bot)

        def ready() -> int:
            return sum((b.last or {}).get("ready", 0) for b in subs)

        def check_alive() -> bool:
            for b in bots:
                if b.proc.returncode is not None:
                    raise RuntimeError(f"bot {b.name} exited ({b.proc.returncode}); "
                                       f"see {work / (b.name + '.log')}")
            refused: int = sum((b.last or {}).get("refused", 0) for b in subs)
            return ready() + refused >= n

        try:
            await wait_until(check_alive, 60 + n, f"{n} subscribers to receive media")
        except TimeoutError:
            if not opts.overload:
                raise  # past saturation not everyone may get media: measure what is

        await asyncio.sleep(opts.warmup)
        loaded = await Window(server, bots).measure(opts.window)
        t0, t1 = loaded["t0"], loaded["t1"]
        marginal = (loaded["node_cpu_cores"] - base["node_cpu_cores"]) / n
        result: dict[str, Any] = {
            "setup": setup, "n": n, "receivers": opts.receivers,
            "window_s": round(t1 - t0, 2),
            "node_cpu_cores": round(loaded["node_cpu_cores"], 4),
            "node_cpu_cores_publisher_only": round(base["node_cpu_cores"], 4),
            "marginal_cpu_millicores_per_subscriber": round(marginal * 1000, 3),
            "node_rss_mb": round(loaded["node_rss_mb"], 1),
            "node_rss_mb_publisher_only": round(base["node_rss_mb"], 1),
            **publisher_metrics(pub, t0, t1),
            **subscriber_metrics(subs, t0, t1),
            "bots_cpu_cores": round(loaded["bots_cpu_cores"], 3),
            "machine_busy_cores": round(loaded["machine_busy_cores"], 3),
            **loaded["node_counters"],
            **survival(subs),
        }
        result["publisher_fps_at_node"] = at_node(result)
        forwarded = result["forwarded_pps"]
        result["node_us_per_forwarded_packet"] = (
            round(marginal * n / forwarded * 1e6, 2) if forwarded else None
        )
        return result
    finally:
        await asyncio.gather(*(b.stop() for b in bots), return_exceptions=True)
        await server.stop()


async def run_soak(opts: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Liveroom only, N subscribers for a long window: node RSS sampled along the way."""
    n, setup = opts.soak_n, opts.soak_setup
    _mkdir(work)
    bound = ["--max-seconds", str(opts.soak_seconds + 300), "--receivers", opts.receivers]
    server = await start_server(setup, work, n, opts)
    bots: list[Bot] = []
    try:
        pub = await server.start_bot("publisher", ["--role", "publisher", *bound])
        bots.append(pub)
        await wait_until(lambda: bool(pub.last and pub.last.get("video_frames")), 60,
                         "the publisher")
        subs = []
        for i, first in enumerate(range(0, n, opts.per_bot)):
            bot = await server.start_bot(f"subscribers-{i}", [
                "--role", "subscribers", "--count", str(min(opts.per_bot, n - first)),
                "--first", str(first), *bound])
            subs.append(bot)
            bots.append(bot)
        await wait_until(lambda: sum((b.last or {}).get("ready", 0) for b in subs) >= n,
                         60 + n, f"{n} subscribers")
        await asyncio.sleep(opts.warmup)
        samples: list[tuple[float, float]] = []
        pids = [server.pid]
        counters_a = await node_counters(server)
        a = procstat.Sample.take(time.monotonic(), pids)
        started = time.monotonic()
        while time.monotonic() - started < opts.soak_seconds:
            samples.append((round(time.monotonic() - started, 1),
                            round(procstat.rss_bytes(server.pid) / 2**20, 2)))
            await asyncio.sleep(min(10.0, opts.soak_seconds / 10))
        samples.append((round(time.monotonic() - started, 1),
                        round(procstat.rss_bytes(server.pid) / 2**20, 2)))
        b = procstat.Sample.take(time.monotonic(), pids)
        counters_b = await node_counters(server)
        await asyncio.sleep(1.3)
        first_mb, last_mb = samples[0][1], samples[-1][1]
        peak = max(mb for _, mb in samples)
        return {
            "setup": setup, "n": n, "mode": "soak", "window_s": round(b.t - a.t, 1),
            "node_cpu_cores": round(procstat.cores(a, b, pids), 4),
            "node_rss_mb_start": first_mb, "node_rss_mb_end": last_mb, "node_rss_mb_peak": peak,
            "node_rss_growth_pct": round(100 * (last_mb - first_mb) / first_mb, 2),
            "node_rss_peak_over_start_pct": round(100 * (peak - first_mb) / first_mb, 2),
            "node_rss_mb_series": samples,
            **publisher_metrics(pub, a.t, b.t),
            **subscriber_metrics(subs, a.t, b.t),
            **counter_rates(counters_a, counters_b, b.t - a.t),
        }
    finally:
        await asyncio.gather(*(b.stop() for b in bots), return_exceptions=True)
        await server.stop()


# --- reporting -----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {"python": platform.python_version()}
    for module in ("aiortc", "aioice", "av", "aiohttp", "pylibsrtp", "uvloop"):
        with contextlib.suppress(Exception):
            versions[module] = __import__(module).__version__
    with contextlib.suppress(Exception):
        import subprocess
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "janus"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            versions["janus"] = out.stdout.strip()
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "versions": versions}


def table(results: list[dict[str, Any]]) -> str:
    head = (f"{'setup':16} {'N':>3} {'rnd':>3} {'node cores':>10} {'pub-only':>8} "
            f"{'mc/sub':>7} {'us/pkt':>6} {'RSS MB':>7} {'fps min/med':>12} "
            f"{'audio pps':>9} {'lost':>5} {'fwd pps':>8} {'machine':>7}")
    lines = [head, "-" * len(head)]
    for r in results:
        if r.get("mode") == "soak" or "error" in r:
            continue
        fps = r["video_fps"]
        lines.append(
            f"{r['setup']:16} {r['n']:>3} {r.get('round', 0):>3} {r['node_cpu_cores']:>10.3f} "
            f"{r['node_cpu_cores_publisher_only']:>8.3f} "
            f"{r['marginal_cpu_millicores_per_subscriber']:>7.2f} "
            f"{r['node_us_per_forwarded_packet'] or 0:>6.1f} {r['node_rss_mb']:>7.1f} "
            f"{fps['min']:>5.1f}/{fps['median']:<6.1f} {r['audio_pps']['median']:>9.1f} "
            f"{r['lost_packets']:>5} {r['forwarded_pps']:>8.0f} {r['machine_busy_cores']:>7.2f}"
        )
    return "\n".join(lines)


def ratios(results: list[dict[str, Any]], setup: str = "liveroom") -> list[dict[str, Any]]:
    """Liveroom/Janus marginal CPU per subscriber, pair by pair (same round and N)."""
    out = []
    janus = {(r["round"], r["n"]): r for r in results if r["setup"] == "janus" and "error" not in r}
    for r in results:
        other = janus.get((r.get("round"), r.get("n")))
        if r["setup"] != setup or other is None or "error" in r:
            continue
        j = other["marginal_cpu_millicores_per_subscriber"]
        ratio = r["marginal_cpu_millicores_per_subscriber"] / j if j > 0 else math.inf
        out.append({"setup": setup, "round": r["round"], "n": r["n"],
                    "liveroom_mc": r["marginal_cpu_millicores_per_subscriber"],
                    "janus_mc": j, "ratio": round(ratio, 2)})
    return out


RATIO_TARGETS = {1: 1.5, 4: 1.5, 16: 1.0, 64: 1.5}
"""Most Liveroom/Janus marginal CPU per subscriber (median of the pairs) at N (issue 16)."""


def checks(results: list[dict[str, Any]], pairs: list[dict[str, Any]]) -> list[tuple[bool, str]]:
    verdicts: list[tuple[bool, str]] = []
    for n, target in RATIO_TARGETS.items():
        mine = [p["ratio"] for p in pairs if p["n"] == n]
        if mine:
            med = statistics.median(mine)
            verdicts.append((med <= target, f"N={n}: Liveroom/Janus marginal CPU ratio "
                             f"{med:.2f} (pairs {mine}) <= {target}"))
    for r in results:
        if "error" in r or r.get("mode") == "soak":
            continue
        full = r["publisher_fps"] * 0.95
        verdicts.append((r["video_fps"]["min"] >= full,
                         f"{r['setup']} N={r['n']}: every subscriber at the publisher's frame "
                         f"rate (min {r['video_fps']['min']} vs {r['publisher_fps']})"))
        verdicts.append((r["lost_packets"] == 0,
                         f"{r['setup']} N={r['n']}: no loss ({r['lost_packets']} lost)"))
        if r["setup"].startswith("liveroom") and r["n"] >= 96:
            verdicts.append((r["video_fps"]["min"] >= 29.0,
                             f"{r['setup']} N={r['n']}: 30 fps held (min "
                             f"{r['video_fps']['min']})"))
    return verdicts


# --- main ----------------------------------------------------------------------------------


def plan(opts: argparse.Namespace) -> list[tuple[int, int, str]]:
    """(round, N, setup) in run order: setups alternate which one goes first."""
    runs = []
    flip = 0
    for rnd in range(opts.rounds):
        for n in opts.steps:
            order = list(opts.setups)
            if flip % 2:
                order.reverse()
            flip += 1
            runs += [(rnd, n, setup) for setup in order]
    return runs


async def main_async(opts: argparse.Namespace) -> int:
    work = Path(opts.work_dir or tempfile.mkdtemp(prefix="liveroom-bench-"))
    info = machine_info()
    print(f"# machine: nproc={info['nproc']} cpu={info['cpu_model']!r} "
          f"versions={info['versions']}", flush=True)
    print(f"# logs in {work}", flush=True)
    results: list[dict[str, Any]] = []
    if opts.soak:
        result = await run_soak(opts, work / "soak")
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("per_")}),
              flush=True)
        flat = abs(result["node_rss_growth_pct"]) <= 10 and result[
            "node_rss_peak_over_start_pct"] <= 10
        verdicts = [(flat, f"soak N={result['n']}: RSS {result['node_rss_mb_start']} -> "
                           f"{result['node_rss_mb_end']} MB (peak {result['node_rss_mb_peak']})"
                           f" within 10%")]
    else:
        for rnd, n, setup in plan(opts):
            print(f"# round {rnd} N={n} {setup} ...", flush=True)
            try:
                result = await run_one(setup, n, opts, work / f"r{rnd}-n{n}-{setup}")
            except (RuntimeError, TimeoutError, OSError) as exc:
                result = {"setup": setup, "n": n, "error": str(exc)}
                print(f"#   failed: {exc}", flush=True)
            result["round"] = rnd
            results.append(result)
            if "error" not in result:
                print(table([result]).splitlines()[-1], flush=True)
        print()
        print(table(results))
        if opts.overload:
            print("\nOverload (past saturation):")
            print(overload_table(results))
        pairs = [p for s in opts.setups if s != "janus" for p in ratios(results, s)]
        if pairs:
            print("\nLiveroom/Janus marginal CPU per subscriber, pair by pair:")
            for p in pairs:
                print(f"  round {p['round']} N={p['n']:>3} {p['setup']:16} "
                      f"{p['liveroom_mc']:7.2f} / {p['janus_mc']:6.2f} mc = {p['ratio']:.2f}")
        verdicts = (overload_checks(results) if opts.overload
                    else checks(results, [p for p in pairs if p["setup"] == "liveroom"]))
    print()
    for ok, text in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    report = {"machine": info, "options": {k: v for k, v in vars(opts).items()},
              "results": results, "started_in": str(work)}
    if not opts.soak:
        report["ratios"] = pairs
    if opts.out:
        _write(Path(opts.out), json.dumps(report, indent=1) + "\n")
        print(f"\nreport: {opts.out}")
    failed = any("error" in r for r in results) or not all(ok for ok, _ in verdicts)
    return 1 if opts.check and failed else 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest.forwarding", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="",
                        help="subscriber counts N (default 1,4,16,64,96; 64,96,128 with "
                        "--overload)")
    parser.add_argument("--setups", default="liveroom,janus",
                        help=f"comma-separated, of {', '.join(SETUPS)} (janus skipped if "
                             "not installed)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole plan")
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds (loaded)")
    parser.add_argument("--base-window", type=float, default=10.0,
                        help="measured seconds with the publisher alone")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--per-bot", type=int, default=16, help="subscribers per bot process")
    parser.add_argument("--receivers", choices=RECEIVERS, default="aiortc",
                        help="subscribers: aiortc receivers with browser-like RTCP and no "
                        "decoding, or counting bots with no feedback")
    parser.add_argument("--overload", action="store_true",
                        help="steps past saturation; report survival, not only CPU")
    parser.add_argument("--admission", action="store_true",
                        help="let the node refuse joins while overloaded (default: it only "
                        "measures and sheds)")
    parser.add_argument("--shed", action=argparse.BooleanOptionalAction, default=True,
                        help="the node's load shedding (learners' videos first)")
    parser.add_argument("--out", default="", help="write the JSON report here")
    parser.add_argument("--work-dir", default="", help="logs (default: a new temp dir)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--soak", action="store_true", help="memory soak instead of steps")
    parser.add_argument("--soak-n", type=int, default=32)
    parser.add_argument("--soak-seconds", type=float, default=300.0)
    parser.add_argument("--soak-setup", default="liveroom", choices=SETUPS[:2])
    recording.add_option(parser)
    opts = parser.parse_args(argv)
    steps = opts.steps or ("64,96,128" if opts.overload else "1,4,16,64,96")
    opts.steps = [int(x) for x in steps.split(",") if x.strip()]
    opts.setups = [s.strip() for s in opts.setups.split(",") if s.strip()]
    bad = [s for s in opts.setups if s not in SETUPS]
    if bad or not opts.steps or any(not 1 <= n <= 256 for n in opts.steps):
        parser.error(f"bad --setups {bad} or --steps (1..256)")
    if not 1 <= opts.rounds <= 20 or not 1 <= opts.per_bot <= 64:
        parser.error("--rounds 1..20, --per-bot 1..64")
    if not 0 < opts.window <= 3600 or not 0 < opts.soak_seconds <= 24 * 3600:
        parser.error("windows must be positive and bounded")
    if "janus" in opts.setups and not janus_available():
        print("# janus is not installed: measuring Liveroom only", file=sys.stderr)
        opts.setups.remove("janus")
    opts.bot_max_seconds = int(opts.warmup * 2 + opts.base_window + opts.window
                               + 240 + 2 * max(opts.steps))
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)

    async def runner() -> int:
        task = asyncio.ensure_future(main_async(opts))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # also if started with SIGINT ignored
            loop.add_signal_handler(sig, task.cancel)
        return await task

    try:
        return asyncio.run(runner())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: servers and bots stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
