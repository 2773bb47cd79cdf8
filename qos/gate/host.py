"""Telling a busy measuring host from a slow node (pure helpers and a small monitor).

The gate's clients, probe and (by default) the node share one process and event loop on
a machine that may be busy with other work. When the operating system does not run the
process for a while, every clock-based figure suffers (frames arrive late, RTT and jitter
jump) although neither the network nor the node did anything wrong. `HostMonitor` ticks
every 20 ms and notes the moments when the loop ran late *and its thread used little
CPU meanwhile* (it was not scheduled, or waited for the GIL): a **host stall**. A node that
blocks the loop does not look like that: its code runs on the loop's thread and uses CPU.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

__all__ = ["HostMonitor", "is_host_stall", "overlap"]

Interval = tuple[float, float]


def is_host_stall(wall_s: float, cpu_s: float, tick_s: float, *, min_lag_s: float = 0.05,
                  max_cpu_share: float = 0.5) -> bool:
    """A tick that took `wall_s` (asked for `tick_s`) while the thread used `cpu_s`."""
    return wall_s - tick_s >= min_lag_s and cpu_s <= max_cpu_share * wall_s


def overlap(intervals: Sequence[Interval], start: float, end: float) -> float:
    """Total time of `intervals` inside [start, end]."""
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals)


class HostMonitor:
    """Records host stalls (monotonic seconds) while `run()` is running."""

    def __init__(self, tick_s: float = 0.02) -> None:
        self.tick_s = tick_s
        self.stalls: list[Interval] = []

    async def run(self) -> None:
        while True:
            wall, cpu = time.monotonic(), time.thread_time()
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            if is_host_stall(now - wall, time.thread_time() - cpu, self.tick_s):
                self.stalls.append((wall + self.tick_s, now))
