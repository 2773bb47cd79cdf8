"""Gate thresholds: load the versioned TOML file and judge a profile's figures (pure)."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from .model import Check

__all__ = ["DEFAULT_PATH", "Rule", "Thresholds", "evaluate", "load", "parse"]

DEFAULT_PATH = Path(str(resources.files("qos.gate") / "thresholds.toml"))
Op = Literal["max", "min", "max_abs"]


@dataclass(frozen=True)
class Rule:
    metric: str
    op: Op
    limit: float
    level: Literal["hard", "warn"] = "hard"
    note: str = ""

    def describe(self) -> str:
        return {"max": f"≤ {self.limit:g}", "min": f"≥ {self.limit:g}",
                "max_abs": f"|x| ≤ {self.limit:g}"}[self.op]

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.op == "max":
            return value <= self.limit
        if self.op == "min":
            return value >= self.limit
        return abs(value) <= self.limit


@dataclass(frozen=True)
class Thresholds:
    version: int
    groups: dict[str, list[Rule]]
    regression_limit: float = 0.10
    regression_metrics: tuple[str, ...] = ()
    regression_floor: dict[str, float] = field(default_factory=dict)
    known_gaps: dict[str, tuple[str, str]] = field(default_factory=dict)
    """`<profile or group>:<metric>` → (gap id, reason): a hard rule there only warns."""
    source: str = ""

    def gap_reasons(self) -> dict[str, str]:
        return {gap_id: reason for gap_id, reason in self.known_gaps.values()}

    def gap(self, profile: str, group: str, metric: str) -> tuple[str, str] | None:
        return self.known_gaps.get(f"{profile}:{metric}") or self.known_gaps.get(
            f"{group}:{metric}")


def _rules(metric: str, spec: Any) -> list[Rule]:
    specs = spec if isinstance(spec, list) else [spec]
    rules = []
    for item in specs:
        if not isinstance(item, dict):
            raise ValueError(f"{metric}: a rule is a table like {{ max = 1 }}")
        ops = [op for op in ("max", "min", "max_abs") if op in item]
        if len(ops) != 1:
            raise ValueError(f"{metric}: give exactly one of max, min, max_abs")
        level = item.get("level", "hard")
        if level not in ("hard", "warn"):
            raise ValueError(f"{metric}: level must be hard or warn")
        unknown = set(item) - {"max", "min", "max_abs", "level", "note"}
        if unknown:
            raise ValueError(f"{metric}: unknown keys {sorted(unknown)}")
        op: Op = ops[0]  # type: ignore[assignment]
        rules.append(Rule(metric, op, float(item[op]), level, str(item.get("note", ""))))
    return rules


def parse(data: dict[str, Any], source: str = "") -> Thresholds:
    """Thresholds from the TOML's data; ValueError on anything malformed."""
    version = data.get("version")
    if not isinstance(version, int):
        raise ValueError("thresholds need an integer `version`")
    groups = {
        name: [rule for metric, spec in table.items() for rule in _rules(metric, spec)]
        for name, table in data.get("groups", {}).items()
    }
    regression = data.get("regression", {})
    gaps: dict[str, tuple[str, str]] = {}
    for gap_id, gap in data.get("known_gaps", {}).items():
        if not isinstance(gap, dict) or not isinstance(gap.get("applies"), list):
            raise ValueError(f"known gap {gap_id}: needs `reason` and an `applies` list")
        for target in gap["applies"]:
            if ":" not in str(target):
                raise ValueError(f"known gap {gap_id}: {target!r} is not <profile>:<metric>")
            gaps[str(target)] = (gap_id, str(gap.get("reason", "")))
    return Thresholds(
        version=version,
        groups=groups,
        regression_limit=float(regression.get("limit", 0.10)),
        regression_metrics=tuple(regression.get("metrics", ())),
        regression_floor={k: float(v) for k, v in regression.get("floor", {}).items()},
        known_gaps=gaps,
        source=source,
    )


def load(path: Path | None = None) -> Thresholds:
    """The thresholds file (default: the one shipped with the gate)."""
    path = path or DEFAULT_PATH
    with open(path, "rb") as f:
        return parse(tomllib.load(f), str(path))


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def evaluate(
    profile: str, group: str, metrics: dict[str, float | None], thresholds: Thresholds
) -> list[Check]:
    """A check per rule of the profile's group. Missing figures fail hard rules."""
    if group not in thresholds.groups:
        raise ValueError(f"no thresholds for group {group!r} ({thresholds.source})")
    checks = []
    for rule in thresholds.groups[group]:
        value = metrics.get(rule.metric)
        limit = rule.describe()
        level: Literal["hard", "warn"] = rule.level
        note = f" ({rule.note})" if rule.note else ""
        gap = thresholds.gap(profile, group, rule.metric) if level == "hard" else None
        if gap is not None:
            level, note = "warn", f" (known gap: {gap[0]})"
        gap_id = gap[0] if gap else ""
        if value is None:
            checks.append(Check(profile, rule.metric, None, limit, level, False,
                                f"{profile} {rule.metric}: no data, limit {limit}{note}",
                                gap_id))
            continue
        ok = rule.holds(value)
        message = "" if ok else (
            f"{profile} {rule.metric} = {_fmt(value)}, limit {limit}{note}")
        checks.append(Check(profile, rule.metric, value, limit, level, ok, message, gap_id))
    return checks
