"""Seeded, deterministic network impairment for a client's peer connections (user space).

Wraps the ICE sockets of an aiortc peer connection. Random loss drops media datagrams
(SRTP and SRTCP; STUN is left alone so ICE keeps its consent) in either direction. An
outage (`cut`) drops every datagram both ways and makes the client's signalling fail, as
a dead home network would. An address change (`change_address`) kills the sockets in use
for good: the client must come back on new ones, as after a switch from Wi-Fi to 4G.
"""

from __future__ import annotations

import random
import time
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
    cut_from: float | None = None
    restored_at: float | None = None  # when the last outage ended (time.monotonic)
    _rng: random.Random = field(init=False, repr=False)
    _dead: set[int] = field(default_factory=set, repr=False)
    _protocols: list[Any] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

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
        for transceiver in pc.getTransceivers():
            ice = transceiver.receiver.transport.transport
            protocol: Any
            for protocol in ice.iceGatherer._connection._protocols:
                if getattr(protocol, "_liveroom_impaired", False):
                    continue
                protocol._liveroom_impaired = True
                self._protocols.append(protocol)
                key = id(protocol)
                protocol.datagram_received = self._wrap_in(key, protocol.datagram_received)
                protocol.send_data = self._wrap_out(key, protocol.send_data)

    def _blocked(self, key: int) -> bool:
        return key in self._dead or self.outage()

    def _wrap_in(
        self, key: int, inner: Callable[[Any, Any], None]
    ) -> Callable[[Any, Any], None]:
        def datagram_received(data: bytes | str, addr: Any) -> None:
            if self._blocked(key):
                self.dropped_in += 1
                return
            if _is_media(data):
                if self._drop(self.loss_in):
                    self.dropped_in += 1
                    return
                self.passed_in += 1
            inner(data, addr)

        return datagram_received

    def _wrap_out(
        self, key: int, inner: Callable[[bytes, Any], Coroutine[Any, Any, None]]
    ) -> Callable[[bytes, Any], Coroutine[Any, Any, None]]:
        async def send_data(data: bytes, addr: Any) -> None:
            if self._blocked(key):
                self.dropped_out += 1
                return
            if _is_media(data):
                if self._drop(self.loss_out):
                    self.dropped_out += 1
                    return
                self.passed_out += 1
            await inner(data, addr)

        return send_data
