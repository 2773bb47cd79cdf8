"""The composition root: `create_app(settings)` builds a whole node."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import WSCloseCode, web

from media.aiortc_compat import self_check
from media.peer import PeerConfig, pin_host_addresses

from . import api, metrics, pages, recording, recordings_api, ws
from .keys import NODE, REGISTRY, SOCKETS
from .node import Node
from .settings import Settings

log = structlog.get_logger(__name__)


def create_app(settings: Settings) -> web.Application:
    peer_config = PeerConfig(
        ice_servers=tuple(settings.ice_servers),
        announced_address=settings.announced_address or None,
    )
    node = Node(settings, peer_config)
    app = web.Application(middlewares=[api.admin_auth], client_max_size=256 * 1024)
    app[NODE] = node
    app[SOCKETS] = set()
    app[REGISTRY] = metrics.new_registry(node)
    api.add_routes(app)
    pages.add_routes(app)
    app.router.add_get("/v1/rooms/{room_id}/ws", ws.websocket)
    app.router.add_get("/metrics", metrics.metrics)
    app.cleanup_ctx.append(_node_lifecycle)
    recording.setup(app, node)  # after the node: its cleanup runs first, finalizing
    recordings_api.add_routes(app)
    return app


async def _node_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start-up: check aiortc, pin ICE host addresses, start the node. Shutdown: the node
    closes its rooms, then the sockets that are left get 1001."""
    node = app[NODE]
    await self_check()
    pin_host_addresses(node.settings.ice_host_addresses)
    node.start()
    node.ready = True
    log.info("node_ready", host=node.settings.host, port=node.settings.port)
    yield
    await node.close()
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    for socket in list(sockets):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
    log.info("node_stopped")
