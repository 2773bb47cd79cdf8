"""The overload run's report: did every peer connection survive, and how well (issue 16).

Per step past saturation (`python -m loadtest.forwarding --overload`): the publisher's
frame rate sent and as the node received it, every subscriber's frame and audio packet
rate, loss, node CPU, peer connections failed, subscribers refused; and the verdicts
`--check` applies to them.
"""

from __future__ import annotations

from typing import Any

from .servers import Bot


def survival(subs: list[Bot]) -> dict[str, int]:
    """Subscribers' peer connections at the end, and how many failed along the way."""
    lasts = [b.last or {} for b in subs]
    return {
        "subscriber_pcs": sum(r.get("pcs", 0) for r in lasts),
        "subscriber_pcs_failed": sum(r.get("pcs_failed", 0) for r in lasts),
        "subscribers_ready": sum(r.get("ready", 0) for r in lasts),
        "subscribers_refused": sum(r.get("refused", 0) for r in lasts),
    }


def at_node(result: dict[str, Any]) -> float | None:
    """The publisher's frame rate as the node received it: frames sent, scaled by the share
    of the publisher's video packets the node counted (Liveroom's own counters)."""
    received, sent = result.get("node_received_video_pps"), result.get("publisher_video_pps")
    if received is None or not sent:
        return None
    share: float = min(1.0, received / sent)
    return round(float(result["publisher_fps"]) * share, 2)


def overload_table(results: list[dict[str, Any]]) -> str:
    """Per step past saturation: did the lesson survive, and how well."""
    head = (f"{'setup':16} {'N':>3} {'rnd':>3} {'node cores':>10} {'pub fps':>7} "
            f"{'at node':>7} {'sub fps min/med':>15} {'audio pps min':>13} {'lost':>6} "
            f"{'pcs failed':>10} {'pub pc':>6} {'refused':>7}")
    lines = [head, "-" * len(head)]
    for r in results:
        if r.get("mode") == "soak" or "error" in r:
            continue
        fps, node_fps = r["video_fps"], r.get("publisher_fps_at_node")
        lines.append(
            f"{r['setup']:16} {r['n']:>3} {r.get('round', 0):>3} {r['node_cpu_cores']:>10.3f} "
            f"{r['publisher_fps']:>7.1f} {'-' if node_fps is None else f'{node_fps:.1f}':>7} "
            f"{fps['min']:>7.1f}/{fps['median']:<7.1f} {r['audio_pps']['min']:>13.1f} "
            f"{r['lost_packets']:>6} "
            f"{r['subscriber_pcs_failed']:>4}/{r['subscriber_pcs']:<5} "
            f"{'lost' if r['publisher_pc_failed'] else 'up':>6} {r['subscribers_refused']:>7}"
        )
    return "\n".join(lines)


def overload_checks(results: list[dict[str, Any]]) -> list[tuple[bool, str]]:
    """Issue 16's aims past saturation: the publisher stays connected, every peer
    connection survives, every subscriber keeps its audio (>= 45 of 50 packets/s) and
    some video."""
    verdicts: list[tuple[bool, str]] = []
    for r in results:
        if "error" in r or r.get("mode") == "soak":
            continue
        name = f"{r['setup']} N={r['n']}"
        verdicts.append((not r["publisher_pc_failed"], f"{name}: publisher connected"))
        verdicts.append((r["subscriber_pcs_failed"] == 0, f"{name}: no subscriber peer "
                         f"connection lost ({r['subscriber_pcs_failed']})"))
        verdicts.append((r["audio_pps"]["min"] >= 45, f"{name}: every subscriber's audio "
                         f">= 45 pps (min {r['audio_pps']['min']})"))
        verdicts.append((r["video_fps"]["min"] > 0, f"{name}: video degrades but does not "
                         f"stop (min {r['video_fps']['min']} fps)"))
    return verdicts
