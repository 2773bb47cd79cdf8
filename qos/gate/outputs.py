"""Write a gate report: JSON (the record, and a later baseline), JUnit XML (for CI) and a
self-contained HTML page with inline SVG charts (no network, no scripts)."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import asdict
from html import escape
from pathlib import Path
from typing import Any

from qos.impairment import LinkProfile

from .aggregate import METRICS
from .model import Check, GateReport, ProfileResult, RunResult, Sample
from .svg import PALETTE, Band, Series, line_chart, timeline

__all__ = ["to_html", "to_json", "to_junit", "write_all"]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def to_json(report: GateReport) -> dict[str, Any]:
    data: dict[str, Any] = _finite(asdict(report))
    data["passed"] = report.passed
    data["failures"] = [asdict(c) for c in report.failures]
    data["warnings"] = [asdict(c) for c in report.warnings]
    for profile, out in zip(report.profiles, data["profiles"], strict=True):
        out["passed"] = profile.passed
    return data


def to_junit(report: GateReport) -> str:
    """One test suite per profile, one test case per check; warnings go to system-out."""
    root = ET.Element("testsuites", name="liveroom-quality-gate",
                      tests=str(len(report.checks)), failures=str(len(report.failures)))
    suites = [(f"{p.name} {p.title}", p.name, p.checks) for p in report.profiles]
    if report.node_checks:
        suites.append(("node", "node", report.node_checks))
    for suite_name, name, checks in suites:
        failed = [c for c in checks if c.fails]
        suite = ET.SubElement(root, "testsuite", name=suite_name,
                              tests=str(len(checks)), failures=str(len(failed)),
                              errors="0", skipped="0")
        for check in checks:
            case = ET.SubElement(suite, "testcase", classname=f"gate.{name}",
                                 name=f"{check.metric} {check.limit}")
            if check.fails:
                failure = ET.SubElement(case, "failure", message=check.message,
                                        type=check.level)
                failure.text = check.message
            elif not check.passed:
                out = ET.SubElement(case, "system-out")
                out.text = f"warning: {check.message}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


# --- HTML ----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1180px; }
h1 { margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ccc; }
.verdict { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: bold;
  color: #fff; }
.pass { background: #2e7d32; } .fail { background: #c62828; } .warn { color: #a65e00; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fdecea; } tr.warned td { background: #fff6e0; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
.charts svg { border: 1px solid #eee; background: #fff; }
.meta { color: #555; font-size: 13px; }
ul.reasons li { margin: 2px 0; }
"""


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _status(check: Check) -> tuple[str, str]:
    if check.passed:
        return "", "ok"
    if check.level == "warn":
        return "warned", "known gap" if check.gap else "warning"
    return "bad", "FAIL"


def _checks_table(profile: ProfileResult) -> str:
    rows = []
    for check in profile.checks:
        cls, text = _status(check)
        rows.append(
            f'<tr class="{cls}"><td>{escape(check.metric)}</td>'
            f'<td class="num">{_num(check.value)}</td><td>{escape(check.limit)}</td>'
            f"<td>{escape(check.level)}</td><td>{text}</td></tr>")
    judged = {c.metric for c in profile.checks}
    for name, value in sorted(profile.metrics.items()):
        if name not in judged:
            rows.append(f'<tr><td>{escape(name)}</td><td class="num">{_num(value)}</td>'
                        "<td>reported</td><td></td><td></td></tr>")
    return ("<table><tr><th>metric</th><th>value</th><th>limit</th><th>level</th>"
            "<th>status</th></tr>" + "".join(rows) + "</table>")


def _bands(run: RunResult) -> list[Band]:
    return [Band(d.start_t, d.start_t + max(d.duration_s, 0.3),
                 f"{d.kind} {d.duration_s:g} s (run {run.repeat + 1})")
            for d in run.disruptions]


def _series(profile: ProfileResult, label: str, field: str, *, dashed: bool = False,
            offset: int = 0) -> list[Series]:
    out = []
    for i, run in enumerate(profile.runs):
        points = [(s.t, _get(s, field)) for s in run.samples]
        out.append(Series(f"{label} run {run.repeat + 1}", points,
                          PALETTE[(i + offset) % len(PALETTE)], dashed))
    return out


