"""The review composite's sans-IO core: which participants get a tile and where, which
frame a tile shows at an output instant, and how the participants' audio is aligned and
mixed. Numpy only; times are session seconds passed in (`recorder.render` does the IO).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

F = TypeVar("F")
Samples = npt.NDArray[np.float32]
Plane = npt.NDArray[np.uint8]

BLACK_Y, GRAY_UV = 16, 128
HOLD_S = 1.0  # a tile keeps showing its last frame this long after it (then black)
JOIN_SAMPLES = 48  # audio chunks this close (1 ms at 48 kHz) to the lane's end are contiguous


@dataclass(frozen=True, slots=True)
class Cell:
    """Where a tile goes in the picture, in pixels (multiples of 4, for 4:2:0 chroma)."""

    x: int
    y: int
    width: int
    height: int


def _quad(value: float) -> int:
    return max(4, int(value) // 4 * 4)


def grid(count: int, width: int, height: int, aspect: float = 4 / 3) -> list[Cell]:
    """`count` tiles of one `aspect` in a `width` x `height` picture (multiples of 4): as
    many columns as the square root rounds up to, rows as needed, each tile as large as
    its slot allows, centred in it; a short last row is centred too."""
    if count <= 0:
        return []
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    slot_w, slot_h = width / cols, height / rows
    tile_w = _quad(min(slot_w, slot_h * aspect))
    tile_h = _quad(tile_w / aspect)
    cells = []
    for i in range(count):
        row, col = divmod(i, cols)
        in_row = min(cols, count - row * cols)
        left = (width - in_row * slot_w) / 2  # a short last row is centred
        x = int(left + col * slot_w + (slot_w - tile_w) / 2) // 4 * 4
        y = int(row * slot_h + (slot_h - tile_h) / 2) // 4 * 4
        cells.append(Cell(min(x, width - tile_w), min(y, height - tile_h), tile_w, tile_h))
    return cells


def fit(width: int, height: int, cell: Cell) -> Cell:
    """Where a `width` x `height` picture goes in `cell`: as large as fits with its own
    aspect kept, centred (a 16:9 camera is letterboxed in a 4:3 tile, not stretched)."""
    if width <= 0 or height <= 0:
        return cell
    scale = min(cell.width / width, cell.height / height)
    w = min(cell.width, max(4, round(width * scale / 4) * 4))
    h = min(cell.height, max(4, round(height * scale / 4) * 4))
    x = cell.x + (cell.width - w) // 4 * 2
    y = cell.y + (cell.height - h) // 4 * 2
    return Cell(x, y, w, h)


@dataclass(frozen=True, slots=True)
class Seat:
    """A participant as the timeline knows them."""

    pseudonym: str
    role: str
    joined: int  # order of their first `participant_joined` line


def tile_order(seats: Sequence[Seat]) -> list[str]:
    """Tutors first, then learners, then anyone else; each group by join order."""
    rank = {"tutor": 0, "learner": 1}
    return [s.pseudonym for s in sorted(seats, key=lambda s: (rank.get(s.role, 2), s.joined))]


def seats_of(timeline: Sequence[dict[str, Any]]) -> list[Seat]:
    """Every participant who joined, in the order of their first join line."""
    seats: dict[str, Seat] = {}
    for line in timeline:
        who = line.get("participant")
        if line.get("event") == "participant_joined" and isinstance(who, str) and (
                who not in seats):
            seats[who] = Seat(who, str(line.get("role", "unknown")), len(seats))
    return list(seats.values())


class TileFeed(Generic[F]):
    """One tile's frames, in session-time order, read ahead by at most one frame.

    `at(t)` is the frame to show at output time `t`: the latest frame whose time is at or
    before `t`, as long as it is at most `hold_s` old; before the first frame, after the
    last one by more than `hold_s`, or in a longer gap (a mute, an absence), None: black.
    Output times must not go back."""

    def __init__(self, frames: Iterator[tuple[float, F]], hold_s: float = HOLD_S) -> None:
        self._frames = frames
        self.hold_s = hold_s
        self._current: tuple[float, F] | None = None
        self._next: tuple[float, F] | None = None
        self._done = False
        self.consumed = 0  # frames read from the iterator
        self.changes = 0  # different frames `at` returned (consecutive repeats count once)
        self._index = 0  # of the current frame, 1-based (0: none yet)
        self._shown = 0

    def _peek(self) -> tuple[float, F] | None:
        if self._next is None and not self._done:
            self._next = next(self._frames, None)
            if self._next is None:
                self._done = True
            else:
                self.consumed += 1
        return self._next

    def at(self, t: float) -> F | None:
        while (upcoming := self._peek()) is not None and upcoming[0] <= t:
            self._current, self._next = upcoming, None
            self._index += 1
        if self._current is None or t - self._current[0] > self.hold_s:
            return None
        if self._shown != self._index:
            self._shown = self._index
            self.changes += 1
        return self._current[1]


class AudioLane:
    """One participant's audio on the output's sample clock.

    Chunks come in time order (`add`: first sample index and mono float samples); `take`
    hands out the next `n` output samples, silence where the lane has none. A chunk that
    starts within `JOIN_SAMPLES` of the lane's end continues it (pts are rounded to 1 ms in
    WebM); one that starts earlier than that loses its overlap; one that starts later
    leaves a silent gap (never filled in memory: a late joiner costs nothing)."""

    def __init__(self) -> None:
        self.cursor = 0  # the next output sample `take` hands out
        self._chunks: deque[tuple[int, Samples]] = deque()
        self._end = 0  # just after the last sample added

    @property
    def end(self) -> int:
        """Output index up to which the lane knows its samples (added or handed out)."""
        return max(self.cursor, self._end)

    def add(self, start: int, samples: Samples) -> None:
        end = self.end
        if abs(start - end) <= JOIN_SAMPLES:
            start = end
        elif start < end:
            samples = samples[end - start:]
            start = end
        if len(samples):
            self._chunks.append((start, samples.astype(np.float32, copy=False)))
            self._end = start + len(samples)

    def take(self, n: int) -> Samples:
        out = np.zeros(n, dtype=np.float32)
        lo, hi = self.cursor, self.cursor + n
        while self._chunks:
            start, samples = self._chunks[0]
            stop = start + len(samples)
            if start >= hi:
                break
            a, b = max(start, lo), min(stop, hi)
            if b > a:
                out[a - lo:b - lo] = samples[a - start:b - start]
            if stop > hi:
                break
            self._chunks.popleft()
        self.cursor = hi
        return out


def mix(blocks: Sequence[Samples], n: int) -> Samples:
    """The participants' aligned blocks summed and limited to full scale ([-1, 1]): a
    voice alone passes unchanged, two loud ones at once clip instead of wrapping."""
    total = np.zeros(n, dtype=np.float32)
    for block in blocks:
        total[:len(block)] += block[:n]
    return np.clip(total, -1.0, 1.0)


@dataclass(slots=True)
class Canvas:
    """A yuv420p picture as three planes, black to begin with."""

    y: Plane
    u: Plane
    v: Plane

    @classmethod
    def black(cls, width: int, height: int) -> Canvas:
        return cls(np.full((height, width), BLACK_Y, dtype=np.uint8),
                   np.full((height // 2, width // 2), GRAY_UV, dtype=np.uint8),
                   np.full((height // 2, width // 2), GRAY_UV, dtype=np.uint8))

    def paste(self, cell: Cell, y: Plane, u: Plane, v: Plane) -> None:
        """Put a tile's planes (cell-sized) at `cell`."""
        self.y[cell.y:cell.y + cell.height, cell.x:cell.x + cell.width] = y
        cy, cx, ch, cw = cell.y // 2, cell.x // 2, cell.height // 2, cell.width // 2
        self.u[cy:cy + ch, cx:cx + cw] = u
        self.v[cy:cy + ch, cx:cx + cw] = v

    def blank(self, cell: Cell) -> None:
        cy, cx, ch, cw = cell.y // 2, cell.x // 2, cell.height // 2, cell.width // 2
        self.y[cell.y:cell.y + cell.height, cell.x:cell.x + cell.width] = BLACK_Y
        self.u[cy:cy + ch, cx:cx + cw] = GRAY_UV
        self.v[cy:cy + ch, cx:cx + cw] = GRAY_UV

    def packed(self) -> Plane:
        """The planes stacked as PyAV's yuv420p ndarray (height * 3/2 rows)."""
        h, w = self.y.shape
        return np.concatenate([self.y, self.u.reshape(h // 4, w), self.v.reshape(h // 4, w)])


def output_frames(duration_s: float, fps: int) -> int:
    """How many output frames a session of `duration_s` has (the last one starts before
    the end)."""
    return max(1, math.ceil(duration_s * fps - 1e-9))
