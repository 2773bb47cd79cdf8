"""The composition root: `create_app(settings)` builds a whole node."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aiohttp import WSCloseCode, web

from media.aiortc_compat import self_check
from media.peer import PeerConfig, pin_host_addresses
from media.udp import set_receive_buffer

from . import (
    api,
    cluster,
    cluster_http,
    drain,
    metrics,
    pages,
    recording,
    recordings_api,
    review,
    room_events,
    sessions_api,
    talk,
    turn,
    webhooks,
    ws,
)
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
    app.on_shutdown.append(_tell_everyone)
    talk.setup(app, node)  # before the recorder: a closing room's talk reaches its timeline
    recording.setup(app, node)  # after the node: its cleanup runs first, finalizing
    recordings_api.add_routes(app)
    cluster.setup(app, node)  # the room directory (signalling/directory/)
    cluster_http.add_routes(app)  # 307 for rooms on other nodes, GET /v1/cluster
    drain.setup(app)  # POST /v1/node/drain, SIGTERM's drain (before the node's shutdown)
    sessions_api.add_routes(app)
    review.setup(app)
    room_events.setup(app, node)  # each room's events to its stream, read on any node
    turn.setup(node)  # TURN credentials in every `joined`, when LIVEROOM_TURN_URLS is set
    webhooks.setup(app, node)  # progress events from the hooks above; stops last
    return app


async def _tell_everyone(app: web.Application) -> None:
    """SIGTERM/SIGINT. aiohttp stops listening, runs on_shutdown, then waits for the open
    requests (our WebSockets) and only then runs the cleanup: so the rooms are closed here
    (everyone gets `closing {server_shutdown}` and close 1001 at once), within half of
    `shutdown_timeout_s` (the rest is aiohttp's wait for the handlers, cli.serve)."""
    node = app[NODE]
    node.ready = False
    try:
        async with asyncio.timeout(node.settings.shutdown_timeout_s / 2):
            await node.close()
    except TimeoutError:
        log.warning("node_close_timed_out", timeout_s=node.settings.shutdown_timeout_s / 2)


async def _node_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Start-up: check aiortc, pin ICE host addresses, size the UDP receive buffers
    (media/udp.py), start the node. Shutdown (after `_tell_everyone`): the node closes
    what is left, then the sockets that never joined get 1001."""
    node = app[NODE]
    await self_check()
    pin_host_addresses(node.settings.ice_host_addresses)
    if node.settings.udp_rcvbuf_bytes:
        set_receive_buffer(node.settings.udp_rcvbuf_bytes)
    node.start()
    node.ready = True
    log.info("node_ready", host=node.settings.host, port=node.settings.port)
    yield
    await node.close()
    sockets: set[web.WebSocketResponse] = app[SOCKETS]
    if sockets:  # any not closed by their rooms (not joined yet): at once, bounded
        await asyncio.wait([asyncio.ensure_future(
            s.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown"))
            for s in list(sockets)], timeout=node.settings.shutdown_timeout_s / 8)
    log.info("node_stopped")
