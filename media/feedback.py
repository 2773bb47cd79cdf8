"""Subscribers' RTCP taken straight off the socket (the receive half of the fast path).

In aiortc every datagram a downlink receives is queued by aioice, picked up by the DTLS
transport's task (`_recv_next`, a chain of coroutines and a task wake-up per datagram),
unprotected, parsed into dataclasses (`RtcpPacket.parse`), routed through a set built per
packet, and awaited in each recipient's `_handle_rtcp_packet`; a receiver report also
builds a stats object with two `datetime` reads. Per subscriber that is paid for ~2
receiver reports, ~1 REMB and any NACK or PLI a second, and it grows with N.

`take_feedback` replaces, on a downlink's ICE connection, the method aioice hands every
non-STUN datagram to (`Connection.data_received`): an SRTCP packet that arrives while
the DTLS transport is connected is unprotected and read here (`media.rtcp`), synchronously,
and handed to the ForwardingSender it is about (by SSRC, as aiortc's router does);
anything else (DTLS, RTP, SRTCP before the handshake is done) goes on to aioice's queue as
before. Loss of the internals it needs makes it decline (aiortc's path then carries the
feedback, as before); `media.aiortc_compat` checks them at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import pylibsrtp
import structlog
from aiortc.rtcdtlstransport import State

from .rtcp import Feedback, KeyframeRequest, Nack, Remb, Reports, parse_feedback

log = structlog.get_logger(__name__)


class FeedbackReceiver(Protocol):
    """What a sender does with the feedback about its stream (media/downlink.py)."""

    _ssrc: int

    def on_reports(self, reports: Reports, wall_time: float) -> None: ...
    def on_nack(self, lost: list[int]) -> None: ...
    def on_keyframe_request(self) -> None: ...
    def on_remb(self, bitrate: int | None, ssrcs: list[int]) -> None: ...


def dispatch(items: Iterable[Feedback], senders: dict[int, FeedbackReceiver],
             wall_time: float) -> None:
    """Hand each piece of feedback to the senders aiortc's `RtpRouter.route_rtcp` would."""
    for item in items:
        if type(item) is Reports:
            recipients = {s for b in item.blocks if (s := senders.get(b.ssrc)) is not None}
            for sender in recipients:
                sender.on_reports(item, wall_time)
        elif type(item) is Nack:
            nacked = senders.get(item.media_ssrc)
            if nacked is not None:
                nacked.on_nack(item.lost)
        elif type(item) is KeyframeRequest:
            asked = senders.get(item.media_ssrc)
            if asked is not None:
                asked.on_keyframe_request()
        elif type(item) is Remb:
            targets = {item.media_ssrc, *item.ssrcs}
            for sender in {s for t in targets if (s := senders.get(t)) is not None}:
                sender.on_remb(item.bitrate, item.ssrcs)


def take_feedback(
    dtls: Any, senders: dict[int, FeedbackReceiver],
    wall_clock: Callable[[], float] = time.time,
) -> bool:
    """Read SRTCP arriving on `dtls`'s ICE connection here, for `senders` (those whose
    transport is `dtls`, by SSRC: a sender's SSRC and transport are fixed once its answer is
    applied). Returns False (and changes nothing) if the internals it needs are missing."""
    try:
        connection = dtls.transport._connection
        queued = connection.data_received
        dtls._rx_srtp  # noqa: B018 - present?
        dtls._RTCDtlsTransport__rx_bytes  # noqa: B018
    except AttributeError:
        log.warning("feedback_slow_path", reason="aiortc/aioice internals moved")
        return False
    if getattr(connection, "_feedback_taken", False):
        return True
    connected = State.CONNECTED

    def data_received(data: bytes, component: int) -> None:
        srtp = dtls._rx_srtp
        if (
            srtp is None or dtls._state is not connected or len(data) < 2
            or not 127 < data[0] < 192 or not 192 <= data[1] <= 208
        ):
            queued(data, component)  # DTLS, RTP, or not connected yet: aiortc's path
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)
        dtls._RTCDtlsTransport__rx_packets += 1
        try:
            plain = srtp.unprotect_rtcp(data)
        except pylibsrtp.Error:
            return  # as aiortc: dropped
        try:
            items = parse_feedback(plain)
        except ValueError:
            return  # as aiortc: the whole compound packet is dropped
        if items:
            dispatch(items, senders, wall_clock())

    connection.data_received = data_received
    connection._feedback_taken = True
    return True


class _Track(Protocol):
    @property
    def sender(self) -> Any: ...


def take_downlink_feedback(tracks: Iterable[_Track]) -> None:
    """`take_feedback` on every DTLS transport of a downlink's senders (one with BUNDLE),
    once its answer is applied."""
    senders = [track.sender for track in tracks]
    for dtls in {id(s.transport): s.transport for s in senders}.values():
        take_feedback(dtls, {s._ssrc: s for s in senders if s.transport is dtls})
