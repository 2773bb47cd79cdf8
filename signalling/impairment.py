"""Seeded, deterministic network impairment for a client's peer connections (user space).

Wraps the ICE sockets of an aiortc peer connection and drops media datagrams (SRTP and
SRTCP; STUN is left alone so ICE keeps its consent) in either direction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection


def _is_media(data: bytes | str) -> bool:
    return isinstance(data, bytes) and len(data) > 0 and 128 <= data[0] <= 191


@dataclass
class Impairment:
    """Random loss on receive (`loss_in`) and send (`loss_out`), each in [0, 1]."""

    loss_in: float = 0.0
    loss_out: float = 0.0
    seed: int = 1
    dropped_in: int = 0
    dropped_out: int = 0
    passed_in: int = 0
    passed_out: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _drop(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def apply(self, pc: RTCPeerConnection) -> None:
        """Wrap every ICE socket of `pc` (call after setLocalDescription: sockets exist)."""
        for transceiver in pc.getTransceivers():
            ice = transceiver.receiver.transport.transport
            protocol: Any
            for protocol in ice.iceGatherer._connection._protocols:
                if getattr(protocol, "_liveroom_impaired", False):
                    continue
                protocol._liveroom_impaired = True
                protocol.datagram_received = self._wrap_in(protocol.datagram_received)
                protocol.send_data = self._wrap_out(protocol.send_data)

    def _wrap_in(self, inner: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
        def datagram_received(data: bytes | str, addr: Any) -> None:
            if _is_media(data):
                if self._drop(self.loss_in):
                    self.dropped_in += 1
                    return
                self.passed_in += 1
            inner(data, addr)

        return datagram_received

    def _wrap_out(
        self, inner: Callable[[bytes, Any], Coroutine[Any, Any, None]]
    ) -> Callable[[bytes, Any], Coroutine[Any, Any, None]]:
        async def send_data(data: bytes, addr: Any) -> None:
            if _is_media(data):
                if self._drop(self.loss_out):
                    self.dropped_out += 1
                    return
                self.passed_out += 1
            await inner(data, addr)

        return send_data
