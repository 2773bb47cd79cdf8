"""CPU and memory of a process, and of the machine, read from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after the command: state is field 3, utime 14 and stime 15 (1-based, man proc)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user..steal (guest time is already in user)
    return total - idle, total


@dataclass(frozen=True)
class Sample:
    """A point-in-time reading: monotonic time, CPU seconds of each watched process."""

    t: float
    cpu: dict[int, float]
    machine: tuple[int, int]

    @staticmethod
    def take(t: float, pids: list[int]) -> Sample:
        cpu = {}
        for pid in pids:
            try:
                cpu[pid] = cpu_seconds(pid)
            except OSError:
                cpu[pid] = float("nan")
        return Sample(t, cpu, machine_ticks())


def cores(a: Sample, b: Sample, pids: list[int]) -> float:
    """Average cores the processes used between two samples."""
    used = sum(b.cpu.get(pid, 0.0) - a.cpu.get(pid, 0.0) for pid in pids)
    return used / (b.t - a.t)


def machine_busy(a: Sample, b: Sample) -> float:
    """Average busy cores of the whole machine between two samples."""
    busy = b.machine[0] - a.machine[0]
    total = b.machine[1] - a.machine[1]
    return (os.cpu_count() or 1) * busy / total if total else 0.0