def _get(sample: Sample, field: str) -> float | None:
    value = getattr(sample, field)
    return None if value is None else float(value)


def _limit(profile: ProfileResult, metric: str) -> float | None:
    for check in profile.checks:
        if check.metric == metric and check.level == "hard":
            try:
                return float(check.limit.split()[-1])
            except ValueError:
                return None
    return None


def _charts(profile: ProfileResult) -> str:
    bands = [b for run in profile.runs for b in _bands(run)]
    charts = [
        line_chart("Latency", _series(profile, "glass-to-glass", "g2g_ms")
                   + _series(profile, "RTT", "rtt_ms", dashed=True),
                   y_label="ms", limit=_limit(profile, "g2g_ms.p95"), bands=bands),
        line_chart("Jitter (audio)", _series(profile, "jitter", "jitter_ms"), y_label="ms",
                   limit=_limit(profile, "jitter_ms.p95"), bands=bands),
        line_chart("Loss", _series(profile, "after RTX", "loss_pct")
                   + _series(profile, "network", "network_loss_pct", dashed=True),
                   y_label="%", bands=bands),
        line_chart("Frame rate (probe)", _series(profile, "fps", "fps"), y_label="fps",
                   bands=bands),
        line_chart("Freezes (time frozen per second)", _series(profile, "frozen", "freeze_ms"),
                   y_label="ms", bands=bands),
        line_chart("Audio MOS", _series(profile, "MOS", "mos"), y_label="MOS",
                   limit=_limit(profile, "mos.p5"), bands=bands),
    ]
    return '<div class="charts">' + "".join(charts) + "</div>"


def _reconnects(profile: ProfileResult) -> str:
    rows: list[tuple[str, dict[str, float]]] = []
    table = []
    for run in profile.runs:
        for d in run.disruptions:
            for n, rc in enumerate(d.reconnects):
                label = f"run {run.repeat + 1}" + (f" #{n + 1}" if n else "")
                attempts = f"{rc.attempts} attempt{'s' if rc.attempts != 1 else ''}"
                rows.append((f"{label} ({rc.reason}, {attempts})", rc.phases))
                phases = ", ".join(f"{k} {v:.2f}" for k, v in rc.phases.items())
                table.append(f"<tr><td>{escape(label)}</td><td>{escape(rc.reason)}</td>"
                             f'<td class="num">{rc.attempts}</td><td>{escape(phases)}</td></tr>')
            if not d.reconnects:
                table.append(f"<tr><td>run {run.repeat + 1}</td><td>(no reconnect)</td>"
                             "<td></td><td></td></tr>")
    disruptions = [(run, d) for run in profile.runs for d in run.disruptions]
    if not disruptions:
        return ""
    summary = "".join(
        f"<tr><td>run {run.repeat + 1}</td><td>{escape(d.kind)}</td>"
        f'<td class="num">{d.duration_s:g}</td><td class="num">{_num(d.ttmr_s)}</td>'
        f'<td class="num">{_num(d.receive_s)}</td><td class="num">{_num(d.send_s)}</td>'
        f"<td>{'yes' if d.seat_kept else 'NO'}</td>"
        f"<td>{'yes' if d.reconnecting_seen else 'no'}</td></tr>"
        for run, d in disruptions)
    chart = timeline(f"{profile.name}: reconnect phases (s since the disruption)", rows) \
        if rows else ""
    return (
        "<h3>Disruptions</h3><table><tr><th>run</th><th>kind</th><th>length s</th>"
        "<th>TTMR s</th><th>receive s</th><th>send s</th><th>seat kept</th>"
        "<th>others told reconnecting</th></tr>" + summary + "</table>"
        + chart + "<table><tr><th>reconnect</th><th>reason</th><th>attempts</th>"
        "<th>phases (s since the disruption)</th></tr>" + "".join(table) + "</table>")


def _link_text(link: dict[str, Any]) -> str:
    defaults = asdict(LinkProfile())
    parts = [f"{k} {v:g}" for k, v in link.items()
             if v is not None and (v != defaults.get(k) or (k == "queue_packets"
                                                             and link.get("rate_kbps")))]
    return ", ".join(parts) or "clean"


