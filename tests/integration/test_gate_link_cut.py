"""The gate's P7 with a real link cut (`--outage link`): the subject learner's sockets sit
in a network namespace of their own behind a veth pair (qos/gate/netcut.py), and the
outage is `ip link set down`, so the kernel, TCP and ICE see it. One 5 s outage, one
repeat; without root the gate falls back to the in-process impairment and says so.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from qos.gate import netcut
from qos.gate.model import GateReport
from qos.gate.profiles import parse_profiles
from qos.gate.runner import GateConfig, _link_cut, run_gate
from qos.gate.thresholds import load
from qos.probe_source import ProbeConfig

CUT = GateConfig(profiles=parse_profiles("P7:5"), repeats=1, duration_s=20.0, warmup_s=5.0,
                 probe=ProbeConfig(width=320, height=240), retries=1, outage="link")


@pytest.mark.timeout(120)
def test_p7_cuts_a_real_link_and_the_session_comes_back() -> None:
    assert netcut.LinkCut.usable() is None, "run as root (scripts/test)"
    report = asyncio.run(run_gate(CUT, load()))
    [outage] = report.profiles
    print(json.dumps({k: v for k, v in outage.metrics.items() if v is not None}, indent=1))
    assert report.config["outage_cut"] == "link" and "outage_cut_note" not in report.config
    assert report.passed, [c.message for c in report.failures]
    run = outage.runs[0]
    assert run.error is None
    # the impairment took nothing down: the outage was the link's
    assert run.impairment["dropped_in"] == 0 and run.impairment["dropped_out"] == 0
    [cut] = run.disruptions
    print("ttmr_s", cut.ttmr_s, "phases", cut.reconnects[0].phases if cut.reconnects else None)
    assert cut.seat_kept and cut.reconnecting_seen and cut.ttmr_s is not None
    phases = cut.reconnects[0].phases
    for phase in ("disrupted", "stall_detected", "signalling_resumed", "network_restored",
                  "first_frame"):
        assert phase in phases
    assert phases["network_restored"] == pytest.approx(5.0, abs=0.1)


async def test_without_root_p7_falls_back_to_the_impairment_and_the_report_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    report = GateReport(1, 1, "", "", {}, {})
    lines: list[str] = []
    assert await _link_cut(CUT, report, lines.append) is None
    assert report.config["outage_cut"] == "impairment"
    assert "not root" in report.config["outage_cut_note"]
    assert lines and "not root" in lines[0]
