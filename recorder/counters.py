"""The recorder's counters (read by the node's Prometheus collector at scrape time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RecorderCounters:
    bytes: int = 0  # sealed bytes written
    segments: int = 0
    drops: int = 0  # packets dropped on a full queue
    recoveries: int = 0  # open segments recovered after a crash
    upload_failures: int = 0
    erasures: int = 0
