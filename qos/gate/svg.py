"""Small inline-SVG charts for the gate report (pure string building, no dependencies)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Band", "Series", "line_chart", "timeline"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float | None]]
    """(x, y); a None y breaks the line."""
    color: str = PALETTE[0]
    dashed: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded x-interval (an outage)."""

    start: float
    end: float
    label: str = ""


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_label: str = "",
    x_label: str = "s",
    limit: float | None = None,
    bands: Sequence[Band] = (),
    width: int = 520,
    height: int = 200,
    css_class: str = "chart",
) -> str:
    """A line chart with axes, a legend, an optional limit line and shaded bands."""
    left, right, top, bottom = 48, 12, 24, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points if y is not None and math.isfinite(y)]
    x_max = max(xs + [b.end for b in bands], default=1.0) or 1.0
    x_min = min(xs + [b.start for b in bands] + [0.0])
    y_max = max(ys + ([limit] if limit is not None else []), default=1.0)
    y_min = min([*ys, 0.0])
    if y_max <= y_min:
        y_max = y_min + 1.0
    y_step = _nice_step(y_max - y_min)
    y_top = math.ceil(y_max / y_step) * y_step
    y_bottom = math.floor(y_min / y_step) * y_step
    x_span = (x_max - x_min) or 1.0

    def px(x: float) -> float:
        return left + (x - x_min) / x_span * plot_w

    def py(y: float) -> float:
        return top + (y_top - y) / ((y_top - y_bottom) or 1.0) * plot_h

    out = [
        f'<svg class="{escape(css_class)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<title>{escape(title)}</title>',
        f'<text x="{left}" y="14" {_FONT} font-weight="bold">{escape(title)}</text>',
    ]
    for band in bands:
        x0, x1 = px(band.start), px(min(band.end, x_max))
        out.append(f'<rect class="band" x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 1):.1f}" '
                   f'height="{plot_h}" fill="#f2c14e" fill-opacity="0.25">'
                   f'<title>{escape(band.label)}</title></rect>')
    y = y_bottom
    while y <= y_top + y_step / 2:
        yy = py(y)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" '
                   'stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 4}" y="{yy + 4:.1f}" text-anchor="end" {_FONT}>'
                   f'{_fmt(y)}</text>')
        y += y_step
    x_step = _nice_step(x_span, 8)
    x = math.ceil(x_min / x_step) * x_step
    while x <= x_max + 1e-9:
        xx = px(x)
        out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top + plot_h}" '
                   f'y2="{top + plot_h + 4}" stroke="#666"/>')
        out.append(f'<text x="{xx:.1f}" y="{top + plot_h + 15}" text-anchor="middle" {_FONT}>'
                   f'{_fmt(x)}</text>')
        x += x_step
    out.append(f'<text x="{left + plot_w}" y="{height - 4}" text-anchor="end" {_FONT}>'
               f'{escape(x_label)}</text>')
    if y_label:
        out.append(f'<text x="10" y="{top + plot_h / 2:.1f}" {_FONT} text-anchor="middle" '
                   f'transform="rotate(-90 10 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
               'stroke="#999"/>')
    if limit is not None:
        ly = py(limit)
        out.append(f'<line class="limit" x1="{left}" x2="{left + plot_w}" y1="{ly:.1f}" '
                   f'y2="{ly:.1f}" stroke="#c00" stroke-dasharray="6 3">'
                   f'<title>limit {_fmt(limit)}</title></line>')
    for s in series:
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        for run in _segments(s.points):
            if len(run) == 1:
                x0, y0 = run[0]
                out.append(f'<circle cx="{px(x0):.1f}" cy="{py(y0):.1f}" r="2" '
                           f'fill="{s.color}"/>')
                continue
            path = " ".join(f"{px(x0):.1f},{py(y0):.1f}" for x0, y0 in run)
            out.append(f'<polyline class="series" points="{path}" fill="none" '
                       f'stroke="{s.color}" stroke-width="1.5"{dash}>'
                       f'<title>{escape(s.label)}</title></polyline>')
    lx = left + 6.0
    for s in series:
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        out.append(f'<line x1="{lx}" x2="{lx + 14}" y1="{top + 8}" y2="{top + 8}" '
                   f'stroke="{s.color}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{lx + 17}" y="{top + 12}" {_FONT}>{escape(s.label)}</text>')
        lx += 24 + 6.2 * len(s.label)
    out.append("</svg>")
    return "".join(out)


def _segments(
    points: Sequence[tuple[float, float | None]],
) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None or not math.isfinite(y):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [r for r in runs if r]


def timeline(
    title: str,
    rows: Sequence[tuple[str, dict[str, float]]],
    *,
    width: int = 760,
    row_height: int = 15,
    css_class: str = "timeline",
) -> str:
    """Reconnect phase timelines: a block per reconnect, a row per phase (seconds)."""
    left, right, top = 150, 60, 24
    blocks = [(label, sorted(phases.items(), key=lambda kv: kv[1])) for label, phases in rows]
    n_rows = sum(len(phases) + 1 for _, phases in blocks)
    height = top + row_height * max(n_rows, 1) + 26
    times = [t for _, phases in blocks for _, t in phases]
    t_min, t_max = min([*times, 0.0]), max([*times, 1.0])
    span = (t_max - t_min) or 1.0
    plot_w = width - left - right

    def px(t: float) -> float:
        return left + (t - t_min) / span * plot_w

    out = [
        f'<svg class="{escape(css_class)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<title>{escape(title)}</title>',
        f'<text x="4" y="14" {_FONT} font-weight="bold">{escape(title)}</text>',
    ]
    axis_y = top + row_height * max(n_rows, 1)
    step = _nice_step(span, 8)
    t = math.ceil(t_min / step) * step
    while t <= t_max + 1e-9:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{axis_y}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" {_FONT}>'
                   f'{_fmt(t)} s</text>')
        t += step
    y = float(top)
    for label, phases in blocks:
        out.append(f'<text x="4" y="{y + 11:.1f}" {_FONT} font-weight="bold">'
                   f'{escape(label)}</text>')
        y += row_height
        previous: float | None = None
        for j, (name, when) in enumerate(phases):
            color = PALETTE[j % len(PALETTE)]
            x, cy = px(when), y + row_height / 2
            if previous is not None:
                out.append(f'<line x1="{px(previous):.1f}" x2="{x:.1f}" y1="{cy - row_height:.1f}" '
                           f'y2="{cy:.1f}" stroke="#bbb"/>')
            out.append(f'<text x="12" y="{cy + 4:.1f}" {_FONT}>{escape(name)}</text>')
            out.append(f'<line x1="{left}" x2="{x:.1f}" y1="{cy:.1f}" y2="{cy:.1f}" '
                       f'stroke="{color}" stroke-opacity="0.35" stroke-width="3"/>')
            out.append(f'<circle class="phase" cx="{x:.1f}" cy="{cy:.1f}" r="4" fill="{color}">'
                       f'<title>{escape(name)}: {when:.3f} s</title></circle>')
            out.append(f'<text x="{x + 7:.1f}" y="{cy + 4:.1f}" {_FONT}>{when:.2f}</text>')
            previous = when
            y += row_height
    out.append("</svg>")
    return "".join(out)
