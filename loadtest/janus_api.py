"""A minimal client of Janus's HTTP API and its VideoRoom plugin, for load bots.

One Janus session per participant (as a browser would have), each with its own long-poll
GET: the aiohttp session that carries them must allow as many connections as there are
participants plus their requests (aiohttp's default of 100 deadlocks at ~100 peers).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import aiohttp

VIDEOROOM = "janus.plugin.videoroom"
_transactions = (f"t{n}" for n in itertools.count(1))


class JanusError(RuntimeError):
    pass


def http_session(peers: int) -> aiohttp.ClientSession:
    """An aiohttp session sized for `peers` long-polls plus their concurrent requests."""
    connector = aiohttp.TCPConnector(limit=2 * peers + 16, limit_per_host=2 * peers + 16)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=90))


class JanusSession:
    """One Janus session with one VideoRoom handle, and its long-poll loop."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.session_id: int | None = None
        self.handle_id: int | None = None
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=256)
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": next(_transactions)}
        async with self.http.post(self.base_url + path, json=body) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
        if reply.get("janus") == "error":
            raise JanusError(str(reply.get("error")))
        return reply

    async def open(self) -> None:
        reply = await self._post("", {"janus": "create"})
        self.session_id = int(reply["data"]["id"])
        self._poller = asyncio.ensure_future(self._poll())
        reply = await self._post(f"/{self.session_id}", {"janus": "attach", "plugin": VIDEOROOM})
        self.handle_id = int(reply["data"]["id"])

    async def message(
        self, body: dict[str, Any], jsep: dict[str, Any] | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        """Send a plugin request; return its synchronous reply or, after an ack, its event."""
        transaction = next(_transactions)
        request: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            request["jsep"] = jsep
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        try:
            url = f"{self.base_url}/{self.session_id}/{self.handle_id}"
            async with self.http.post(url, json=request) as response:
                reply: dict[str, Any] = await response.json(content_type=None)
            if reply.get("janus") == "error":
                raise JanusError(str(reply.get("error")))
            if reply.get("janus") != "ack":
                return reply
            event = await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(transaction, None)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(f"{data.get('error_code')}: {data['error']}")
        return event

    async def _poll(self) -> None:
        url = f"{self.base_url}/{self.session_id}?maxev=10"
        while True:
            try:
                async with self.http.get(url) as response:
                    reply = await response.json(content_type=None)
            except (TimeoutError, aiohttp.ClientError):
                await asyncio.sleep(0.5)
                continue
            for event in reply if isinstance(reply, list) else [reply]:
                future = self._waiting.get(event.get("transaction", ""))
                if future is not None and not future.done():
                    future.set_result(event)
                elif event.get("janus") not in ("keepalive", None):
                    with contextlib.suppress(asyncio.QueueFull):
                        self.events.put_nowait(event)

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.session_id is not None:
            with contextlib.suppress(aiohttp.ClientError, JanusError, asyncio.TimeoutError):
                await self._post(f"/{self.session_id}", {"janus": "destroy"})
