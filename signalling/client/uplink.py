"""The publishing side's helpers: tracks that take keyframe requests and REMB themselves
(pre-encoded bot clips), and closing an uplink whose tracks will be sent again."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, unpack_remb_fci

from .aiortc_compat import (
    sender_rtcp_handler,
    sender_ssrc,
    set_keyframe_request,
    set_sender_rtcp_handler,
)

__all__ = ["SenderHandle", "add_track", "close_keeping_tracks", "pass_remb_to"]


class SenderHandle(MediaStreamTrack):
    """One sender's handle on a track the client sends again after a reconnect. aiortc
    stops a sender's track when the sender's transport fails under it (the node closed the
    peer connection first: a drain's `move`, a shutdown), which would end the source for
    the next uplink too; this handle ends instead, and the source stays live."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source

    async def recv(self) -> Any:
        if self.readyState != "live" or self.source.readyState != "live":
            raise MediaStreamError
        return await self.source.recv()


def add_track(pc: RTCPeerConnection, track: MediaStreamTrack) -> RTCRtpSender:
    """Add `track` to `pc` (through a `SenderHandle`); a track with `request_keyframe`
    gets the sender's keyframe requests (PLI/FIR), one with `set_target_bitrate` the REMB
    the sender receives."""
    sender = pc.addTrack(SenderHandle(track))
    request_keyframe = getattr(track, "request_keyframe", None)
    if request_keyframe is not None:
        set_keyframe_request(sender, request_keyframe)
    set_target = getattr(track, "set_target_bitrate", None)
    if set_target is not None:
        pass_remb_to(sender, set_target)
    return sender


def pass_remb_to(sender: RTCRtpSender, set_target: Callable[[float], None]) -> None:
    """Give a pre-encoded track the REMB its sender receives (aiortc passes REMB only to
    its own encoder, and clamps it to that encoder's 250 kbps floor)."""
    handle = sender_rtcp_handler(sender)

    async def handle_rtcp(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if sender_ssrc(sender) in ssrcs:
                    set_target(bitrate)
        await handle(packet)

    set_sender_rtcp_handler(sender, handle_rtcp)


async def close_keeping_tracks(pc: RTCPeerConnection) -> None:
    """Close a peer connection without stopping its tracks, so they can be sent again."""
    for sender in pc.getSenders():
        sender.replaceTrack(None)
    await pc.close()
