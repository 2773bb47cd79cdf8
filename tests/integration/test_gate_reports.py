"""The full gate reports committed in docs/gate-report/ are complete, judged by the current
thresholds file, and their HTML renders in headless Chromium (screenshots in
test-artifacts/gate-report-<scenario>.png)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qos.gate.thresholds import load

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "docs" / "gate-report"
ARTIFACTS = ROOT / "test-artifacts"
SCENARIOS = {"1-1": "1:1", "1-3": "1:3"}
ALL_PROFILES = ["P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7:5", "P7:20", "P7:40", "P8"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_committed_full_report_covers_every_profile_with_three_runs(name: str) -> None:
    data = json.loads((REPORTS / name / "report.json").read_text())
    config = data["config"]
    assert config["scenario"] == SCENARIOS[name]
    assert config["repeats"] == 3 and config["duration_s"] == 45.0
    assert config["receiver"] == "browser"
    # measured with publishers that adapt as browsers do (docs/quality-gate.md)
    assert config["encoder_floor_kbps"] == 30 and len(config["learner_video_kbps"]) == 4
    assert [p["name"] for p in data["profiles"]] == ALL_PROFILES
    for profile in data["profiles"]:
        assert len(profile["runs"]) >= 3, profile["name"]
    assert data["thresholds_version"] == load().version
    assert data["machine"]["cpus"] and data["machine"]["aiortc"] == "1.16.0"
    assert data["passed"] is (not data["failures"])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_the_committed_report_renders_in_chromium(name: str) -> None:
    from tests.browser.conftest import plain_chromium

    data = json.loads((REPORTS / name / "report.json").read_text())
    async with plain_chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        failed_requests: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("requestfailed", lambda request: failed_requests.append(request.url))
        await page.goto((REPORTS / name / "report.html").as_uri())
        assert await page.title() == "Liveroom quality gate"
        verdict = await page.locator("h1 .verdict").inner_text()
        assert verdict == ("PASS" if data["passed"] else "FAIL")
        sections = page.locator("section.profile")
        assert await sections.count() == len(ALL_PROFILES)
        for i in range(len(ALL_PROFILES)):
            section = sections.nth(i)
            assert await section.locator("svg.chart").count() == 6
            assert await section.locator("svg.chart polyline.series").count() >= 6
        for outage in ("P7\\:5", "P7\\:20", "P7\\:40", "P8"):
            phases = page.locator(f"section#{outage} svg.timeline circle.phase")
            assert await phases.count() >= 5, outage
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"gate-report-{name}.png"),
                              full_page=True)
        assert not errors and not failed_requests
