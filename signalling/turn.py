"""Time-limited TURN credentials, the TURN REST API scheme (coturn's `use-auth-secret`).

A participant behind a network that blocks UDP reaches the node through a TURN server
(TCP or TLS). The node and the TURN server share one secret; the node hands every joined
participant a username `<expiry, unix seconds>:<pseudonym>` and the credential
base64(HMAC-SHA1(secret, username)), which the TURN server recomputes: no user database,
and a leaked credential dies at its expiry. The pseudonym is the participant's identity,
never a name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import protocol as p

if TYPE_CHECKING:
    from .hub import RoomHub
    from .node import Node


def credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def username(pseudonym: str, now: float, ttl_s: int) -> str:
    return f"{int(now) + ttl_s}:{pseudonym}"


@dataclass(frozen=True)
class TurnServers:
    urls: Sequence[str]
    secret: str
    ttl_s: int

    def for_participant(self, pseudonym: str, now: float) -> list[p.IceServer]:
        """The ICE servers to hand one participant at `now` (wall clock, seconds)."""
        if not self.urls:
            return []
        user = username(pseudonym, now, self.ttl_s)
        return [p.IceServer(urls=list(self.urls), username=user,
                            credential=credential(self.secret, user))]


def setup(node: Node) -> None:
    """Hand TURN credentials to every participant who joins a room of `node`."""
    settings = node.settings
    if not settings.turn_urls:
        return
    servers = TurnServers(tuple(settings.turn_urls), settings.turn_secret, settings.turn_ttl_s)

    def attach(hub: RoomHub) -> None:
        hub.ice_servers = lambda identity: servers.for_participant(identity, time.time())

    node.room_opened.append(attach)
