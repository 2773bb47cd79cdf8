"""Subscriber bots that load the server the way browsers do, and watch their connections.

A counting bot (`loadtest.counting`) keeps media away from aiortc: it costs the machine
little, but it sends no receiver feedback, so the server under test never pays for it.
A browser sends, per downlink, receiver reports about every second, REMB (from abs-send-
time) on video, a NACK for each gap it sees and a PLI when a picture cannot be completed.
With `--receivers aiortc` (the default of the benchmark) each subscriber's datagrams are
counted at the socket and then handed on to aiortc's real RTCRtpReceiver, which does all of
that (its NACK generator, remote bitrate estimator, jitter buffer and RTCP loop), with one
change: assembled frames are thrown away instead of decoded (`no_decoding`), so a bot
costs SRTP and RTP parsing, not a VP8 decoder.
"""

from __future__ import annotations

import threading
from typing import Any

from aiortc import RTCPeerConnection

RECEIVERS = ("aiortc", "counting")


class _DiscardFrames:
    """Stands in for aiortc's decoder queue: frames put by the receiver are dropped; the
    decoder thread, which waits on `get()`, is only ever told to stop."""

    def __init__(self) -> None:
        self.frames = 0
        self._stop = threading.Event()

    def put(self, item: Any) -> None:
        if item is None:
            self._stop.set()
        else:
            self.frames += 1

    def get(self) -> None:
        self._stop.wait()
        return None


def no_decoding(pc: RTCPeerConnection) -> None:
    """Make `pc`'s receivers drop assembled frames instead of decoding them.

    Call after setRemoteDescription (the receivers exist) and before they start (their
    decoder thread takes the queue when the transport connects)."""
    for transceiver in pc.getTransceivers():
        transceiver.receiver._RTCRtpReceiver__decoder_queue = _DiscardFrames()  # type: ignore[attr-defined]


class ConnectionWatch:
    """Counts a bot's peer connections and how many ever failed or closed on their own."""

    def __init__(self) -> None:
        self.pcs = 0
        self.failed = 0
        self._closing = False

    def watch(self, pc: RTCPeerConnection) -> None:
        self.pcs += 1
        lost = False

        @pc.on("connectionstatechange")
        def changed() -> None:
            nonlocal lost
            if pc.connectionState in ("failed", "closed") and not lost and not self._closing:
                lost = True
                self.failed += 1

    def closing(self) -> None:
        """The bot is stopping: closes from now on are its own."""
        self._closing = True

    def report(self) -> dict[str, int]:
        return {"pcs": self.pcs, "pcs_failed": self.failed}
