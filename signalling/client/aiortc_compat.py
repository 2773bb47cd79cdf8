"""The aiortc 1.16 internals the client side reaches, in one place.

The client side (this package, the quality gate's taps, the load-test bots, the network
impairment) needs a few seams aiortc has no public API for: the ICE sockets of a peer
connection (liveness, impairment, packet counting), the receiver's jitter-buffer slot and
the internals around it (the browser-like receive pipeline replaces it), the receiver's
RTP handler (packet records), and the sender's RTCP handler, keyframe hook, SSRC and
counters (pre-encoded bot tracks, RTT samples). The node's own set is
`media/aiortc_compat.py`, checked at its start-up; the receiver internals here are checked
by `missing_receiver_internals` when the receive pipeline is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender

__all__ = [
    "RECEIVER_INTERNALS",
    "depayloaded",
    "ice_connection",
    "ice_protocols",
    "missing_receiver_internals",
    "packets_sent",
    "private",
    "receiver_internal",
    "receiver_rtp_handler",
    "send_nack",
    "send_pli",
    "sender_rtcp_handler",
    "sender_ssrc",
    "set_keyframe_request",
    "set_receiver_internal",
    "set_receiver_rtp_handler",
    "set_sender_rtcp_handler",
    "srtp_profile",
]

_RECEIVER = "_RTCRtpReceiver__"
RECEIVER_INTERNALS = ("jitter_buffer", "nack_generator", "decoder_queue", "timestamp_mapper",
                      "codecs", "kind")
"""The name-mangled `RTCRtpReceiver` attributes the receive pipeline uses."""

RtpHandler = Callable[..., Coroutine[Any, Any, None]]
RtcpHandler = Callable[[Any], Coroutine[Any, Any, None]]


def private(obj: Any, name: str) -> Any:
    """A name-mangled attribute of `obj`'s own class (`RTCRtpReceiver.__jitter_buffer` is
    `private(receiver, "jitter_buffer")`), or None if it has none."""
    return getattr(obj, f"_{type(obj).__name__}__{name}", None)


# --- ICE sockets ---------------------------------------------------------------------------


def ice_connection(ice_transport: Any) -> Any:
    """The aioice `Connection` under an `RTCIceTransport` (its gatherer's)."""
    return ice_transport.iceGatherer._connection


def ice_protocols(pc: RTCPeerConnection) -> list[Any]:
    """The datagram protocols (one per UDP socket) of every transceiver's ICE connection,
    as they are now (call after setLocalDescription: the sockets exist). Transceivers that
    share a transport (BUNDLE) list the same protocols again."""
    protocols: list[Any] = []
    for transceiver in pc.getTransceivers():
        protocols.extend(ice_connection(transceiver.receiver.transport.transport)._protocols)
    return protocols


def srtp_profile(dtls: Any) -> str:
    """The SRTP protection profile a connected `RTCDtlsTransport` negotiated."""
    assert dtls._ssl is not None
    return str(dtls._ssl.get_selected_srtp_profile().decode())


# --- receivers -----------------------------------------------------------------------------


def missing_receiver_internals(receiver: Any) -> list[str]:
    """Which of `RECEIVER_INTERNALS` this receiver lacks (empty: the pipeline fits)."""
    return [name for name in RECEIVER_INTERNALS if not hasattr(receiver, _RECEIVER + name)]


def receiver_internal(receiver: Any, name: str) -> Any:
    """`RTCRtpReceiver.__<name>` (raises AttributeError if aiortc moved it)."""
    return getattr(receiver, _RECEIVER + name)


def set_receiver_internal(receiver: Any, name: str, value: Any) -> None:
    """Replace `RTCRtpReceiver.__<name>` (the jitter buffer's slot, the NACK generator)."""
    setattr(receiver, _RECEIVER + name, value)


def receiver_rtp_handler(receiver: Any) -> RtpHandler:
    """The receiver's RTP entry point, `(packet, arrival_time_ms=...)`."""
    handler: RtpHandler = receiver._handle_rtp_packet
    return handler


def set_receiver_rtp_handler(receiver: Any, handler: RtpHandler) -> None:
    receiver._handle_rtp_packet = handler


async def send_nack(receiver: Any, ssrc: int, lost: list[int]) -> None:
    """Send a generic NACK (RFC 4585) for the sequence numbers `lost` of `ssrc`."""
    await receiver._send_rtcp_nack(ssrc, lost)


async def send_pli(receiver: Any, ssrc: int) -> None:
    """Send a picture loss indication for `ssrc`."""
    await receiver._send_rtcp_pli(ssrc)


def depayloaded(packet: Any) -> bytes:
    """The codec payload aiortc's receiver depayloaded into the packet (b"" if none)."""
    data: bytes = getattr(packet, "_data", b"")
    return data


# --- senders -------------------------------------------------------------------------------


def sender_rtcp_handler(sender: RTCRtpSender) -> RtcpHandler:
    """The sender's RTCP entry point (receiver reports, REMB, NACK, PLI for its stream)."""
    return sender._handle_rtcp_packet


def set_sender_rtcp_handler(sender: RTCRtpSender, handler: RtcpHandler) -> None:
    sender._handle_rtcp_packet = handler  # type: ignore[method-assign, assignment]


def sender_ssrc(sender: RTCRtpSender) -> int:
    return sender._ssrc


def set_keyframe_request(sender: RTCRtpSender, request: Callable[[], None]) -> None:
    """Call `request` when the sender is asked for a keyframe (PLI/FIR), instead of its
    encoder (a pre-encoded track picks its next keyframe itself)."""
    sender._send_keyframe = request  # type: ignore[method-assign]


def packets_sent(sender: RTCRtpSender) -> int:
    """RTP packets the sender has sent (its sender-report counter)."""
    count: int = sender._RTCRtpSender__packet_count  # type: ignore[attr-defined]
    return count
