"""Compare a gate report with a stored baseline report: fail on p95 regressions (pure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .model import Check
from .thresholds import Thresholds

__all__ = ["baseline_metrics", "compare", "load_baseline"]


def load_baseline(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text())
    if "profiles" not in data:
        raise ValueError(f"{path} is not a gate report (no `profiles`)")
    return data


def baseline_metrics(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """profile name → metrics, from a gate report's JSON."""
    return {p["name"]: dict(p.get("metrics", {})) for p in report["profiles"]}


def compare(
    profile: str,
    metrics: dict[str, float | None],
    baseline: dict[str, dict[str, float | None]],
    thresholds: Thresholds,
) -> list[Check]:
    """A check per regression metric the baseline has for this profile.

    A regression is `value > base·(1 + limit)` and `value - base > floor`: worse by more
    than the relative limit and by more than the metric's noise floor.
    """
    before = baseline.get(profile)
    if before is None:
        return []
    checks = []
    limit = thresholds.regression_limit
    for metric in thresholds.regression_metrics:
        base, value = before.get(metric), metrics.get(metric)
        if base is None or value is None:
            continue
        floor = thresholds.regression_floor.get(metric, 0.0)
        worse = value > base * (1.0 + limit) and value - base > floor
        text = f"≤ +{limit:.0%} of {base:.3g}"
        message = ""
        if worse:
            change = f"+{(value - base) / base:.0%}" if base > 0 else f"+{value - base:.3g}"
            message = (f"{profile} {metric} regressed: {value:.3g} vs baseline {base:.3g} "
                       f"({change}; limit +{limit:.0%} and more than +{floor:g})")
        checks.append(Check(profile, metric, value, text, "regression", not worse, message))
    return checks
