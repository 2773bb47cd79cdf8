"""The Python client of the Liveroom protocol (the SDK of tests, bots, the gate, load tests).

Not part of the node: it imports only the wire protocol (`signalling.protocol`), `media.ids`
and `media.rtp`, and third-party libraries; nothing of the node imports it.

- `client`: `Client` (join, publish, subscribe, mute, leave, events, reconnect);
- `downlinks`, `uplink`: what it keeps of each downlink, and the publishing side's helpers;
- `continuity`: when a connection is stalled, the back-off, each reconnect's timeline (pure);
- `network`: the `NetworkModel` seam a simulated network plugs into (`qos.impairment`);
- `playout` (sans-IO core) and `reception` (its aiortc adapter): the browser-like receiver;
- `clip`: pre-encoded bot media;
- `aiortc_compat`: the aiortc internals the client side reaches (also the gate, the bots).
"""

from __future__ import annotations

from .client import Client
from .continuity import Reconnect, ReconnectPolicy
from .downlinks import PacketRecord, RemoteDownlink
from .errors import ClientError
from .network import NetworkModel

__all__ = [
    "Client",
    "ClientError",
    "NetworkModel",
    "PacketRecord",
    "Reconnect",
    "ReconnectPolicy",
    "RemoteDownlink",
]
