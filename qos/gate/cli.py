"""`liveroom-gate` (or `python -m qos.gate`): run the release quality gate and write its
report.

Exit status 0 when every hard threshold holds and no p95 regressed against the baseline,
1 otherwise (each failure names the profile and the metric), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .baseline import baseline_metrics, load_baseline
from .profiles import parse_profiles
from .thresholds import DEFAULT_PATH, load

if TYPE_CHECKING:
    from .model import GateReport
    from .runner import GateConfig

__all__ = ["add_arguments", "main", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", default="all",
                        help="comma-separated: P0..P8, P7:<seconds>, all (default all)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per profile (3)")
    parser.add_argument("--duration", type=float, default=45.0,
                        help="seconds per run, warm-up included (45)")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds discarded at the start of each run (5)")
    parser.add_argument("--scenario", choices=["1:1", "1:3"], default="1:1",
                        help="1:1 (tutor and learner) or 1:3 (tutor and three learners)")
    parser.add_argument("--url", help="run against this node instead of one in-process")
    parser.add_argument("--token-secret", help="the --url node's LIVEROOM_TOKEN_SECRET")
    parser.add_argument("--ice-address", action="append", dest="ice_addresses",
                        help="ICE host address for the clients (and the in-process node); "
                             "repeatable; default 127.0.0.1")
    parser.add_argument("--thresholds", type=Path, default=DEFAULT_PATH,
                        help="thresholds TOML (default: the gate's thresholds.toml)")
    parser.add_argument("--baseline", type=Path,
                        help="a previous report.json: fail on p95 regressions > 10%%")
    parser.add_argument("--out", type=Path, default=Path("gate-report"),
                        help="directory for report.json, junit.xml, report.html")
    parser.add_argument("--seed", type=int, default=1, help="impairment seed (1)")
    parser.add_argument("--probe-size", default="640x480",
                        help="probe video WIDTHxHEIGHT (640x480)")
    parser.add_argument("--psnr-every", type=int, default=3,
                        help="PSNR of every n-th new probe picture (3)")
    parser.add_argument("--retries", type=int, default=1,
                        help="run again a repeat the busy host mostly disturbed (1)")
    parser.add_argument("--from-report", type=Path,
                        help="judge the runs of this report.json again instead of measuring")
    parser.add_argument("--receiver", choices=["browser", "aiortc"], default="browser",
                        help="the measured learner's receive pipeline: browser-like "
                             "(NACK retries, keyframe recovery, playout delay, lip sync) "
                             "or aiortc's own (browser)")
    parser.add_argument("--encoder-floor", type=int, default=30, metavar="KBPS",
                        help="lowest bitrate of the probe's VP8 encoder: 30 as Chrome's; "
                             "250 is aiortc's own (30)")
    parser.add_argument("--outage", choices=["impairment", "link"], default="impairment",
                        help="P7's outage: in the client process (impairment, default) or a "
                             "real link cut, the learner behind a veth set down (link; needs "
                             "root, else the impairment with a note in the report)")
    parser.add_argument("--quiet", action="store_true", help="only print the verdict")


def config_from(args: argparse.Namespace) -> GateConfig:
    from qos.probe_source import ProbeConfig

    from .runner import GateConfig

    width, _, height = args.probe_size.partition("x")
    return GateConfig(
        profiles=parse_profiles(args.profiles),
        repeats=args.repeats,
        duration_s=args.duration,
        warmup_s=args.warmup,
        scenario=args.scenario,
        url=args.url,
        token_secret=args.token_secret,
        ice_addresses=tuple(args.ice_addresses or ["127.0.0.1"]),
        seed=args.seed,
        probe=ProbeConfig(width=int(width), height=int(height)),
        psnr_every=args.psnr_every,
        retries=args.retries,
        receiver=args.receiver,
        encoder_floor_kbps=args.encoder_floor,
        outage=args.outage,
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
        thresholds = load(args.thresholds)
        baseline = baseline_metrics(load_baseline(args.baseline)) if args.baseline else None
        if args.repeats < 1 or args.duration <= args.warmup:
            raise ValueError("need --repeats ≥ 1 and --duration > --warmup")
        if not 10 <= args.encoder_floor <= 1500:
            raise ValueError("--encoder-floor must be 10..1500 kbps")
        if args.url and not args.token_secret:
            raise ValueError("--url needs --token-secret")
    except (ValueError, OSError) as exc:
        print(f"liveroom-gate: {exc}", file=sys.stderr)
        return 2
    from .runner import rejudge, run_gate

    if args.from_report:
        try:
            report = rejudge(load_baseline(args.from_report), thresholds, baseline)
        except (ValueError, KeyError, TypeError) as exc:
            print(f"liveroom-gate: {args.from_report}: {exc}", file=sys.stderr)
            return 2
        return _finish(report, args.out)
    _quiet_logs()

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    report = asyncio.run(run_gate(config, thresholds, baseline, progress))
    return _finish(report, args.out)


def _finish(report: GateReport, out: Path) -> int:
    from .outputs import write_all

    paths = write_all(report, out)
    print(f"quality gate: {'PASS' if report.passed else 'FAIL'} "
          f"({len(report.failures)} failures, {len(report.warnings)} warnings); "
          f"report: {paths['html']}")
    for check in report.failures:
        print(f"  FAIL {check.message}")
    return 0 if report.passed else 1


def _quiet_logs() -> None:
    """The node runs in this process: keep its per-event logs out of the gate's output."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("aiortc").setLevel(logging.WARNING)
    logging.getLogger("aioice").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liveroom-gate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
