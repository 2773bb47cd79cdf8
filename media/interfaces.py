"""The two sides of the media plane, as each sees the other (LiveKit's pkg/sfu/interfaces.go).

A Feed (the live side of a Publication, `media/feed.py`) hands every packet of its source
to its Sinks. A subscriber's DownTrack (`media/downlink.py`) is one kind of Sink; the
recorder is another. A Sink sees its Feed only as an `Upstream`: the few requests a
subscription sends back towards the publisher. Neither module imports the other.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .fastpath import SourcePacket
from .ids import PublicationId


class Upstream(Protocol):
    """What a Sink may ask of the Feed it is attached to."""

    publication_id: PublicationId

    def request_keyframe(self, now: float) -> None:
        """Ask the publisher for a keyframe (throttled by the Feed)."""

    def nack(self, sequence_numbers: list[int]) -> None:
        """Packets the Sink needs and the node does not have (publisher's numbering)."""

    def subscriber_estimate(self, sink: Sink, bitrate: int, now: float) -> None:
        """What the Sink's receiver can take (bits/s, REMB): caps the publisher."""


class Sink(Protocol):
    """A Feed's output: gets every packet of the publication's current source.

    `upstream` is set by `Feed.add` and cleared by `Feed.remove`. `forward` must not block
    and returns the bytes it sent on (0 if none): the Feed calls it once per packet for
    every Sink, on the event loop.
    """

    upstream: Upstream | None

    def __hash__(self) -> int:
        """Sinks are keys (the Feed's per-subscriber estimates): identity hashing."""

    def forward(self, source: SourcePacket, now: float) -> int:
        """One packet of the source (prepared once for all Sinks)."""

    def pause(self) -> None:
        """The publisher muted the publication: forward nothing until `resume`."""

    def resume(self) -> None:
        """The publisher unmuted: forward again, from a keyframe for video."""

    def restart(self) -> None:
        """The source changed (a re-publish on a new connection, a new SSRC): continue
        the outgoing stream from what was sent last."""


@runtime_checkable
class SenderReportSink(Protocol):
    """A Sink that also wants the publisher's RTCP sender reports (the recorder's clock)."""

    def sender_report(self, ssrc: int, ntp: int, rtp_timestamp: int, now: float) -> None:
        """A sender report for `ssrc`: 64-bit NTP time and the RTP timestamp it maps to."""
