"""Client-side continuity: when to call a connection stalled, how to back off, and a
timeline of each reconnect on one clock (pure: times passed in)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from signalling.protocol import CloseCode as C

# The node closed us on purpose (replaced, room closed, refused): do not reconnect.
FINAL_CLOSE_CODES = frozenset([
    C.NORMAL, C.PROTOCOL, C.AUTH, C.FORBIDDEN, C.NOT_FOUND, C.ROOM_FULL, C.REPLACED,
    C.ROOM_CLOSED, C.WRONG_NODE,
])
"""Closes after which rejoining cannot help (others, 4010 or 4029 included, reconnect);
after 4307 (`wrong_node`) the join that got it follows the URL itself."""
FINAL_ERRORS = frozenset(["bad_token", "token_expired", "wrong_room", "room_full"])
MAX_REDIRECTS = 3  # `wrong_node` answers a join follows (the cluster redirects once)

# Reconnect phases, in the order they normally happen.
STALL_DETECTED = "stall_detected"
RECONNECT_STARTED = "reconnect_started"
SIGNALLING_RESUMED = "signalling_resumed"
ICE_CONNECTED = "ice_connected"
FIRST_PACKET = "first_packet"
FIRST_FRAME = "first_frame"
NETWORK_RESTORED = "network_restored"
GAVE_UP = "gave_up"


@dataclass(frozen=True)
class ReconnectPolicy:
    stall_after: float = 2.0  # no media datagram for this long on a connected peer: stalled
    backoff_initial: float = 0.1
    backoff_max: float = 0.5
    jitter: float = 0.3  # each wait is scaled by a random factor in [1 - jitter, 1]
    give_up_after: float = 60.0  # the node's seat grace period
    attempt_timeout: float = 3.0
    redial_after: float = 0.5  # a dial still pending this long gets a fresh one beside it

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Wait before attempt number `attempt` (1 = the first retry)."""
        base = min(self.backoff_max, self.backoff_initial * 2.0 ** max(0, attempt - 1))
        return base * (1.0 - self.jitter * rng.random())

    def stalled(self, last_media_at: float | None, now: float) -> bool:
        return last_media_at is not None and now - last_media_at >= self.stall_after


@dataclass
class Reconnect:
    """One reconnect, phase name -> time (seconds on the client's monotonic clock)."""

    reason: str
    phases: dict[str, float] = field(default_factory=dict)
    attempts: int = 0

    def mark(self, phase: str, now: float) -> None:
        self.phases.setdefault(phase, now)

    def between(self, start: str, end: str) -> float | None:
        if start in self.phases and end in self.phases:
            return self.phases[end] - self.phases[start]
        return None
