"""The recorder's cost in the forwarding benchmark: a recorded 1:1 room against an unrecorded one.

    python -m loadtest.recording [--rounds 3] [--n 1] [--out report.json]
    scripts/bench-forwarding --record ...       (every Liveroom run of the benchmark recorded)

Each round runs the forwarding benchmark's `run_one` twice for the same N (one publisher bot,
a tutor, whose tracks the room's policy records without a consent claim; N subscriber bots,
observers, never recorded): once with recording on (`LIVEROOM_RECORDING_POLICY=audio_video`,
auto start) and once without, the order alternating by round so the machine's drift hits
both. The figure is the node's CPU in the loaded window, recorded minus unrecorded, pair by
pair. Beside it: the recorder's muxing threads' own CPU (the timeline's `track_ended`
lines, written when the node finalizes on stop) and what it wrote (segments, bytes), which
also shows that the recorded runs did record.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any


def recorded(work: Path) -> dict[str, Any]:
    """What the node in `work` recorded: tracks, sealed segments and bytes, muxing CPU."""
    tracks = segments = written = 0
    cpu = 0.0
    for session in sorted((work / "liveroom-data" / "recordings").glob("*/")):
        for line in _lines(session / "timeline.jsonl"):
            if line.get("event") == "track_ended":
                tracks += 1
                cpu += float(line.get("cpu_s", 0.0))
        for line in _lines(session / "manifest.jsonl"):
            if "segment" in line:
                segments += 1
                written += int(line.get("bytes", 0))
    return {"recorded_tracks": tracks, "recorded_segments": segments,
            "recorded_mb": round(written / 2**20, 2), "recorder_thread_cpu_s": round(cpu, 2)}


def _write(path: Path, text: str) -> None:
    path.write_text(text + "\n")


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for raw in path.read_text().splitlines()[:100_000]:
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue  # a torn last line
    return out


def pairs(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded minus unrecorded node CPU (millicores), round by round."""
    by = {(r["round"], r["record"]): r for r in results if "error" not in r}
    out = []
    for (rnd, record), on in sorted(by.items()):
        off = by.get((rnd, False))
        if not record or off is None:
            continue
        out.append({
            "round": rnd, "n": on["n"],
            "recorded_mc": round(on["node_cpu_cores"] * 1000, 1),
            "unrecorded_mc": round(off["node_cpu_cores"] * 1000, 1),
            "marginal_mc": round((on["node_cpu_cores"] - off["node_cpu_cores"]) * 1000, 1),
            "publisher_only_marginal_mc": round(
                (on["node_cpu_cores_publisher_only"] - off["node_cpu_cores_publisher_only"])
                * 1000, 1),
            "recorder_threads_mc": round(
                on["recorder_thread_cpu_s"] / on["node_lifetime_s"] * 1000, 1)
            if on.get("node_lifetime_s") else None,
            "machine_busy_cores": [on["machine_busy_cores"], off["machine_busy_cores"]],
        })
    return out


async def main_async(opts: argparse.Namespace) -> int:
    from . import forwarding  # the benchmark's own run (servers, bots, windows)

    work = Path(opts.work_dir or tempfile.mkdtemp(prefix="liveroom-bench-rec-"))
    print(f"# logs in {work}", flush=True)
    results: list[dict[str, Any]] = []
    for rnd in range(opts.rounds):
        order = [True, False] if rnd % 2 == 0 else [False, True]
        for record in order:
            opts.record = record
            where = work / f"r{rnd}-n{opts.n}-{'rec' if record else 'plain'}"
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                result = await forwarding.run_one("liveroom", opts.n, opts, where)
            except (RuntimeError, TimeoutError, OSError) as exc:
                result = {"n": opts.n, "error": str(exc)}
            result |= {"round": rnd, "record": record, **recorded(where),
                       "node_lifetime_s": round(loop.time() - started, 1)}
            results.append(result)
            print(json.dumps({k: result.get(k) for k in (
                "round", "record", "n", "node_cpu_cores", "node_cpu_cores_publisher_only",
                "machine_busy_cores", "recorded_tracks", "recorded_segments", "recorded_mb",
                "recorder_thread_cpu_s", "error")}), flush=True)
    found = pairs(results)
    print("\nrecorded - unrecorded node CPU, loaded window (millicores):")
    for p in found:
        print(f"  round {p['round']} N={p['n']}: {p['recorded_mc']} - {p['unrecorded_mc']} = "
              f"{p['marginal_mc']} mc (publisher alone: {p['publisher_only_marginal_mc']}; "
              f"muxing threads {p['recorder_threads_mc']} mc; machine busy "
              f"{p['machine_busy_cores']} cores)")
    if found:
        print(f"  median {statistics.median(p['marginal_mc'] for p in found):.1f} mc")
    if opts.out:
        _write(Path(opts.out), json.dumps({"results": results, "pairs": found}, indent=1))
    failed = any("error" in r for r in results) or any(
        r["record"] and not r["recorded_segments"] for r in results if "error" not in r)
    return 1 if failed else 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    from . import forwarding

    parser = argparse.ArgumentParser(prog="python -m loadtest.recording", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1, help="subscribers (1: a 1:1 room)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="")
    known, rest = parser.parse_known_args(argv)
    if not 1 <= known.n <= 16 or not 1 <= known.rounds <= 10:
        parser.error("--n 1..16, --rounds 1..10")
    opts = forwarding.parse([*rest, "--steps", str(known.n), "--setups", "liveroom"])
    opts.n, opts.rounds, opts.out = known.n, known.rounds, known.out
    return opts


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
