"""Congestion control without simulcast: the publisher is told the slowest subscriber's rate.

Each subscriber's receiver estimates the node->subscriber path (the node stamps
abs-send-time when it forwards) and sends REMB on its downlink. Per publication,
`BitrateCap` keeps every subscriber's latest estimate and combines them with the node's
own estimate of the publisher->node path (aiortc's REMB on the uplink): the REMB the
publisher gets is the minimum of all of them. Sans-IO: time is passed in, and the
methods return the bitrate to send (or None); the Feed does the sending.

Rate limit: the uplink receiver's own REMBs (aiortc sends one every ~0.5 s, or at once on
overuse) are rewritten in place, so they keep their pace. Between them, a REMB of our own
goes out when the aggregate falls by `prompt_drop` or more below the last value sent, or
when it changed at all and `min_interval` has passed since the last one.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class CapPolicy:
    max_age: float = 5.0
    """A subscriber's estimate older than this (seconds) no longer counts."""
    min_interval: float = 0.25
    """Seconds between two REMBs of our own, unless the aggregate fell by `prompt_drop`."""
    prompt_drop: float = 0.10
    """A fall of this fraction below the last value sent is sent at once."""
    notable_change: float = 0.25
    """A change of the subscribers' cap by this fraction (since the last logged) is logged."""
    enabled: bool = True
    """False: the publisher gets the uplink estimate only (no subscriber counts)."""


DEFAULT_POLICY = CapPolicy()


class Limit(Enum):
    """What set the bitrate sent to the publisher."""

    UPLINK = "uplink"
    SUBSCRIBERS = "subscribers"


@dataclass(frozen=True)
class Remb:
    """A REMB to send to the publisher."""

    bitrate: int
    limit: Limit
    notable: bool
    """Worth a log line: the bitrate moved by `notable_change` or more since the last logged
    one, with the subscribers' cap in force before or now (the uplink estimate moving on its
    own is not logged)."""


class BitrateCap:
    """Per publication: the bitrate the publisher should send, from all estimates."""

    def __init__(self, policy: CapPolicy = DEFAULT_POLICY) -> None:
        self.policy = policy
        self.uplink: int | None = None
        """The node's latest estimate of the publisher->node path."""
        self.sent: int | None = None
        """The bitrate of the last REMB sent to the publisher."""
        self.sent_at: float | None = None
        self._estimates: dict[Hashable, tuple[int, float]] = {}  # subscriber -> (bps, at)
        self._notable: tuple[int, Limit] | None = None  # the cap when last logged
        # the minimum, kept as estimates arrive: every subscriber's REMB must not cost a
        # scan of all the others (~2 REMBs/s each: O(N^2) a second at N subscribers)
        self._min: tuple[int, Hashable] | None = None  # (bps, subscriber); None: recompute
        self._expiry = float("inf")  # no estimate can be stale before this

    def subscriber_estimate(self, subscriber: Hashable, bitrate: int, now: float) -> Remb | None:
        """A subscriber's REMB arrived; returns a REMB to send now, if one is due."""
        if self.policy.enabled:
            self._estimates[subscriber] = (bitrate, now)
            current = self._min
            if current is not None:
                if bitrate <= current[0]:
                    self._min = (bitrate, subscriber)
                elif current[1] == subscriber:
                    self._min = None  # the slowest got faster: recompute once
            self._expiry = min(self._expiry, now + self.policy.max_age)
        return self.poll(now)

    def forget(self, subscriber: Hashable, now: float) -> Remb | None:
        """The subscriber left; returns a REMB to send now, if one is due."""
        if self._estimates.pop(subscriber, None) is not None and (
            self._min is not None and self._min[1] == subscriber
        ):
            self._min = None
        return self.poll(now)

    def subscribers_min(self, now: float) -> int | None:
        """The lowest recent subscriber estimate (stale ones are dropped), or None."""
        if now > self._expiry:  # some estimate may be stale: drop those, recompute
            oldest = now - self.policy.max_age
            for subscriber in [s for s, (_, at) in self._estimates.items() if at < oldest]:
                del self._estimates[subscriber]
            self._min = None
            self._expiry = min(
                (at for _, at in self._estimates.values()), default=float("inf")
            ) + self.policy.max_age
        if not self._estimates:
            return None
        if self._min is None:
            subscriber, (bitrate, _) = min(self._estimates.items(), key=lambda e: e[1][0])
            self._min = (bitrate, subscriber)
        return self._min[0]

    def target(self, now: float) -> tuple[int, Limit] | None:
        """min(uplink estimate, subscribers' estimates), and which one set it."""
        subscribers = self.subscribers_min(now)
        if subscribers is None:
            return None if self.uplink is None else (self.uplink, Limit.UPLINK)
        if self.uplink is not None and self.uplink <= subscribers:
            return self.uplink, Limit.UPLINK
        return subscribers, Limit.SUBSCRIBERS

    def uplink_estimate(self, bitrate: int, now: float) -> Remb:
        """The node's receiver is about to send this REMB: the capped one to send instead."""
        self.uplink = bitrate
        target = self.target(now)
        assert target is not None
        return self._sending(*target, now)

    def poll(self, now: float) -> Remb | None:
        """A REMB of our own to send now, or None (nothing changed, or too soon)."""
        target = self.target(now)
        if target is None or target[0] == self.sent:
            return None
        bitrate, limit = target
        sent, sent_at = self.sent, self.sent_at
        if (
            sent is None or sent_at is None
            or bitrate <= sent * (1.0 - self.policy.prompt_drop)
            or now - sent_at >= self.policy.min_interval
        ):
            return self._sending(bitrate, limit, now)
        return None

    def _sending(self, bitrate: int, limit: Limit, now: float) -> Remb:
        self.sent, self.sent_at = bitrate, now
        last = self._notable
        if last is None:
            notable = limit is Limit.SUBSCRIBERS
        else:
            moved = abs(bitrate - last[0]) >= self.policy.notable_change * last[0]
            notable = moved and Limit.SUBSCRIBERS in (limit, last[1])
        if notable or (limit is Limit.UPLINK and (last is None or last[1] is Limit.UPLINK)):
            self._notable = (bitrate, limit)
        return Remb(bitrate, limit, notable)
