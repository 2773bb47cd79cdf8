"""Seeded, deterministic network impairment for a client's peer connections (user space).

Wraps the ICE sockets of an aiortc peer connection. Random loss drops media datagrams
(SRTP and SRTCP; STUN is left alone so ICE keeps its consent) in either direction. An
outage (`cut`) drops every datagram both ways and makes the client's signalling fail, as
a dead home network would. An address change (`change_address`) kills the sockets in use
for good: the client must come back on new ones, as after a switch from Wi-Fi to 4G.

Each direction can also be given a `LinkProfile` (delay, jitter, random or Gilbert-Elliott
burst loss, a token-bucket rate limit with a packet queue, reordering). The decisions are
made by `LinkModel`, which is pure: it takes the arrival time and the datagram's size and
returns when to deliver it (or that it is dropped); `Impairment` does the IO, re-scheduling
delayed datagrams with `loop.call_later`. Only media datagrams go through the link model.

`Impairment` is the client's `NetworkModel` (signalling/client/network.py): give it to
`Client(impairment=...)`.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection

from signalling.client.aiortc_compat import ice_protocols

MAX_IN_FLIGHT = 4096
"""Delayed datagrams held per direction; beyond this new ones are dropped (never unbounded)."""


def _is_media(data: bytes | str) -> bool:
    return isinstance(data, bytes) and len(data) > 0 and 128 <= data[0] <= 191


# --- the pure link model ----------------------------------------------------------------


@dataclass(frozen=True)
class LinkProfile:
    """One direction of a simulated link, netem-style. All zero: a clean link."""

    delay_ms: float = 0.0
    """Fixed one-way delay."""
    jitter_ms: float = 0.0
    """Delay varies uniformly within ±jitter_ms (never below 0). Without `reorder` datagrams
    keep their order (a later one is never delivered before an earlier one)."""
    loss: float = 0.0
    """Random (Bernoulli) loss, 0..1."""
    burst_loss: float = 0.0
    """Gilbert-Elliott loss: long-run fraction lost, 0..1 (with `mean_burst`)."""
    mean_burst: float = 1.0
    """Mean length, in datagrams, of a Gilbert-Elliott loss burst (≥ 1)."""
    rate_kbps: float | None = None
    """Token-bucket rate limit (kbit/s of UDP payload); None = unlimited."""
    queue_packets: int = 32
    """Datagrams that may wait for the rate limiter; a full queue drops new ones (tail drop)."""
    bucket_bytes: int = 1500
    """Token-bucket depth: the burst sent at line rate after a quiet spell."""
    reorder: float = 0.0
    """Fraction of datagrams held back `reorder_ms` longer, so that later ones overtake them."""
    reorder_ms: float = 20.0

    def __post_init__(self) -> None:
        for name in ("loss", "burst_loss", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if self.burst_loss >= 1.0:
            raise ValueError("burst_loss must be below 1")
        if self.mean_burst < 1.0:
            raise ValueError("mean_burst must be at least 1")
        if min(self.delay_ms, self.jitter_ms, self.reorder_ms) < 0:
            raise ValueError("delay, jitter and reorder_ms must not be negative")
        if self.rate_kbps is not None and self.rate_kbps <= 0:
            raise ValueError("rate_kbps must be positive")
        if self.queue_packets < 1 or self.bucket_bytes < 1:
            raise ValueError("queue_packets and bucket_bytes must be positive")

    @property
    def clean(self) -> bool:
        return self == CLEAN


CLEAN = LinkProfile()


class Drop(enum.Enum):
    """Why the link model dropped a datagram."""

    LOSS = "loss"
    BURST = "burst"
    QUEUE = "queue"


class GilbertElliott:
    """Two-state burst loss: every datagram is lost in the bad state, none in the good one.

    r = P(bad → good) = 1 / mean_burst; p = P(good → bad) = loss·r / (1 - loss), so the
    long-run loss is p / (p + r) = loss and bursts last mean_burst datagrams on average.
    """

    def __init__(self, loss: float, mean_burst: float, rng: random.Random) -> None:
        self.r = 1.0 / mean_burst
        self.p = loss * self.r / (1.0 - loss)
        self.bad = False
        self._rng = rng

    def lost(self) -> bool:
        """Move the chain one datagram on; True if that datagram is lost."""
        if self.bad:
            self.bad = self._rng.random() >= self.r
        else:
            self.bad = self._rng.random() < self.p
        return self.bad


class TokenBucket:
    """A rate limiter with a FIFO queue of at most `queue_limit` datagrams (time in seconds).

    `admit` returns when the datagram leaves the limiter, or None when the queue is full.
    Departures are computed as they happen in a real token bucket: tokens refill at `rate`
    bytes/s up to `depth`; a datagram leaves once the queue ahead of it has left and enough
    tokens are there for it.
    """

    def __init__(self, rate_bytes_s: float, depth: int, queue_limit: int) -> None:
        self.rate = rate_bytes_s
        self.depth = float(depth)
        self.queue_limit = queue_limit
        self._tokens = float(depth)
        self._last: float | None = None  # time of the last departure (tokens counted there)
        self._waiting: deque[float] = deque()  # departure times still in the future

    def queued(self, now: float) -> int:
        """Datagrams waiting at `now`."""
        while self._waiting and self._waiting[0] <= now:
            self._waiting.popleft()
        return len(self._waiting)

    def admit(self, now: float, size: int) -> float | None:
        if self.queued(now) >= self.queue_limit:
            return None
        last = now if self._last is None else self._last
        base = max(now, last)
        tokens = min(self.depth, self._tokens + self.rate * (base - last))
        if tokens >= size:
            depart, tokens = base, tokens - size
        else:
            depart, tokens = base + (size - tokens) / self.rate, 0.0
        self._tokens, self._last = tokens, depart
        if depart > now:
            self._waiting.append(depart)
        return depart


class LinkModel:
    """Decides the fate of each datagram on one direction of a link (pure: time passed in).

    Order of the stages, as on a real path: loss (random, then burst), the rate limiter's
    queue, then propagation delay with jitter, then optional reordering.
    """

    def __init__(self, profile: LinkProfile, rng: random.Random) -> None:
        self.profile = profile
        self._rng = rng
        self._burst = (
            GilbertElliott(profile.burst_loss, profile.mean_burst, rng)
            if profile.burst_loss > 0 else None
        )
        self._bucket = (
            TokenBucket(profile.rate_kbps * 125.0, profile.bucket_bytes, profile.queue_packets)
            if profile.rate_kbps is not None else None
        )
        self._last_delivery = -math.inf
        self.passed = 0
        self.dropped: dict[Drop, int] = dict.fromkeys(Drop, 0)
        self.reordered = 0

    def decide(self, now: float, size: int) -> float | Drop:
        """When the datagram arriving at `now` (seconds) is delivered, or why it is dropped."""
        p = self.profile
        if p.loss > 0 and self._rng.random() < p.loss:
            return self._drop(Drop.LOSS)
        if self._burst is not None and self._burst.lost():
            return self._drop(Drop.BURST)
        t = now
        if self._bucket is not None:
            depart = self._bucket.admit(now, size)
            if depart is None:
                return self._drop(Drop.QUEUE)
            t = depart
        delay = p.delay_ms
        if p.jitter_ms > 0:
            delay = max(0.0, delay + self._rng.uniform(-p.jitter_ms, p.jitter_ms))
        t += delay / 1000.0
        self.passed += 1
        if p.reorder > 0 and self._rng.random() < p.reorder:
            self.reordered += 1
            return max(t, self._last_delivery) + p.reorder_ms / 1000.0  # others overtake it
        t = max(t, self._last_delivery)  # no reordering unless asked
        self._last_delivery = t
        return t

    def _drop(self, reason: Drop) -> Drop:
        self.dropped[reason] += 1
        return reason


# --- the socket adapter ----------------------------------------------------------------


@dataclass
class Impairment:
    """Random loss on receive (`loss_in`) and send (`loss_out`), each in [0, 1]; optional
    link profiles per direction (`inbound` applies to what the client receives)."""

    loss_in: float = 0.0
    loss_out: float = 0.0
    seed: int = 1
    dropped_in: int = 0
    dropped_out: int = 0
    passed_in: int = 0
    passed_out: int = 0
    cut_from: float | None = None
    restored_at: float | None = None  # when the last outage ended (time.monotonic)
    inbound: LinkProfile = CLEAN
    outbound: LinkProfile = CLEAN
    max_in_flight: int = MAX_IN_FLIGHT
    overflow: int = 0  # datagrams dropped because too many were already held back
    _rng: random.Random = field(init=False, repr=False)
    _dead: set[int] = field(default_factory=set, repr=False)
    _protocols: list[Any] = field(default_factory=list, repr=False)
    _held: dict[str, int] = field(default_factory=lambda: {"in": 0, "out": 0}, repr=False)
    _sending: set[asyncio.Future[Any]] = field(default_factory=set, repr=False)
    link_in: LinkModel = field(init=False, repr=False)
    link_out: LinkModel = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self.set_links(self.inbound, self.outbound)

    def set_links(self, inbound: LinkProfile, outbound: LinkProfile) -> None:
        """Use these link profiles from now on (fresh state, seeded from `seed`)."""
        self.inbound, self.outbound = inbound, outbound
        self.link_in = LinkModel(inbound, random.Random(self.seed * 1_000_003 + 1))
        self.link_out = LinkModel(outbound, random.Random(self.seed * 1_000_003 + 2))

    def held(self, direction: str) -> int:
        """Datagrams of `direction` ("in" or "out") currently held back for later delivery."""
        return self._held[direction]

    def cut(self, seconds: float, now: float | None = None) -> None:
        """Drop everything, both ways, for `seconds` from now."""
        start = time.monotonic() if now is None else now
        self.cut_from = start
        self.restored_at = start + seconds

    def outage(self, now: float | None = None) -> bool:
        """True while a cut is in force (the client's signalling fails too)."""
        t = time.monotonic() if now is None else now
        return (
            self.cut_from is not None and self.restored_at is not None
            and self.cut_from <= t < self.restored_at
        )

    def change_address(self) -> None:
        """The sockets in use now stop working for good (a new local address/port)."""
        self._dead.update(id(p) for p in self._protocols)

    def _drop(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def apply(self, pc: RTCPeerConnection) -> None:
        """Wrap every ICE socket of `pc` (call after setLocalDescription: sockets exist)."""
        for protocol in ice_protocols(pc):
            if getattr(protocol, "_liveroom_impaired", False):
                continue
            protocol._liveroom_impaired = True
            self._protocols.append(protocol)
            key = id(protocol)
            protocol.datagram_received = self._wrap_in(key, protocol.datagram_received)
            protocol.send_data = self._wrap_out(key, protocol.send_data)

    def _blocked(self, key: int) -> bool:
        return key in self._dead or self.outage()

    def _schedule(self, direction: str, link: LinkModel, size: int) -> float | None:
        """Delay in seconds before delivery (0: now), or None to drop."""
        now = time.monotonic()
        verdict = link.decide(now, size)
        if isinstance(verdict, Drop):
            return None
        delay = verdict - now
        if delay <= 0:
            return 0.0
        if self._held[direction] >= self.max_in_flight:
            self.overflow += 1
            return None
        self._held[direction] += 1
        return delay

    def _wrap_in(
        self, key: int, inner: Callable[[Any, Any], None]
    ) -> Callable[[Any, Any], None]:
        def deliver(data: bytes | str, addr: Any) -> None:
            self._held["in"] -= 1
            if self._blocked(key):  # the network went down while it was on its way
                self.dropped_in += 1
                return
            inner(data, addr)

        def datagram_received(data: bytes | str, addr: Any) -> None:
            if self._blocked(key):
                self.dropped_in += 1
                return
            if _is_media(data):
                if self._drop(self.loss_in):
                    self.dropped_in += 1
                    return
                if not self.inbound.clean:
                    delay = self._schedule("in", self.link_in, len(data))
                    if delay is None:
                        self.dropped_in += 1
                        return
                    self.passed_in += 1
                    if delay > 0:
                        asyncio.get_running_loop().call_later(delay, deliver, data, addr)
                        return
                    inner(data, addr)
                    return
                self.passed_in += 1
            inner(data, addr)

        return datagram_received

    def _wrap_out(
        self, key: int, inner: Callable[[bytes, Any], Coroutine[Any, Any, None]]
    ) -> Callable[[bytes, Any], Coroutine[Any, Any, None]]:
        def deliver(data: bytes, addr: Any) -> None:
            self._held["out"] -= 1
            if self._blocked(key):
                self.dropped_out += 1
                return
            task = asyncio.ensure_future(inner(data, addr))
            self._sending.add(task)
            task.add_done_callback(self._sent)

        async def send_data(data: bytes, addr: Any) -> None:
            if self._blocked(key):
                self.dropped_out += 1
                return
            if _is_media(data):
                if self._drop(self.loss_out):
                    self.dropped_out += 1
                    return
                if not self.outbound.clean:
                    delay = self._schedule("out", self.link_out, len(data))
                    if delay is None:
                        self.dropped_out += 1
                        return
                    self.passed_out += 1
                    if delay > 0:
                        asyncio.get_running_loop().call_later(delay, deliver, data, addr)
                        return
                    await inner(data, addr)
                    return
                self.passed_out += 1
            await inner(data, addr)

        return send_data

    def _sent(self, task: asyncio.Future[Any]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.dropped_out += 1  # the socket went away meanwhile