def _profile_section(profile: ProfileResult) -> str:
    verdict = "pass" if profile.passed else "fail"
    errors = "".join(f"<li>run {r.repeat + 1}: {escape(r.error)}</li>"
                     for r in profile.runs if r.error)
    return (
        f'<section class="profile" id="{escape(profile.name)}">'
        f'<h2>{escape(profile.name)} - {escape(profile.title)} '
        f'<span class="verdict {verdict}">{verdict.upper()}</span></h2>'
        f'<p class="meta">group {escape(profile.group)}; link each way: '
        f"{escape(_link_text(profile.link))}; {len(profile.runs)} run(s)</p>"
        + (f'<ul class="reasons">{errors}</ul>' if errors else "")
        + _checks_table(profile) + _charts(profile) + _reconnects(profile)
        + "</section>")


def to_html(report: GateReport) -> str:
    verdict = "pass" if report.passed else "fail"
    failures = "".join(f"<li>{escape(c.message)}</li>" for c in report.failures)
    warnings = "".join(f'<li class="warn">{escape(c.message)}</li>' for c in report.warnings)
    summary = "".join(
        f'<tr class="{"" if p.passed else "bad"}"><td><a href="#{escape(p.name)}">'
        f"{escape(p.name)}</a></td><td>{escape(p.title)}</td>"
        f"<td>{'pass' if p.passed else 'FAIL'}</td>"
        f'<td class="num">{_num(p.metrics.get("g2g_ms.p95"))}</td>'
        f'<td class="num">{_num(p.metrics.get("rtt_ms.p95"))}</td>'
        f'<td class="num">{_num(p.metrics.get("jitter_ms.p95"))}</td>'
        f'<td class="num">{_num(p.metrics.get("loss_pct"))}</td>'
        f'<td class="num">{_num(p.metrics.get("mos.mean"))}</td>'
        f'<td class="num">{_num(p.metrics.get("freezes_per_min"))}</td>'
        f'<td class="num">{_num(p.metrics.get("ttmr_s.p95"))}</td></tr>'
        for p in report.profiles)
    gaps = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
                   for k, v in report.known_gaps.items())
    glossary = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
                       for k, v in METRICS.items())
    machine = ", ".join(f"{k}: {v}" for k, v in report.machine.items())
    config = ", ".join(f"{k}: {v}" for k, v in report.config.items() if k != "probe")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Liveroom quality gate</title>"
        f"<style>{_CSS}</style></head><body>"
        f'<h1>Liveroom quality gate <span class="verdict {verdict}">{verdict.upper()}</span>'
        "</h1>"
        f'<p class="meta">{escape(report.started)} - {escape(report.finished)}; '
        f"thresholds v{report.thresholds_version}<br>machine: {escape(machine)}<br>"
        f"config: {escape(config)}</p>"
        + (f'<h3>Failures</h3><ul class="reasons">{failures}</ul>' if failures else "")
        + (f'<h3>Warnings</h3><ul class="reasons">{warnings}</ul>' if warnings else "")
        + "<table><tr><th>profile</th><th>network</th><th>verdict</th><th>g2g p95 ms</th>"
        "<th>RTT p95 ms</th><th>jitter p95 ms</th><th>loss %</th><th>MOS</th>"
        "<th>freezes/min</th><th>TTMR p95 s</th></tr>" + summary + "</table>"
        + "".join(_profile_section(p) for p in report.profiles)
        + ("<h2>Known gaps</h2><p>Hard thresholds the current stack does not meet yet; they "
           "are reported as warnings (thresholds.toml).</p><table>" + gaps + "</table>"
           if gaps else "")
        + "<h2>Metrics</h2><table>" + glossary + "</table></body></html>")


def write_all(report: GateReport, out_dir: Path) -> dict[str, Path]:
    """Write report.json, junit.xml and report.html into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "junit": out_dir / "junit.xml",
             "html": out_dir / "report.html"}
    paths["json"].write_text(json.dumps(to_json(report), indent=1, allow_nan=False) + "\n")
    paths["junit"].write_text(to_junit(report))
    paths["html"].write_text(to_html(report))
    return paths
