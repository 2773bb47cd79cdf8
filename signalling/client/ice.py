"""The client's peer connections, with the TURN servers the node handed out in `joined`."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from signalling import protocol as p


def peer_connection(joined: p.Joined | None) -> RTCPeerConnection:
    """A new peer connection; it gathers relay candidates when the node gave TURN servers
    (aioice uses the first TURN server of the list)."""
    servers = [RTCIceServer(urls=s.urls, username=s.username, credential=s.credential)
               for s in (joined.ice_servers if joined is not None else [])]
    return RTCPeerConnection(RTCConfiguration(iceServers=servers))
