"""Read a gate report's JSON back into runs, to judge them again (pure).

`liveroom-gate --from-report report.json` re-judges stored runs with the current
thresholds and baseline, without measuring again (after a thresholds change, say).
"""

from __future__ import annotations

from typing import Any

from .model import Disruption, ReconnectTimeline, RunResult, Sample

__all__ = ["runs_from_report"]


def _run(data: dict[str, Any]) -> RunResult:
    fields = dict(data)
    fields["samples"] = [Sample(**s) for s in data.get("samples", [])]
    fields["disruptions"] = [
        Disruption(**{**d, "reconnects": [ReconnectTimeline(**r) for r in d.get("reconnects", [])]})
        for d in data.get("disruptions", [])
    ]
    return RunResult(**fields)


def runs_from_report(report: dict[str, Any]) -> dict[str, list[RunResult]]:
    """profile name → its runs, in the report's order."""
    return {p["name"]: [_run(r) for r in p.get("runs", [])] for p in report["profiles"]}
