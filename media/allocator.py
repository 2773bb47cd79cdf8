"""Per-subscriber layer allocation over all its videos (sans-IO: time and rates passed in,
decisions returned), modelled on LiveKit's StreamAllocator and Jitsi's BandwidthAllocator,
simplified for rooms of up to 9.

Input per update: the subscriber's estimate (bits/s; REMB today: the caller adds up the
estimates of the subscriber's downlinks), the audio it receives, and per video its layers:
spatial layers (rid, size, measured and nominal bitrate) and the cumulative share of each
temporal layer, its priority class and whether the subscriber wants it.

The choice: each video gets a ladder of layers, cheapest first. A camera favours frame rate
(all temporal layers of the lowest size, then larger sizes at full rate); a screen share
favours resolution (every size at the base rate, then the frame rate at the largest). With
the video budget (estimate x `keep_ratio`, minus audio), in priority order (screen share,
tutor's camera, learners' cameras) every wanted video gets its lowest step; the first that
does not fit is paused with everything after it (the audio-only fallback, last step below
the lowest layer of all). Then, in the same order, each video climbs as far as it fits: the
tutor's video gets its best fitting layer before learners' cameras improve.

Dynamics: down at once; up only with headroom (estimate x `climb_ratio`), not within
`up_hold` seconds of going down, and not while a switch waits for its keyframe. A change
of spatial layer asks for a keyframe of the target layer and happens when
`keyframe_arrived()` says it came (until then the current layer goes on, at its base
frame rate when going down). A temporal change
happens at once (the TemporalRewriter waits for a safe picture). A new video starts at its
lowest layer and climbs. A REMB estimate grows only a little above what is sent, so when
something could climb but the estimate does not allow it, the allocator asks for a probe
(padding or RTX at `Probe.bitrate_bps` for `Probe.duration`, the caller sends it): up to
twice the current rate, then it waits `probe_settle` for the estimate; a failed probe waits
longer before the next (x1.5, at most `probe_max_interval`, so a lifted cap is found again
within a few seconds).

`publisher_demand()` answers for the publisher side: per publication, the highest layer
any subscriber needs and the bitrate that takes (the REMB cap to send it, instead of the
slowest subscriber's estimate), and the spatial layers nobody needs (dynacast candidates).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum


class Priority(IntEnum):
    """Who is served first (higher first)."""

    LEARNER_CAMERA = 0
    TUTOR_CAMERA = 1
    SCREEN = 2


@dataclass(frozen=True, order=True)
class Layer:
    spatial: int
    temporal: int


@dataclass(frozen=True)
class SpatialLayer:
    rid: str
    width: int
    height: int
    bitrate_bps: float
    """Measured, all temporal layers (0: not measured yet, the nominal one is used)."""
    max_bitrate_bps: float = 0.0
    """Nominal (the encoder's target for this layer); 0: the measured one."""
    active: bool = True
    """False: the publisher cannot send it now. A layer paused by dynacast stays active."""

    @property
    def rate(self) -> float:
        return self.bitrate_bps or self.max_bitrate_bps

    @property
    def nominal(self) -> float:
        return self.max_bitrate_bps or self.bitrate_bps


@dataclass(frozen=True)
class VideoTrack:
    key: Hashable
    """The publication (the same key in every subscriber's allocator)."""
    priority: Priority
    spatial: tuple[SpatialLayer, ...]
    """Smallest first."""
    temporal_shares: tuple[float, ...] = (1.0,)
    """Cumulative share of a spatial layer's bitrate up to each temporal layer (libwebrtc's
    L1T3 split is 0.4 / 0.6 / 1.0)."""
    wanted: bool = True
    """Subscribed and visible."""

    def ladder(self) -> list[tuple[Layer, float]]:
        """The steps, cheapest first, with their bitrates."""
        sizes = [s for s, layer in enumerate(self.spatial) if layer.active]
        if not sizes:
            return []
        top_t = len(self.temporal_shares) - 1
        if self.priority is Priority.SCREEN:  # resolution first
            steps = [Layer(s, 0) for s in sizes]
            steps += [Layer(sizes[-1], t) for t in range(1, top_t + 1)]
        else:  # frame rate first
            steps = [Layer(sizes[0], t) for t in range(top_t + 1)]
            steps += [Layer(s, top_t) for s in sizes[1:]]
        out: list[tuple[Layer, float]] = []
        for layer in steps:
            bps = self.spatial[layer.spatial].rate * self.temporal_shares[layer.temporal]
            if not out or bps > out[-1][1]:
                out.append((layer, bps))
        return out


@dataclass(frozen=True)
class AllocatorPolicy:
    keep_ratio: float = 0.95
    """The share of the estimate the videos (plus audio) may use."""
    climb_ratio: float = 0.80
    """Going up must fit in this share of the estimate (the gap to `keep_ratio` is the
    hysteresis)."""
    up_hold: float = 2.0
    """Seconds after going down before anything goes up."""
    keyframe_retry: float = 1.0
    """A keyframe not come after this many seconds is asked for again."""
    probe_duration: float = 0.5
    probe_settle: float = 0.5
    """Seconds after a probe before its result is read from the estimate."""
    probe_min_interval: float = 1.0
    probe_max_interval: float = 5.0
    probe_backoff: float = 1.5
    probe_max_step_bps: float = 600_000
    """A probe asks for at most twice the current rate, and at most this much more."""


DEFAULT_POLICY = AllocatorPolicy()


@dataclass(frozen=True)
class KeyframeRequest:
    key: Hashable
    spatial: int


@dataclass(frozen=True)
class Probe:
    bitrate_bps: float
    """The total rate to send to the subscriber while probing (media + padding/RTX)."""
    duration: float


@dataclass(frozen=True)
class TrackAllocation:
    target: Layer | None
    """Where the video is going; None: paused (audio only)."""
    forwarding: Layer | None
    """What to forward now (the current layer until a spatial switch's keyframe came)."""
    bitrate_bps: float
    """The bitrate of `forwarding`."""


@dataclass(frozen=True)
class Allocation:
    tracks: dict[Hashable, TrackAllocation]
    keyframes: list[KeyframeRequest] = field(default_factory=list)
    probe: Probe | None = None
    budget_bps: float = 0.0
    """The video budget (estimate x keep_ratio - audio)."""


@dataclass
class _State:
    current: Layer | None = None  # forwarded now (None: nothing yet, or paused)
    target: Layer | None = None
    asked_at: float = -1e9  # the last keyframe request for the target


class LayerAllocator:
    """One subscriber's allocation over all the videos it receives."""

    def __init__(self, policy: AllocatorPolicy = DEFAULT_POLICY) -> None:
        self.policy = policy
        self.estimate: float | None = None
        self._states: dict[Hashable, _State] = {}
        self._down_at = -1e9
        self._probe_interval = policy.probe_min_interval
        self._next_probe = 0.0
        self._probe: tuple[float, float] | None = None  # (goal bps, read result at)

    def set_estimate(self, bitrate_bps: float) -> None:
        self.estimate = bitrate_bps

    def keyframe_arrived(self, key: Hashable, spatial: int) -> bool:
        """A keyframe of `spatial` arrived for `key`: switch if it is the awaited one."""
        state = self._states.get(key)
        if state is None or state.target is None or state.target.spatial != spatial:
            return False
        switched, state.current = state.current != state.target, state.target
        return switched

    def update(
        self, tracks: Sequence[VideoTrack], now: float, audio_bps: float = 0.0
    ) -> Allocation:
        """The allocation now; `audio_bps`: the audio the subscriber receives."""
        policy = self.policy
        for key in [k for k in self._states if k not in {t.key for t in tracks}]:
            del self._states[key]
        order = sorted(
            (t for t in tracks if t.wanted and t.ladder()), key=lambda t: (-t.priority, str(t.key))
        )
        ladders = {t.key: t.ladder() for t in order}
        if self.estimate is None:  # nothing measured yet: everyone starts at the bottom
            keep = {t.key: 0 for t in order}
            climb: dict[Hashable, int] | None = None
            budget = sum(ladders[t.key][0][1] for t in order)
        else:
            budget = self.estimate * policy.keep_ratio - audio_bps
            keep = _fit(order, ladders, budget, cap=self._levels(ladders))
            running = {k for k, state in self._states.items() if state.current is not None}
            started = {  # a new or paused video starts again at its lowest step
                t.key: len(ladders[t.key]) - 1 if t.key in running else 0 for t in order
            }
            climb = _fit(order, ladders, self.estimate * policy.climb_ratio - audio_bps, started)
        levels = keep
        went_down = any(keep.get(t.key, -1) < self._level(t.key, ladders) for t in order)
        if went_down:
            self._down_at = now
            self._probe, self._probe_interval = None, policy.probe_min_interval
            self._next_probe = now + policy.up_hold
        settled = all(s.current == s.target for s in self._states.values())
        if (climb is not None and not went_down and settled
                and now - self._down_at >= policy.up_hold and _better(order, climb, keep)
                and all(k in climb for k in keep)):  # climbing pauses nobody
            levels = climb
        keyframes: list[KeyframeRequest] = []
        result: dict[Hashable, TrackAllocation] = {}
        for track in tracks:
            state = self._states.setdefault(track.key, _State())
            ladder = ladders.get(track.key)
            level = levels.get(track.key, -1)
            target = ladder[level][0] if ladder is not None and level >= 0 else None
            self._move(track.key, state, target, now, keyframes)
            forwarding = state.current
            if (forwarding is not None and target is not None and target != forwarding
                    and target.spatial < forwarding.spatial):
                forwarding = Layer(forwarding.spatial, 0)  # going down: base rate meanwhile
            bps = _rate(track, forwarding)
            result[track.key] = TrackAllocation(target, forwarding, bps)
        probe = self._maybe_probe(order, ladders, levels, result, now, audio_bps)
        return Allocation(result, keyframes, probe, budget)

    # -- internals ------------------------------------------------------------------------

    def _level(self, key: Hashable, ladders: Mapping[Hashable, list[tuple[Layer, float]]]) -> int:
        state = self._states.get(key)
        ladder = ladders.get(key)
        if state is None or ladder is None:
            return -1
        layer = state.target
        return next((i for i, (step, _) in enumerate(ladder) if step == layer), -1)

    def _levels(self, ladders: Mapping[Hashable, list[tuple[Layer, float]]]) -> dict[Hashable, int]:
        """Each video's present step; a new one may take its lowest, a paused one none."""
        return {
            key: self._level(key, ladders) if key in self._states else 0 for key in ladders
        }

    def _move(self, key: Hashable, state: _State, target: Layer | None, now: float,
              keyframes: list[KeyframeRequest]) -> None:
        if target is None:
            state.current = state.target = None
            return
        if target != state.target:
            state.target, state.asked_at = target, -1e9
        current = state.current
        if current is not None and current.spatial == target.spatial:
            state.current = target  # temporal only: the rewriter finds the safe picture
            return
        if current != target and now - state.asked_at >= self.policy.keyframe_retry:
            state.asked_at = now
            keyframes.append(KeyframeRequest(key, target.spatial))

    def _maybe_probe(self, order: Sequence[VideoTrack],
                     ladders: Mapping[Hashable, list[tuple[Layer, float]]],
                     levels: Mapping[Hashable, int], result: Mapping[Hashable, TrackAllocation],
                     now: float, audio_bps: float) -> Probe | None:
        policy, estimate = self.policy, self.estimate
        if estimate is None:
            return None
        if self._probe is not None:
            goal, read_at = self._probe
            if now < read_at:
                return None
            self._probe = None
            if estimate >= goal * 0.9:
                self._probe_interval = policy.probe_min_interval
            else:
                self._probe_interval = min(policy.probe_max_interval,
                                           self._probe_interval * policy.probe_backoff)
            self._next_probe = now + self._probe_interval
            return None
        room = [t for t in order if levels.get(t.key, -1) < len(ladders[t.key]) - 1]
        if not room or now < self._next_probe or any(
            s.current != s.target for s in self._states.values()
        ):
            return None
        sending = sum(a.bitrate_bps for a in result.values()) + audio_bps
        wanted = sum(ladders[t.key][-1][1] for t in order) + audio_bps
        first, level = room[0], levels.get(room[0].key, -1)  # the next step, by priority
        ladder = ladders[first.key]
        step = ladder[level + 1][1] - (ladder[level][1] if level >= 0 else 0.0)
        ramp = min(2 * sending, sending + policy.probe_max_step_bps)
        goal = min(wanted, max(sending + step, ramp)) / policy.climb_ratio
        if goal <= estimate:
            return None  # the estimate already allows the next step: no probe needed
        self._probe = (goal, now + policy.probe_duration + policy.probe_settle)
        return Probe(goal, policy.probe_duration)


def _rate(track: VideoTrack, layer: Layer | None) -> float:
    if layer is None:
        return 0.0
    return track.spatial[layer.spatial].rate * track.temporal_shares[layer.temporal]


def _fit(order: Sequence[VideoTrack], ladders: Mapping[Hashable, list[tuple[Layer, float]]],
         budget: float, cap: Mapping[Hashable, int] | None = None) -> dict[Hashable, int]:
    """Each video's step within `budget`: lowest steps in priority order (the first that
    does not fit pauses it and all after it), then each climbs as far as it fits, in order;
    `cap` limits each to its present step (so keeping never climbs)."""
    levels: dict[Hashable, int] = {}
    left = budget
    for track in order:
        if cap is not None and cap[track.key] < 0:
            break  # paused: only a climb resumes it (and what comes after it waits)
        lowest = ladders[track.key][0][1]
        if lowest > left:
            break
        levels[track.key] = 0
        left -= lowest
    for track in order:
        if track.key not in levels:
            continue
        ladder = ladders[track.key]
        top = len(ladder) - 1 if cap is None else min(len(ladder) - 1, cap[track.key])
        level = 0
        while level < top and ladder[level + 1][1] - ladder[level][1] <= left:
            left -= ladder[level + 1][1] - ladder[level][1]
            level += 1
        levels[track.key] = level
    return levels


def _better(
    order: Sequence[VideoTrack], a: Mapping[Hashable, int], b: Mapping[Hashable, int]
) -> bool:
    """`a` serves the videos better than `b`, compared in priority order."""
    for track in order:
        x, y = a.get(track.key, -1), b.get(track.key, -1)
        if x != y:
            return x > y
    return False


@dataclass(frozen=True)
class PublisherDemand:
    highest: Layer | None
    """The highest layer any subscriber forwards or goes to (None: nobody wants it)."""
    bitrate_bps: float
    """What the publisher sends for the highest needed layer and those below it (nominal
    rates): its REMB cap."""
    unneeded: tuple[int, ...]
    """Spatial layers no subscriber needs (dynacast candidates; the lowest never is: a new
    subscription starts there)."""


def publisher_demand(
    tracks: Mapping[Hashable, VideoTrack], allocations: Iterable[Allocation]
) -> dict[Hashable, PublisherDemand]:
    """Per publication, from every subscriber's latest allocation."""
    needed: dict[Hashable, set[Layer]] = {key: set() for key in tracks}
    for allocation in allocations:
        for key, given in allocation.tracks.items():
            if key in needed:
                needed[key].update(x for x in (given.target, given.forwarding) if x is not None)
    out: dict[Hashable, PublisherDemand] = {}
    for key, track in tracks.items():
        layers = needed[key]
        highest = max(layers) if layers else None
        top = highest.spatial if highest is not None else -1
        # Chromium sends every active layer and splits its rate from the bottom up: the cap
        # covers all layers up to the highest needed one (a ceiling, also once dynacast
        # has paused some of them)
        bps = sum(layer.nominal for layer in track.spatial[: top + 1])
        spatial = {layer.spatial for layer in layers} | {0}
        unneeded = tuple(s for s in range(len(track.spatial)) if s not in spatial)
        out[key] = PublisherDemand(highest, bps, unneeded)
    return out
