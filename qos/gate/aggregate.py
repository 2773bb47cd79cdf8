"""Pool the repeats of a profile into the figures the thresholds judge (pure).

Per-second series (RTT, jitter, loss, MOS, fps) and per-frame values (glass-to-glass
latency, PSNR, A/V offset) are pooled over all repeats before taking percentiles; counts
(freezes, lost packets) are summed, so a ratio is over the whole measured time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from qos.window import summarize

from .model import RunResult, Sample

__all__ = ["METRICS", "profile_metrics"]

METRICS: dict[str, str] = {
    "rtt_ms": "round-trip time of the learner's uplink (RTCP), ms, per second",
    "jitter_ms": "interarrival jitter of the audio the learner receives, ms, per second",
    "video_jitter_ms": "interarrival jitter of the video the learner receives, ms",
    "loss_pct": "video packets never received, after retransmission, % of the measured time",
    "network_loss_pct": "video packets lost on first transmission, %",
    "audio_loss_pct": "audio packets lost (no retransmission for audio), %",
    "mos": "E-model MOS of the received audio (RTT/2 + 2·jitter, audio loss), per second",
    "fps": "new probe pictures decoded per second",
    "freezes_per_min": "probe video freezes per minute (W3C / Chrome definition), "
                       "leaving out those during host stalls",
    "freeze_pct": "share of time frozen, %, leaving out freezes during host stalls",
    "freezes_all_per_min": "every probe video freeze per minute, host stalls included",
    "psnr_db": "PSNR of the probe picture against its reference, dB",
    "g2g_ms": "glass-to-glass latency: capture to decoded picture, ms, per frame",
    "av_offset_ms": "flash onset - beep onset, ms (positive: audio leads)",
    "dropped_pct": "probe pictures never decoded, %",
    "uplink_fps": "frames of the learner's own video the tutor decoded, per second",
    "ttmr_s": "time to media restore after an outage or address change, s",
    "unrecovered": "disruptions after which media never came back within the run",
    "seat_kept_pct": "disruptions after which the learner still had its seat, %",
    "reconnects": "reconnects of the learner, all repeats",
    "errors": "repeats that could not run",
    "host_stall_pct": "time the measuring process was not running (a busy machine), %",
    "disturbed_pct": "seconds left out of per-second figures because of host stalls, %",
}


def _series(runs: Iterable[RunResult], get: Callable[[Sample], float | None]) -> list[float]:
    """A per-second figure over all runs, leaving out the seconds a host stall disturbed."""
    return [v for r in runs for s in r.samples if not s.disturbed and (v := get(s)) is not None]


def _put(out: dict[str, float | None], name: str, values: list[float], *stats: str) -> None:
    summary = summarize(values)
    for stat in stats:
        out[f"{name}.{stat}"] = None if summary is None else getattr(summary, stat)


def _pct(part: float, whole: float) -> float | None:
    """`part` of `whole` in %. Losses are counted when sampled, so a hole that opened
    before the measurement and was repaired during it subtracts: never below 0."""
    return 100.0 * max(0.0, part) / whole if whole > 0 else None


def profile_metrics(runs: list[RunResult]) -> dict[str, float | None]:
    """The figures of a profile over its repeats; None where nothing was measured.

    Runs that failed to run (`error`) are left out of the figures and counted in `errors`.
    """
    ok = [r for r in runs if r.error is None]
    m: dict[str, float | None] = {}
    _put(m, "rtt_ms", _series(ok, lambda s: s.rtt_ms), "mean", "p95")
    _put(m, "jitter_ms", _series(ok, lambda s: s.jitter_ms), "mean", "p95")
    _put(m, "video_jitter_ms", _series(ok, lambda s: s.video_jitter_ms), "p95")
    m["loss_pct"] = _pct(sum(r.video_lost for r in ok), sum(r.video_expected for r in ok))
    _put(m, "network_loss_pct", _series(ok, lambda s: s.network_loss_pct), "mean")
    m["audio_loss_pct"] = _pct(sum(r.audio_lost for r in ok), sum(r.audio_expected for r in ok))
    _put(m, "mos", _series(ok, lambda s: s.mos), "mean", "p5")
    _put(m, "fps", _series(ok, lambda s: s.fps), "mean", "p5")
    duration = sum(float(r.freeze.get("duration_ms") or 0.0) for r in ok)
    freezes = sum(int(r.freeze.get("freeze_count") or 0) for r in ok)
    frozen = sum(float(r.freeze.get("total_freeze_ms") or 0.0) for r in ok)
    host_freezes = sum(r.host_freezes for r in ok)
    host_frozen = sum(r.host_freeze_ms for r in ok)
    per_min = 60_000.0 / duration if duration > 0 else None
    m["freezes_per_min"] = None if per_min is None else (freezes - host_freezes) * per_min
    m["freeze_pct"] = _pct(frozen - host_frozen, duration)
    m["freezes_all_per_min"] = None if per_min is None else freezes * per_min
    _put(m, "psnr_db", [v for r in ok for v in r.psnr_db], "mean", "min")
    _put(m, "g2g_ms", [v for r in ok for v in r.g2g_ms], "p50", "p95", "max")
    _put(m, "av_offset_ms", [v for r in ok for v in r.av_offset_ms],
         "mean", "min", "p5", "p95", "max")
    expected = sum(r.probe.get("expected", 0) for r in ok)
    m["dropped_pct"] = _pct(sum(r.probe.get("dropped", 0) for r in ok), expected)
    measured = sum(r.measured_s for r in ok)
    m["uplink_fps"] = sum(r.uplink_frames for r in ok) / measured if measured > 0 else None
    disruptions = [d for r in ok for d in r.disruptions]
    ttmr = [d.ttmr_s for d in disruptions if d.ttmr_s is not None]
    if disruptions:
        _put(m, "ttmr_s", ttmr, "p50", "p95", "max")
        m["unrecovered"] = float(len(disruptions) - len(ttmr))
        m["seat_kept_pct"] = _pct(sum(d.seat_kept for d in disruptions), len(disruptions))
    m["reconnects"] = float(sum(r.reconnects for r in ok))
    m["host_stall_pct"] = _pct(sum(r.host_stall_s for r in ok), measured)
    seconds = [s for r in ok for s in r.samples]
    m["disturbed_pct"] = _pct(sum(s.disturbed for s in seconds), len(seconds))
    m["errors"] = float(len(runs) - len(ok))
    return m
