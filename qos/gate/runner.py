"""Run the gate: every profile, every repeat, then judge (thresholds and baseline)."""

from __future__ import annotations

import asyncio
import datetime
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiortc.codecs.vpx

from qos.probe_source import ProbeConfig
from signalling.client.clip import Clip, encode_clip

from . import netcut
from .aggregate import profile_metrics
from .baseline import compare
from .load import runs_from_report
from .model import Check, GateReport, ProfileResult, RunResult
from .node import GateNode
from .profiles import Profile, profile
from .run import RunConfig, run_once
from .thresholds import Thresholds, evaluate

__all__ = ["SCHEMA", "GateConfig", "judge", "overloaded", "rejudge", "run_gate"]

SCHEMA = 1
SCENARIOS = {"1:1": 1, "1:3": 3}
LEARNER_LADDER = ((320, 240, 300_000, 1), (320, 240, 150_000, 1), (160, 120, 60_000, 1),
                  (160, 120, 30_000, 2))
"""The learners' video (width, height, target bps, frames per picture): pre-encoded
renditions, cheap to send, that a learner moves between as the REMB it gets allows, as a
browser's encoder lowers its bitrate, resolution and picture rate (as encoded: about 310,
180, 65 and 40 kbps)."""


def learner_ladder() -> list[Clip]:
    return [encode_clip(4.0, 30, w, h, bps, hold) for w, h, bps, hold in LEARNER_LADDER]


