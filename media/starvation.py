"""The node's own starvation: how late its event loop runs timers (sans-IO, time passed in).

When the event loop is starved (the machine is saturated, or something blocked the loop),
a publisher's packets wait in the socket, or are dropped by the kernel when its buffer
overflows: from inside the node this looks exactly like the publisher falling silent. A
periodic timer knows when it was due and when it ran; the difference is the loop's lag.
`LoopLag` keeps the end of the last starved spell (a lag at or above `threshold_s`, or
other evidence such as a socket dropping datagrams), so that silence is only blamed on a
client when it lasted that long *after* the node was itself running again.
"""

from __future__ import annotations

__all__ = ["DEFAULT_THRESHOLD_S", "LoopLag"]

DEFAULT_THRESHOLD_S = 0.2
"""A timer this late means the loop did not run for a while (normal lag is ~1-50 ms,
on a busy shared machine up to ~100 ms)."""


class LoopLag:
    """Event-loop lag measured by a periodic timer, and when the node was last starved."""

    def __init__(self, threshold_s: float = DEFAULT_THRESHOLD_S) -> None:
        self.threshold_s = threshold_s
        self.last = 0.0
        """The lag of the latest observation (s)."""
        self.starved_until: float | None = None
        """When the latest starved spell ended (the late timer ran, or the evidence was
        seen); None if the node has never been starved."""
        self.spells = 0

    def observe(self, due: float, ran: float) -> float:
        """A timer due at `due` ran at `ran`; returns the lag (never negative)."""
        lag = max(0.0, ran - due)
        self.last = lag
        if lag >= self.threshold_s:
            self.starved(ran)
        return lag

    def starved(self, now: float) -> None:
        """Other evidence that the node could not keep up at `now` (e.g. socket drops)."""
        if self.starved_until is None or now > self.starved_until:
            self.starved_until = now
        self.spells += 1

    def starved_since(self, t: float) -> bool:
        """Whether the node was starved at any time from `t` on."""
        return self.starved_until is not None and self.starved_until >= t

    def quiet_from(self, last_heard: float) -> float:
        """Where a client's silence starts counting: at its last packet, or at the end of
        the node's last starved spell if that came later (the node was not listening)."""
        if self.starved_until is None:
            return last_heard
        return max(last_heard, self.starved_until)
