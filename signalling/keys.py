"""Typed aiohttp application keys, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry

if TYPE_CHECKING:
    from .node import Node

NODE: web.AppKey[Node] = web.AppKey("node")
SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")
REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("registry")
