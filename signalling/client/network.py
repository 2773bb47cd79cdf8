"""The network between a client and the node, as the client sees it (a seam).

The client does not know how a network is simulated: it asks whether the network is down
before it opens a socket, and lets the model wrap the ICE sockets of each peer connection.
The quality tools' seeded impairment (`qos.impairment.Impairment`) is one such model.
"""

from __future__ import annotations

from typing import Protocol

from aiortc import RTCPeerConnection

__all__ = ["NetworkModel"]


class NetworkModel(Protocol):
    def outage(self) -> bool:
        """True while the network is down: the client's signalling fails too."""
        ...

    def apply(self, pc: RTCPeerConnection) -> None:
        """Put the model on every ICE socket of `pc` (called after setLocalDescription)."""
        ...
