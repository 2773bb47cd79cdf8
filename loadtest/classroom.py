"""A classroom load test's plan, pure: seats, the ramp and the chaos waves (times passed in).

`SeatPlan` hands out seats (room r's tutor `{prefix}{r}-t`, its learners `{prefix}{r}-l{j}`)
to locust users: a master holds it and workers ask for seats (locustfile.py), so a run
with several worker processes still fills each room with exactly one tutor and N learners.
Learners fill rooms evenly; a released seat is handed out again. `Chaos` says what a
learner does at each wave (drop its network, reload, leave for good) from its place in the
class, so the shares are exact over the whole run and spread over the rooms.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.Enum):
    NONE = "none"
    DROP = "drop"
    RELOAD = "reload"
    LEAVE = "leave"


@dataclass(frozen=True)
class Seat:
    room: str
    identity: str
    role: str  # "tutor" or "learner"
    index: int  # the learner's number in its room (0 for the tutor)
    rank: int  # learners: place in the whole class, interleaving rooms (chaos shares)


@dataclass(frozen=True)
class ClassroomPlan:
    rooms: int
    learners: int  # per room
    ramp_s: float
    lesson_s: float  # the whole run, ramp included
    prefix: str = "class"

    def __post_init__(self) -> None:
        if not 1 <= self.rooms <= 10_000 or not 0 <= self.learners <= 63:
            raise ValueError("rooms must be 1..10000 and learners 0..63 (64 per room)")
        if self.ramp_s < 0 or self.lesson_s <= self.ramp_s:
            raise ValueError("the lesson must be longer than the ramp")

    @property
    def participants(self) -> int:
        return self.rooms * (1 + self.learners)

    def tick(self, run_time_s: float) -> tuple[int, float] | None:
        """The shape: every seat filled over the ramp, held to the lesson's end, then stop."""
        if run_time_s >= self.lesson_s:
            return None
        rate = self.participants / self.ramp_s if self.ramp_s > 0 else float(self.participants)
        return self.participants, max(rate, 0.1)


class SeatPlan:
    def __init__(self, plan: ClassroomPlan) -> None:
        self.plan = plan
        self.taken: set[str] = set()

    def seat(self, role: str, room: int, index: int) -> Seat:
        name = f"{self.plan.prefix}{room}"
        if role == "tutor":
            return Seat(name, f"{name}-t", role, 0, 0)
        return Seat(name, f"{name}-l{index}", role, index, index * self.plan.rooms + room)

    def claim(self, role: str) -> Seat | None:
        """The next free seat for `role`, or None when the class is full."""
        plan = self.plan
        if role == "tutor":
            for room in range(plan.rooms):
                seat = self.seat(role, room, 0)
                if seat.identity not in self.taken:
                    self.taken.add(seat.identity)
                    return seat
            return None
        best: Seat | None = None
        for room in range(plan.rooms):
            free = [j for j in range(plan.learners)
                    if self.seat(role, room, j).identity not in self.taken]
            if free and (best is None or self._filled(room) < self._filled(
                    int(best.room.removeprefix(plan.prefix)))):
                best = self.seat(role, room, free[0])
        if best is not None:
            self.taken.add(best.identity)
        return best

    def _filled(self, room: int) -> int:
        return sum(1 for j in range(self.plan.learners)
                   if self.seat("learner", room, j).identity in self.taken)

    def release(self, identity: str) -> None:
        self.taken.discard(identity)


@dataclass(frozen=True)
class Chaos:
    learners: int  # in the whole class
    drop_share: float = 0.0
    reload_share: float = 0.0
    leave_share: float = 0.0
    first_wave_s: float = 0.0  # from the start of the run
    waves: int = 1
    wave_every_s: float = 20.0

    def __post_init__(self) -> None:
        shares = (self.drop_share, self.reload_share, self.leave_share)
        if min(shares) < 0 or sum(shares) > 1:
            raise ValueError("chaos shares must be >= 0 and add up to at most 1")
        if not 0 <= self.waves <= 100 or self.wave_every_s <= 0:
            raise ValueError("waves must be 0..100, wave_every_s positive")

    def action(self, rank: int) -> Action:
        """What the learner at `rank` does at each wave."""
        drops = round(self.drop_share * self.learners)
        reloads = round(self.reload_share * self.learners)
        leaves = round(self.leave_share * self.learners)
        if rank < drops:
            return Action.DROP
        if rank < drops + reloads:
            return Action.RELOAD
        if rank < drops + reloads + leaves:
            return Action.LEAVE
        return Action.NONE

    def wave_times(self) -> list[float]:
        return [self.first_wave_s + k * self.wave_every_s for k in range(self.waves)]
