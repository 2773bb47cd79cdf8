"""The quality gate's pure parts: profiles, thresholds, pooling, baseline, reports."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest

from qos.gate.aggregate import profile_metrics
from qos.gate.baseline import baseline_metrics, compare
from qos.gate.counters import Deltas, SequenceCounter
from qos.gate.host import is_host_stall, overlap
from qos.gate.model import Disruption, GateReport, ReconnectTimeline, RunResult, Sample
from qos.gate.outputs import to_html, to_json, to_junit
from qos.gate.profiles import PROFILES, parse_profiles, profile
from qos.gate.runner import judge, overloaded
from qos.gate.svg import Series, line_chart, timeline
from qos.gate.thresholds import Rule, evaluate, load, parse

# --- profiles -------------------------------------------------------------------------------


def test_profiles_parse_in_order_and_p7_stands_for_three_outages() -> None:
    assert [p.name for p in parse_profiles("P0, P2,P7:5")] == ["P0", "P2", "P7:5"]
    assert [p.name for p in parse_profiles("P7")] == ["P7:5", "P7:20", "P7:40"]
    every = [p.name for p in parse_profiles("all")]
    assert every == ["P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7:5", "P7:20", "P7:40", "P8"]
    assert [p.name for p in parse_profiles("P0,p0")] == ["P0"]


def test_profiles_carry_the_standard_networks() -> None:
    assert PROFILES["P0"].link.clean
    assert (PROFILES["P1"].link.delay_ms, PROFILES["P1"].link.jitter_ms,
            PROFILES["P1"].link.loss) == (50, 10, 0.01)
    assert (PROFILES["P3"].link.burst_loss, PROFILES["P3"].link.mean_burst) == (0.02, 3)
    assert (PROFILES["P4"].link.rate_kbps, PROFILES["P4"].link.queue_packets) == (500, 32)
    assert PROFILES["P5"].link.rate_kbps == 150
    assert (PROFILES["P6"].link.delay_ms, PROFILES["P6"].link.jitter_ms) == (150, 30)
    assert profile("P7:5").outage_s == 5 and profile("P7:5").group == "outage"
    assert profile("P7:40").group == "long_outage"
    assert PROFILES["P8"].address_change and PROFILES["P8"].disrupts
    assert {p.group for p in parse_profiles("all")} == {
        "clean", "impaired", "outage", "long_outage"}


@pytest.mark.parametrize("bad", ["P9", "P7:x", "P7:0", "", ","])
def test_unknown_profiles_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_profiles(bad)


# --- thresholds -----------------------------------------------------------------------------


def test_the_shipped_thresholds_are_versioned_and_cover_every_group() -> None:
    thresholds = load()
    assert thresholds.version >= 1
    assert {p.group for p in parse_profiles("all")} <= set(thresholds.groups)
    clean = {r.metric: r for r in thresholds.groups["clean"] if r.level == "hard"}
    assert clean["rtt_ms.p95"] == Rule("rtt_ms.p95", "max", 300.0)
    assert clean["g2g_ms.p95"].limit == 400
    outage = {r.metric: r for r in thresholds.groups["outage"] if r.level == "hard"}
    assert outage["ttmr_s.p95"].limit == 5.0 and outage["seat_kept_pct"].limit == 100
    assert thresholds.regression_limit == pytest.approx(0.10)
    assert "g2g_ms.p95" in thresholds.regression_metrics


@pytest.mark.parametrize("data", [
    {},
    {"version": 1, "groups": {"g": {"x": {"max": 1, "min": 0}}}},
    {"version": 1, "groups": {"g": {"x": {"max": 1, "level": "maybe"}}}},
    {"version": 1, "groups": {"g": {"x": {"max": 1, "colour": "red"}}}},
    {"version": 1, "groups": {"g": {"x": 3}}},
])
def test_malformed_thresholds_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse(data)


THRESHOLDS = parse({
    "version": 7,
    "regression": {"limit": 0.1, "metrics": ["g2g_ms.p95", "rtt_ms.p95"],
                   "floor": {"g2g_ms.p95": 20.0}},
    "groups": {"clean": {
        "rtt_ms.p95": {"max": 300},
        "mos.mean": {"min": 4.0},
        "av_offset_ms.mean": {"max_abs": 50},
        "fps.mean": {"min": 25, "level": "warn"},
        "ttmr_s.p95": [{"max": 5}, {"max": 2, "level": "warn", "note": "aim lower"}],
    }},
})


def test_evaluation_fails_hard_rules_only_and_names_profile_and_metric() -> None:
    checks = evaluate("P1", "clean", {
        "rtt_ms.p95": 350.0, "mos.mean": 4.2, "av_offset_ms.mean": -60.0, "fps.mean": 20.0,
        "ttmr_s.p95": 3.0,
    }, THRESHOLDS)
    failed = [c for c in checks if c.fails]
    assert [c.metric for c in failed] == ["rtt_ms.p95", "av_offset_ms.mean"]
    assert failed[0].message == "P1 rtt_ms.p95 = 350, limit ≤ 300"
    assert "|x| ≤ 50" in failed[1].message
    warned = [c for c in checks if not c.passed and c.level == "warn"]
    assert [c.metric for c in warned] == ["fps.mean", "ttmr_s.p95"]
    assert "aim lower" in warned[1].message


def test_a_hard_rule_without_data_fails_and_a_warning_without_data_does_not() -> None:
    checks = evaluate("P0", "clean", {"rtt_ms.p95": 10.0, "mos.mean": 4.3,
                                      "av_offset_ms.mean": 0.0, "ttmr_s.p95": 0.5}, THRESHOLDS)
    assert [c.metric for c in checks if c.fails] == []
    missing = evaluate("P0", "clean", {}, THRESHOLDS)
    assert {c.metric for c in missing if c.fails} == {
        "rtt_ms.p95", "mos.mean", "av_offset_ms.mean", "ttmr_s.p95"}
    assert all("no data" in c.message for c in missing)
    assert not evaluate("P0", "clean", {"rtt_ms.p95": math.nan}, THRESHOLDS)[0].passed


def test_an_unknown_group_is_an_error() -> None:
    with pytest.raises(ValueError):
        evaluate("P0", "nowhere", {}, THRESHOLDS)


# --- baseline -------------------------------------------------------------------------------


def test_a_p95_more_than_10_percent_and_the_floor_worse_than_the_baseline_fails() -> None:
    base: dict[str, dict[str, float | None]] = {"P0": {"g2g_ms.p95": 100.0, "rtt_ms.p95": 10.0}}
    checks = compare("P0", {"g2g_ms.p95": 130.0, "rtt_ms.p95": 10.5}, base, THRESHOLDS)
    assert [(c.metric, c.passed) for c in checks] == [("g2g_ms.p95", False), ("rtt_ms.p95", True)]
    assert checks[0].level == "regression" and checks[0].fails
    assert "P0 g2g_ms.p95 regressed: 130 vs baseline 100 (+30%" in checks[0].message


def test_noise_below_the_floor_or_the_limit_is_not_a_regression() -> None:
    base: dict[str, dict[str, float | None]] = {"P0": {"g2g_ms.p95": 50.0, "rtt_ms.p95": 100.0}}
    checks = compare("P0", {"g2g_ms.p95": 65.0, "rtt_ms.p95": 109.0}, base, THRESHOLDS)
    assert all(c.passed for c in checks)  # +30% but only +15 ms; +9%
    assert compare("P2", {"g2g_ms.p95": 999.0}, base, THRESHOLDS) == []  # not in baseline
    only = compare("P0", {"g2g_ms.p95": None, "rtt_ms.p95": 100.0}, base, THRESHOLDS)
    assert [c.metric for c in only] == ["rtt_ms.p95"]


def test_a_baseline_is_read_from_a_report() -> None:
    report = {"profiles": [{"name": "P0", "metrics": {"g2g_ms.p95": 80.0}}]}
    assert baseline_metrics(report) == {"P0": {"g2g_ms.p95": 80.0}}


# --- pooling --------------------------------------------------------------------------------


def run(repeat: int = 0, **kw: object) -> RunResult:
    r = RunResult("P0", repeat, 1, measured_s=10.0)
    for key, value in kw.items():
        setattr(r, key, value)
    return r


def test_repeats_are_pooled_and_host_stalls_left_out() -> None:
    a = run(0, samples=[Sample(t=float(i), rtt_ms=10.0 * i, fps=30.0, mos=4.3)
                        for i in range(1, 11)],
            g2g_ms=[50.0] * 95 + [150.0] * 5, video_lost=1, video_expected=1000,
            freeze={"duration_ms": 30_000.0, "freeze_count": 3, "total_freeze_ms": 900.0},
            host_freezes=1, host_freeze_ms=300.0, host_stall_s=0.5)
    b = run(1, samples=[Sample(t=1.0, rtt_ms=999.0, fps=2.0, disturbed=True),
                        Sample(t=2.0, rtt_ms=20.0, fps=30.0, mos=4.1)],
            g2g_ms=[60.0] * 100, video_lost=2, video_expected=1000,
            freeze={"duration_ms": 30_000.0, "freeze_count": 0, "total_freeze_ms": 0.0})
    m = profile_metrics([a, b])
    assert m["rtt_ms.p95"] is not None and m["rtt_ms.p95"] < 999  # the disturbed second is out
    assert m["fps.p5"] == pytest.approx(30.0)
    assert m["loss_pct"] == pytest.approx(0.15)
    assert m["freezes_per_min"] == pytest.approx(2.0)  # 2 of 3 freezes in 1 minute
    assert m["freezes_all_per_min"] == pytest.approx(3.0)
    assert m["freeze_pct"] == pytest.approx(1.0)
    assert m["g2g_ms.p50"] == pytest.approx(60.0)
    assert m["host_stall_pct"] == pytest.approx(2.5)
    assert m["disturbed_pct"] == pytest.approx(100 / 12)
    assert m["mos.mean"] == pytest.approx((4.3 * 10 + 4.1) / 11)
    assert "ttmr_s.p95" not in m and "seat_kept_pct" not in m
    assert m["errors"] == 0


def test_holes_repaired_during_the_measurement_do_not_make_a_negative_loss() -> None:
    # lost counts are taken when sampled: holes open at the start, filled later, subtract
    m = profile_metrics([run(0, video_lost=-3, video_expected=1000, audio_lost=-1,
                             audio_expected=500)])
    assert m["loss_pct"] == 0.0 and m["audio_loss_pct"] == 0.0


def test_disruptions_give_ttmr_seats_and_unrecovered_counts() -> None:
    def outage(ttmr: float | None, kept: bool = True) -> Disruption:
        return Disruption("outage", 3.0, 5.0, ttmr_s=ttmr, seat_kept=kept)

    runs = [run(0, disruptions=[outage(0.4)]), run(1, disruptions=[outage(0.8, False)]),
            run(2, disruptions=[outage(None)]), run(3, error="boom")]
    m = profile_metrics(runs)
    assert m["ttmr_s.max"] == pytest.approx(0.8)
    assert m["unrecovered"] == 1
    assert m["seat_kept_pct"] == pytest.approx(200 / 3)
    assert m["errors"] == 1


def test_lip_sync_is_judged_on_95_percent_of_the_flashes() -> None:
    thresholds = load()  # the committed file
    one_late = [0.0] * 99 + [150.0]  # one flash shown late: a glitch, not lip sync
    checks = evaluate("P2", "impaired", profile_metrics([run(0, av_offset_ms=one_late)]),
                      thresholds)
    av = {c.metric: c for c in checks if c.metric.startswith("av_offset_ms")}
    assert av["av_offset_ms.p95"].passed and not av["av_offset_ms.max"].passed
    assert not av["av_offset_ms.max"].fails  # a warning
    tenth_late = [0.0] * 90 + [150.0] * 10  # audio leads on a tenth of the flashes
    checks = evaluate("P2", "impaired", profile_metrics([run(0, av_offset_ms=tenth_late)]),
                      thresholds)
    assert [c.metric for c in checks if c.fails and c.metric.startswith("av_")] == [
        "av_offset_ms.p95"]


def test_a_run_that_failed_is_a_failure_naming_its_repeat() -> None:
    result = judge(PROFILES["P0"], [run(0), run(1, error="RuntimeError: no probe")],
                   parse({"version": 1, "groups": {"clean": {}}}))
    assert not result.passed
    assert [c.message for c in result.checks if c.fails] == [
        "P0 repeat 1: RuntimeError: no probe"]


def test_a_run_mostly_disturbed_by_the_host_is_overloaded() -> None:
    calm = run(0, samples=[Sample(t=1.0), Sample(t=2.0, disturbed=True)])
    busy = run(0, samples=[Sample(t=1.0, disturbed=True), Sample(t=2.0, disturbed=True)])
    assert not overloaded(calm) and overloaded(busy) and not overloaded(run(0))


# --- counting what arrived --------------------------------------------------------------------


def test_sequence_counter_counts_unique_packets_across_the_wrap() -> None:
    counter = SequenceCounter()
    for seq in [65530, 65531, 65533, 65534, 65535, 0, 1, 3]:
        counter.add(seq)
    assert (counter.expected, counter.received, counter.lost) == (10, 8, 2)
    counter.add(65532)  # retransmitted late
    counter.add(65532)  # and once more
    counter.add(2)
    assert (counter.expected, counter.received, counter.lost) == (10, 10, 0)


def test_deltas_count_a_new_stream_from_zero() -> None:
    deltas = Deltas(2)
    assert deltas.update({"a": (5, 100)}) == (5, 100)
    assert deltas.update({"a": (6, 150)}) == (1, 50)
    assert deltas.update({"a": (6, 150), "b": (0, 20)}) == (0, 20)


def test_host_stalls_are_lag_without_cpu() -> None:
    assert is_host_stall(0.30, 0.01, 0.02)
    assert not is_host_stall(0.30, 0.25, 0.02)  # our own code was busy: not the host
    assert not is_host_stall(0.05, 0.0, 0.02)
    assert overlap([(1.0, 2.0), (3.0, 3.5)], 1.5, 3.2) == pytest.approx(0.7)


# --- reports ----------------------------------------------------------------------------------


def sample_report() -> GateReport:
    thresholds = load()
    clean = run(0, samples=[Sample(t=float(i), rtt_ms=5.0, jitter_ms=2.0, fps=30.0, mos=4.4,
                                   g2g_ms=60.0, loss_pct=0.0) for i in range(1, 6)],
                g2g_ms=[60.0] * 50)
    cut = RunResult("P7:5", 0, 2, measured_s=20.0, samples=[Sample(t=1.0)], disruptions=[
        Disruption("outage", 3.0, 5.0, ttmr_s=0.7, receive_s=0.5, send_s=0.7,
                   reconnects=[ReconnectTimeline("media_stalled", 3, {
                       "disrupted": 0.0, "stall_detected": 2.0, "network_restored": 5.0,
                       "first_frame": 5.5})])])
    report = GateReport(1, thresholds.version, "start", "end", {"host": "test <x>"}, {})
    report.profiles = [judge(PROFILES["P0"], [clean], thresholds),
                       judge(profile("P7:5"), [cut], thresholds)]
    return report


def test_the_json_report_is_strict_json_with_the_verdicts() -> None:
    report = sample_report()
    data = json.loads(json.dumps(to_json(report), allow_nan=False))
    assert data["passed"] is False and data["failures"]
    assert [p["name"] for p in data["profiles"]] == ["P0", "P7:5"]
    assert data["profiles"][1]["runs"][0]["disruptions"][0]["ttmr_s"] == 0.7
    assert all("message" in f for f in data["failures"])


def test_the_junit_report_has_a_case_per_check_and_failures_with_reasons() -> None:
    report = sample_report()
    root = ET.fromstring(to_junit(report))
    assert root.tag == "testsuites" and int(root.get("failures", "0")) == len(report.failures)
    suites = root.findall("testsuite")
    assert [s.get("name", "").split()[0] for s in suites] == ["P0", "P7:5"]
    failures = [f.get("message") for f in root.iter("failure")]
    assert failures == [c.message for c in report.failures]


def test_the_html_report_is_self_contained_with_charts_per_profile() -> None:
    html = to_html(sample_report())
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert html.count('<section class="profile"') == 2
    assert html.count('<svg class="chart"') == 12  # six charts per profile
    assert html.count('<svg class="timeline"') == 1
    assert "test &lt;x&gt;" in html and "test <x>" not in html


def test_charts_break_lines_at_missing_values_and_survive_no_data() -> None:
    svg = line_chart("t", [Series("a", [(1, 1.0), (2, None), (3, 2.0), (4, 3.0)])], limit=2.5)
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 1
    assert 'class="limit"' in svg
    assert line_chart("empty", []).startswith("<svg")
    assert "phase" in timeline("tl", [("run 1", {"a": 0.0, "b": 1.5})])


# --- the command --------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["--profiles", "P9"],
    ["--repeats", "0"],
    ["--duration", "5", "--warmup", "5"],
    ["--url", "http://127.0.0.1:1"],
    ["--baseline", "/nonexistent/report.json"],
    ["--probe-size", "big"],
])
def test_bad_arguments_exit_with_2_before_running_anything(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from qos.gate import cli

    assert cli.main(argv) == 2
    assert "liveroom-gate:" in capsys.readouterr().err


def test_the_gate_is_its_own_command_and_no_longer_a_subcommand_of_the_node(
    capsys: pytest.CaptureFixture[str]
) -> None:
    import tomllib
    from pathlib import Path

    from signalling import cli

    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts["liveroom-gate"] == "qos.gate.cli:main"
    with pytest.raises(SystemExit) as refused:
        cli.main(["gate", "--profiles", "P0"])
    assert refused.value.code == 2
    assert "invalid choice: 'gate'" in capsys.readouterr().err


def test_a_stored_report_is_judged_again_with_the_same_figures() -> None:
    from qos.gate.runner import rejudge

    report = sample_report()
    again = rejudge(json.loads(json.dumps(to_json(report))), load())
    assert [p.name for p in again.profiles] == ["P0", "P7:5"]
    for before, after in zip(report.profiles, again.profiles, strict=True):
        assert after.metrics == before.metrics
        assert [c.message for c in after.checks] == [c.message for c in before.checks]
    assert again.profiles[1].runs[0].disruptions[0].reconnects[0].phases["first_frame"] == 5.5
