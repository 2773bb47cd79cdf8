"""The aiortc 1.16 internals the SFU relies on, checked at start-up, and small bridges to them.

aiortc has no public API for forwarding encoded RTP. The SFU uses these private seams
(see docs/architecture.md): the receiver's jitter buffer slot (replaced by a packet tap),
its `_send_rtcp` (REMBs to the publisher are capped there, and it sends on the fast path)
and RTCP SSRC, the sender's RTX history, sender-report counters, RTCP loop and stats, the
transceiver's sender slot, the DTLS transport's `_send_rtp`, SRTP sessions and counters,
and aioice's `Connection.data_received` (subscribers' RTCP is read there). `self_check()`
fails loudly if an upgrade moved them.
"""

from __future__ import annotations

import types
from collections.abc import Coroutine, Generator
from typing import Any

import aiortc
from aiortc import RTCConfiguration, RTCPeerConnection

EXPECTED_VERSION = "1.16.0"

RECEIVER_ATTRS = (
    "_RTCRtpReceiver__jitter_buffer",
    "_RTCRtpReceiver__nack_generator",
    "_RTCRtpReceiver__codecs",
    "_RTCRtpReceiver__remote_streams",
    "_RTCRtpReceiver__rtcp_ssrc",
)
RECEIVER_METHODS = ("_send_rtcp", "_send_rtcp_nack", "_send_rtcp_pli", "_handle_rtp_packet")
SENDER_ATTRS = (
    "_RTCRtpSender__rtp_history",
    "_RTCRtpSender__rtp_header_extensions_map",
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__packet_count",
    "_RTCRtpSender__mid",
    # media/sender.py: the sender reports on the fast path and the stats of the RR read
    # off the socket (media/feedback.py)
    "_RTCRtpSender__lsr",
    "_RTCRtpSender__lsr_time",
    "_RTCRtpSender__rtt",
    "_RTCRtpSender__stats",
    "_RTCRtpSender__cname",
    "_RTCRtpSender__rtcp_started",
    "_RTCRtpSender__rtcp_exited",
)
SENDER_METHODS = ("_retransmit", "_handle_rtcp_packet", "_send_keyframe", "_run_rtcp",
                  "getStats")
DTLS_ATTRS = (  # media/fastpath.py and media/feedback.py
    "_send_rtp", "_state", "_tx_srtp", "_rx_srtp", "_RTCDtlsTransport__tx_bytes",
    "_RTCDtlsTransport__tx_packets", "_RTCDtlsTransport__rx_bytes",
    "_RTCDtlsTransport__rx_packets",
)
TRANSCEIVER_ATTRS = ("_RTCRtpTransceiver__sender",)


class AiortcCompatError(RuntimeError):
    """The installed aiortc does not have the internals the SFU forwards through."""


def _require(obj: object, attrs: tuple[str, ...], what: str) -> None:
    missing = [a for a in attrs if not hasattr(obj, a)]
    if missing:
        raise AiortcCompatError(f"aiortc {aiortc.__version__}: {what} lacks {missing}")


async def self_check() -> None:
    """Build a peer connection and check every private attribute the SFU uses."""
    if aiortc.__version__ != EXPECTED_VERSION:
        raise AiortcCompatError(
            f"aiortc {aiortc.__version__} installed; the SFU is built for {EXPECTED_VERSION}"
        )
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        _require(transceiver, TRANSCEIVER_ATTRS, "RTCRtpTransceiver")
        _require(transceiver.sender, SENDER_ATTRS + SENDER_METHODS, "RTCRtpSender")
        _require(transceiver.receiver, RECEIVER_ATTRS + RECEIVER_METHODS, "RTCRtpReceiver")
        _require(transceiver.receiver.transport, DTLS_ATTRS, "RTCDtlsTransport")
        jitter_buffer = getattr(transceiver.receiver, RECEIVER_ATTRS[0])
        if not callable(getattr(jitter_buffer, "add", None)):
            raise AiortcCompatError("RTCRtpReceiver jitter buffer has no add()")
        _check_fast_path(transceiver.receiver.transport)
    finally:
        await pc.close()


def _check_fast_path(dtls: Any) -> None:
    """The fast path (media/fastpath.py) protects with the session's libsrtp context and
    sends on the nominated ICE pair; it falls back to `_send_rtp` if these are missing, but
    a moved internal should be seen at start-up, not as a slow node."""
    import pylibsrtp
    from pylibsrtp._binding import lib

    _require(dtls.transport._connection, (
        "_nominated", "_protocols", "query_consent", "build_request", "remote_password",
        "data_received",
    ), "aioice.Connection")  # also media/consent.py, media/udp.py and media/feedback.py
    session = pylibsrtp.Session(
        policy=pylibsrtp.Policy(key=bytes(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    )
    _require(session, ("_srtp", "_cdata", "_buffer", "unprotect_rtcp"), "pylibsrtp.Session")
    for binding in ("srtp_protect", "srtp_protect_rtcp"):
        if not callable(getattr(lib, binding, None)):
            raise AiortcCompatError(f"pylibsrtp has no {binding} binding")


@types.coroutine
def _continue(coro: Coroutine[Any, Any, None], pending: Any) -> Generator[Any, Any, None]:
    """Carry on a coroutine that suspended while being driven synchronously."""
    while True:
        try:
            value = yield pending
        except BaseException as exc:  # pass cancellation and errors into the coroutine
            try:
                pending = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                pending = coro.send(value)
            except StopIteration:
                return


async def _finish(coro: Coroutine[Any, Any, None], pending: Any) -> None:
    try:
        await _continue(coro, pending)
    except ConnectionError:
        pass


def drive(coro: Coroutine[Any, Any, None], background: set[Any]) -> None:
    """Run an aiortc send coroutine to completion now, without a task per packet.

    aiortc's send path (`_send_rtp` -> ICE `sendto`) never suspends for host, srflx and
    peer-reflexive candidates; only a TURN relay may wait. If it does suspend, the rest
    runs as a task kept in `background`.
    """
    import asyncio

    try:
        pending = coro.send(None)
    except StopIteration:
        return
    except ConnectionError:
        return
    task = asyncio.ensure_future(_finish(coro, pending))
    background.add(task)
    task.add_done_callback(background.discard)
