"""Peer-connection construction for the node: ICE policy, codec policy, announced address."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpTransceiver
from aiortc.codecs import get_capabilities

from .ids import Kind
from .sdp_policy import SUPPORTED_CODEC

_original_host_addresses = aioice.ice.get_host_addresses


def pin_host_addresses(addresses: Sequence[str]) -> None:
    """Gather ICE host candidates only on these addresses (all interfaces if empty).

    aioice skips 127.0.0.1 when it lists interfaces; tests pin ["127.0.0.1"] so that
    every packet stays on loopback. This is process-wide, like aioice's own lookup.
    """
    if not addresses:
        aioice.ice.get_host_addresses = _original_host_addresses
        return
    pinned = list(addresses)

    def pinned_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in pinned if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = pinned_addresses


_HOST_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$", re.M)


def announce(sdp: str, address: str | None) -> str:
    """Replace host-candidate addresses with an announced (public) address, if configured."""
    if not address:
        return sdp
    return _HOST_CANDIDATE.sub(lambda m: m.group(1) + address + m.group(3), sdp)


@dataclass(frozen=True)
class PeerConfig:
    ice_servers: Sequence[str] = field(default_factory=tuple)
    announced_address: str | None = None

    def new_peer_connection(self) -> RTCPeerConnection:
        servers = [RTCIceServer(urls=url) for url in self.ice_servers]
        return RTCPeerConnection(RTCConfiguration(iceServers=servers))


def restrict_codecs(transceiver: RTCRtpTransceiver) -> None:
    """Negotiate only what the forwarder supports: Opus, or VP8 (+ RTX)."""
    kind = Kind(transceiver.kind)
    wanted = SUPPORTED_CODEC[kind]
    codecs = [
        c for c in get_capabilities(kind).codecs
        if c.name.lower() == wanted or (kind is Kind.VIDEO and c.name.lower() == "rtx")
    ]
    transceiver.setCodecPreferences(codecs)