@dataclass(frozen=True)
class GateConfig:
    profiles: list[Profile]
    repeats: int = 3
    duration_s: float = 45.0
    warmup_s: float = 5.0
    scenario: str = "1:1"
    url: str | None = None
    token_secret: str | None = None
    ice_addresses: tuple[str, ...] = ("127.0.0.1",)
    seed: int = 1
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    psnr_every: int = 3
    retries: int = 1
    """Extra attempts for a run that host stalls mostly disturbed (see `qos.gate.host`)."""
    receiver: str = "browser"
    """The subject's receive pipeline: "browser" (signalling/client/reception.py) or "aiortc"."""
    encoder_floor_kbps: int = 30
    """The lowest bitrate the tutor's probe encoder goes down to. Chrome's VP8 goes to
    30 kbps; aiortc's stops at 250 kbps, below what P5 and a shared P4 link allow."""
    outage: str = "impairment"
    """How P7 takes the subject's network down: "impairment" (in the client process) or
    "link" (its sockets in a namespace of their own behind a veth set down: `netcut`)."""

    def run_config(self) -> RunConfig:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}")
        return RunConfig(duration_s=self.duration_s, warmup_s=self.warmup_s,
                         learners=SCENARIOS[self.scenario], probe=self.probe,
                         psnr_every=self.psnr_every, receiver=self.receiver)

    def describe(self) -> dict[str, Any]:
        return {
            "profiles": [p.name for p in self.profiles], "repeats": self.repeats,
            "duration_s": self.duration_s, "warmup_s": self.warmup_s,
            "scenario": self.scenario, "node": self.url or "in-process",
            "ice_addresses": list(self.ice_addresses), "seed": self.seed,
            "probe": asdict(self.probe), "psnr_every": self.psnr_every,
            "retries": self.retries, "receiver": self.receiver,
            "encoder_floor_kbps": self.encoder_floor_kbps, "outage": self.outage,
            "learner_video_kbps": [bps // 1000 for _, _, bps, _ in LEARNER_LADDER],
        }


def machine() -> dict[str, Any]:
    """What the figures were measured on (they depend on it)."""
    info: dict[str, Any] = {
        "host": platform.node(), "platform": platform.platform(),
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }
    try:
        import aiortc

        info["aiortc"] = aiortc.__version__
    except Exception:  # pragma: no cover
        pass
    try:
        with open("/proc/cpuinfo") as f:
            models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu"] = models[0] if models else None
        info["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def judge(
    profile: Profile,
    runs: list[RunResult],
    thresholds: Thresholds,
    baseline: dict[str, dict[str, float | None]] | None = None,
) -> ProfileResult:
    """Pool a profile's runs and check them (pure)."""
    metrics = profile_metrics(runs)
    checks = [
        Check(profile.name, "run", None, "completes", "error", False,
              f"{profile.name} repeat {r.repeat}: {r.error}")
        for r in runs if r.error is not None
    ]
    busy = metrics.get("disturbed_pct") or 0.0
    for check in evaluate(profile.name, profile.group, metrics, thresholds):
        if check.value is None and not check.passed and busy >= 50:
            check.message += (f" - the measuring host was too busy ({busy:.0f}% of seconds "
                              "disturbed)")
        checks.append(check)
    if baseline is not None:
        checks += compare(profile.name, metrics, baseline, thresholds)
    return ProfileResult(profile.name, profile.title, profile.group, asdict(profile.link),
                         runs, metrics, checks)


def rejudge(
    stored: dict[str, Any],
    thresholds: Thresholds,
    baseline: dict[str, dict[str, float | None]] | None = None,
) -> GateReport:
    """Judge the runs of a stored report again (current thresholds and baseline)."""
    runs = runs_from_report(stored)
    report = GateReport(SCHEMA, thresholds.version, stored.get("started", ""),
                        stored.get("finished", ""), dict(stored.get("machine", {})),
                        dict(stored.get("config", {})), known_gaps=thresholds.gap_reasons())
    report.config["rejudged_from_thresholds_version"] = stored.get("thresholds_version")
    for name, profile_runs in runs.items():
        report.profiles.append(judge(profile(name), profile_runs, thresholds, baseline))
    report.node_checks = [Check(**c) for c in stored.get("node_checks", [])]
    return report


def overloaded(run: RunResult, limit: float = 0.5) -> bool:
    """Host stalls disturbed more than `limit` of the run's seconds."""
    if run.error is not None or not run.samples:
        return False
    return sum(s.disturbed for s in run.samples) > limit * len(run.samples)


async def _link_cut(config: GateConfig, report: GateReport,
                    progress: Callable[[str], None]) -> netcut.LinkCut | None:
    """The real link for P7 if asked for and possible; the report says which cut ran."""
    if config.outage != "link" or not any(p.outage_s for p in config.profiles):
        report.config["outage_cut"] = "impairment"
        return None
    why = "the node is not in this process (--url)" if config.url else netcut.LinkCut.usable()
    if why is None:
        cut = netcut.LinkCut()
        try:
            await cut.start()
        except (OSError, RuntimeError, TimeoutError) as exc:
            await cut.close()
            why = f"the link could not be made: {exc}"
        else:
            report.config["outage_cut"] = "link"
            return cut
    note = f"--outage link asked for, but {why}: P7 used the in-process impairment"
    progress(f"  {note}")
    report.config["outage_cut"] = "impairment"
    report.config["outage_cut_note"] = note
    return None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


async def run_gate(
    config: GateConfig,
    thresholds: Thresholds,
    baseline: dict[str, dict[str, float | None]] | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> GateReport:
    """Run every profile `repeats` times against the node and judge the results."""
    run_config = config.run_config()
    report = GateReport(SCHEMA, thresholds.version, _now(), "", machine(), config.describe(),
                        known_gaps=thresholds.gap_reasons())
    clip = learner_ladder()
    cut = await _link_cut(config, report, progress)
    if config.url:
        if not config.token_secret:
            raise ValueError("--url needs --token-secret (the node's LIVEROOM_TOKEN_SECRET)")
        node = GateNode.remote(config.url, config.token_secret, config.ice_addresses)
    elif cut is not None:  # the node is reached over the veth too
        node = await GateNode.local((*config.ice_addresses, cut.node_address),
                                    also_on=cut.node_address)
    else:
        node = await GateNode.local(config.ice_addresses)
    undo = netcut.install(asyncio.get_running_loop()) if cut is not None else None
    floor, aiortc.codecs.vpx.MIN_BITRATE = aiortc.codecs.vpx.MIN_BITRATE, (
        config.encoder_floor_kbps * 1000)  # read by every Vp8Encoder of this process
    try:
        for index, profile in enumerate(config.profiles):
            runs = []
            for repeat in range(config.repeats):
                seed = config.seed * 1000 + index * 10 + repeat
                progress(f"{profile.name} ({profile.title}) run {repeat + 1}/{config.repeats}")
                run = await run_once(node, profile, repeat, seed, run_config, clip, cut)
                for _ in range(config.retries):
                    if not overloaded(run):
                        break
                    progress("  the host was too busy to measure: running it again")
                    await asyncio.sleep(2.0)
                    run = await run_once(node, profile, repeat, seed, run_config, clip, cut)
                runs.append(run)
                if run.error:
                    progress(f"  error: {run.error}")
                await asyncio.sleep(0.5)  # let the node close the room's connections
            result = judge(profile, runs, thresholds, baseline)
            report.profiles.append(result)
            for failure in node.failures():
                message = f"node: during {profile.name}, {failure}"
                progress(f"  {message}")
                report.node_checks.append(
                    Check("node", "node", None, "no error", "error", False, message))
            verdict = "pass" if result.passed else "FAIL"
            progress(f"  {profile.name}: {verdict}")
            for check in result.checks:
                if not check.passed:
                    progress(f"    [{check.level}] {check.message}")
    finally:
        aiortc.codecs.vpx.MIN_BITRATE = floor
        if undo is not None:
            undo()
        if cut is not None:
            await cut.close()
        try:
            await node.close()
        except Exception as exc:  # a background task of the node died during the gate
            if not report.node_checks:
                message = f"node: failed while running the gate: {type(exc).__name__}: {exc}"
                progress(f"  {message}")
                report.node_checks.append(
                    Check("node", "node", None, "no error", "error", False, message))
    report.finished = _now()
    return report
