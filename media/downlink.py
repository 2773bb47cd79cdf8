"""The send side of subscriptions: the per-track glue between a Feed and a sender.

A Downlink is the peer connection that carries one publisher's tracks to one subscriber
(the node offers it). Each of its DownTracks pairs a sans-IO Forwarder with a
ForwardingSender (media/sender.py) that writes rewritten packets straight to the DTLS
transport.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from .fallback import VideoFallback
from .fastpath import SourcePacket
from .forwarder import Forwarder, Verdict
from .ids import CLOCK_RATE, Kind
from .interfaces import Upstream
from .sender import ForwardingSender

__all__ = ["DownTrack", "ForwardingSender"]


class DownTrack:
    """One Subscription's media: a publication forwarded to one subscriber.

    A `Sink` of the publication's Feed, which it sees only as its `Upstream`.
    """

    def __init__(
        self,
        kind: Kind,
        sender: ForwardingSender,
        clock: Callable[[], float],
    ) -> None:
        self.kind = kind
        self.sender = sender
        sender.owner = self
        self.forwarder = Forwarder(
            clock_rate=CLOCK_RATE[kind],
            gate_on_keyframe=kind is Kind.VIDEO,
            initial_sequence_number=secrets.randbits(15),
            initial_timestamp=secrets.randbits(32),
        )
        self.upstream: Upstream | None = None
        self.ready = False  # set when the subscriber's DTLS is up
        self._clock = clock
        self._muted = False  # the publisher muted this publication
        self.shed = False  # video paused while the node is overloaded (media/shedding.py)
        # audio-only fallback: video paused while the subscriber's link cannot carry it
        self.fallback = VideoFallback() if kind is Kind.VIDEO else None

    def forward(self, source: SourcePacket, now: float) -> int:
        """Forward a prepared packet if the Forwarder says so; returns bytes sent (0: none).

        The caller (the Feed) adds the node's forwarding counters up once per packet.
        """
        if not self.ready:
            return 0
        t = self.forwarder.translate(
            source.ssrc, source.sequence_number, source.timestamp, source.keyframe, now
        )
        if t.verdict is _FORWARD:
            return self.sender.forward(source, t.sequence_number, t.timestamp)
        if t.verdict is _WAITING and self.upstream is not None:
            self.upstream.request_keyframe(now)
        return 0

    def request_keyframe(self) -> None:
        if self.upstream is not None:
            self.upstream.request_keyframe(self._clock())

    def estimate_received(self, bitrate: int) -> None:
        """The subscriber's REMB: what it can receive (bits/s) on this downlink."""
        if self.upstream is None or self.starved:
            return  # a paused video's estimate says nothing about the video
        now = self._clock()
        if self.fallback is not None:
            self.fallback.estimate(bitrate, now)
        self.upstream.subscriber_estimate(self, bitrate, now)

    @property
    def starved(self) -> bool:
        """Video paused by the audio-only fallback."""
        return self.fallback is not None and self.fallback.paused

    def nack_upstream(self, sequence_numbers: list[int]) -> None:
        if self.upstream is None:
            return
        source = [self.forwarder.source_sequence_number(s) for s in sequence_numbers]
        self.upstream.nack([s for s in source if s is not None])

    def pause(self) -> None:
        """The publisher muted."""
        self._muted = True
        self.apply_pause()

    def resume(self) -> None:
        """The publisher unmuted."""
        self._muted = False
        self.apply_pause()

    def restart(self) -> None:
        """A new source: the Forwarder continues from the last numbers sent."""
        self.forwarder.restart()

    def apply_pause(self) -> None:
        """Forward iff neither muted, starved nor shed; a resumed video starts on a
        keyframe."""
        if self._muted or self.starved or self.shed:
            self.forwarder.pause()
        elif self.forwarder.paused:
            self.forwarder.resume()
            self.request_keyframe()


_FORWARD = Verdict.FORWARD
_WAITING = Verdict.DROP_WAITING_KEYFRAME

