"""The uplink is protected: large receive buffers, read ahead of subscribers' RTCP."""

from __future__ import annotations

import socket
from pathlib import Path

from media.ids import Identity, Role
from media.udp import ice_connections
from signalling.client.clip import Clip
from signalling.keys import NODE
from tests.conftest import Clients, RunningNode
from tests.integration.test_forwarding import ROOM, has_tracks, publish_clip

RMEM_MAX = Path("/proc/sys/net/core/rmem_max")


def rmem_max(default: int) -> int:
    return int(RMEM_MAX.read_text()) if RMEM_MAX.exists() else default


async def test_the_nodes_udp_sockets_get_the_configured_receive_buffer(
    node_factory: object, clip: Clip, clients: Clients
) -> None:
    asked = 2 * 1024 * 1024
    node: RunningNode = await node_factory(udp_rcvbuf_bytes=asked)  # type: ignore[operator]
    cap = rmem_max(asked)
    tutor = await clients.join(node, ROOM, "tutor", Role.TUTOR)
    learner = await clients.join(node, ROOM, "learner-a", Role.LEARNER)
    await publish_clip(tutor, clip)
    await learner.wait_for(has_tracks("tutor"))
    media = node.app[NODE].hubs[ROOM].media  # type: ignore[index]
    uplink = media.uplinks[Identity("tutor")]
    downlink = next(iter(media.downlinks.values())).pc
    for pc, prioritised in ((uplink, True), (downlink, False)):
        for connection in ice_connections(pc):
            for protocol in connection._protocols:
                sock = protocol.transport.get_extra_info("socket")
                granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
                assert granted >= min(asked, cap) > 262144 or cap <= 262144, granted
                assert getattr(protocol.transport, "_prioritised", False) is prioritised
