"""Webhooks in the node: progress events, signed, sent at least once from a durable outbox.

The reporter (webhooks_events) turns the node's hooks into events; `WebhookService.emit`
journals each one (webhooks_journal) before it enters the sans-IO outbox
(webhooks_outbox), which decides what to attempt when; this module only does the IO: the
journal writes off the event loop, and one aiohttp ClientSession posts the attempts with
a bounded timeout. docs/webhooks.md says what a receiver gets and must do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .keys import NODE, REGISTRY
from .node import Node
from .recording import RECORDING
from .webhooks_config import WebhookSettings
from .webhooks_events import EventType, ProgressReporter, envelope
from .webhooks_journal import OutboxJournal, QueuedEvent, done, enqueued
from .webhooks_outbox import Attempt, GiveUp, Outbox, RetryPolicy
from .webhooks_signing import ID_HEADER, TYPE_HEADER, sign

log = structlog.get_logger(__name__)

MAX_IN_FLIGHT = 4  # attempts at once per receiver
IDLE_WAKE_S = 60.0  # the sender looks at the outbox at least this often
COMPACT_AFTER_LINES = 1000  # done lines past which the journal is rewritten


@dataclass
class WebhookCounters:
    delivered: int = 0
    failed_attempts: int = 0
    abandoned: int = 0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None = None
    retry_after: float | None = None
    error: str | None = None


async def post(http: aiohttp.ClientSession, attempt: Attempt, event_type: str,
               headers: dict[str, str]) -> Outcome:
    """One attempt: any 2xx delivers; anything else (no answer, a timeout, a redirect,
    another status) is a failure to retry."""
    try:
        async with http.post(attempt.receiver, data=attempt.body, allow_redirects=False,
                             headers={**headers, "Content-Type": "application/json",
                                      ID_HEADER: attempt.event_id,
                                      TYPE_HEADER: event_type}) as response:
            await response.read()
            if 200 <= response.status < 300:
                return Outcome(True, response.status)
            return Outcome(False, response.status, _retry_after(response.headers))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Outcome(False, error=type(exc).__name__)


def _retry_after(headers: Any) -> float | None:
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None


def _where(url: str) -> str:
    """A receiver in logs: its host and port only (a URL may carry a key)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


class WebhookService:
    """`emit` from the node's hooks; `start()` loads what the journal still owes and
    begins sending; `stop()` cuts the attempts in flight and writes what is left."""

    def __init__(self, settings: WebhookSettings, secret: str, data_dir: Path,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 rng: random.Random | None = None,
                 compact_after: int = COMPACT_AFTER_LINES) -> None:
        self.settings = settings
        self.secret = secret
        self.clock = clock
        self.wall = wall
        self.rng = rng or random.Random()
        self.compact_after = compact_after
        self.journal = OutboxJournal(data_dir / "webhooks")
        self.outbox = Outbox(RetryPolicy(settings.max_attempts, settings.backoff_base_s,
                                         settings.backoff_cap_s),
                             max_in_flight=MAX_IN_FLIGHT, max_deliveries=settings.max_queue)
        self.counters = WebhookCounters()
        self._unwritten: list[dict[str, Any]] = []  # journal lines not on disk yet
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._stopped = False

    def emit(self, event_type: EventType, data: dict[str, Any]) -> str:
        """Queue an event for every receiver; its id. Durable once the sender's next
        write returns (within a loop turn), or at once after `stop()`."""
        event_id = str(uuid.uuid4())
        body = envelope(event_id, event_type, self.wall(), data)
        record = enqueued(QueuedEvent(event_id, body, list(self.settings.urls)))
        log.info("webhook_enqueued", event_id=event_id, type=str(event_type))
        if self._stopped:
            self.journal.append([record])  # late (shutdown): blocking, but never lost
        else:
            self._unwritten.append(record)
            self._wake.set()
        return event_id

    async def start(self) -> None:
        owed = await asyncio.to_thread(self.journal.load)
        urls = set(self.settings.urls)
        kept = [QueuedEvent(e.event_id, e.body, [r for r in e.receivers if r in urls])
                for e in owed]
        if any(set(e.receivers) - urls for e in owed):
            log.warning("webhook_receivers_removed",
                        deliveries=sum(len(set(e.receivers) - urls) for e in owed))
        kept = [e for e in kept if e.receivers]
        await asyncio.to_thread(self.journal.compact, kept)
        now = self.clock()
        for event in kept:
            self._set_aside(self.outbox.add(event.event_id, event.body, event.receivers, now))
        if kept:
            log.info("webhook_outbox_loaded", events=len(kept), deliveries=len(self.outbox))
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
            headers={"User-Agent": "Liveroom-Webhooks/1"})
        self._sender = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, wait_s: float = 0.25) -> None:
        """Attempts in flight get `wait_s` to finish; those cut are owed (journal)."""
        self._stopped = True
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if self._sends:
            await asyncio.wait(list(self._sends), timeout=wait_s)
        for task in list(self._sends):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._write()
        if self._http is not None:
            await self._http.close()

    def depth(self) -> int:
        """Deliveries owed now (queued, or enqueued and not yet on disk)."""
        return len(self.outbox) + sum(len(r["receivers"]) for r in self._unwritten
                                      if r["op"] == "enqueued")

    # --- the sender -------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            await self._write()
            for attempt in self.outbox.due(self.clock()):
                task = asyncio.get_running_loop().create_task(self._send(attempt))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)
            due = self.outbox.next_due()
            wait = IDLE_WAKE_S if due is None else min(IDLE_WAKE_S, due - self.clock())
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    async def _write(self) -> None:
        """Put the journal lines on disk, then queue the events they enqueue (nothing is
        attempted before it is durable)."""
        batch = list(self._unwritten)
        if batch:
            try:
                await asyncio.to_thread(self.journal.append, batch)
            except OSError:
                log.exception("webhook_journal_failed", lines=len(batch))
            del self._unwritten[:len(batch)]
            if self._stopped:
                return
            now = self.clock()
            for record in batch:
                if record["op"] == "enqueued":
                    self._set_aside(self.outbox.add(record["id"], record["body"].encode(),
                                                    record["receivers"], now))
        if not self._unwritten and self.journal.lines > len(self.outbox) + self.compact_after:
            pending = self.outbox.pending()
            await asyncio.to_thread(self.journal.compact, [
                QueuedEvent(i, body, receivers) for i, (body, receivers) in pending.items()])

    async def _send(self, attempt: Attempt) -> None:
        assert self._http is not None
        event_type = str(json.loads(attempt.body).get("type", ""))
        try:
            outcome = await post(self._http, attempt, event_type,
                                 sign(self.secret, attempt.body, self.wall()))
        except asyncio.CancelledError:
            self.outbox.released(attempt)
            raise
        if outcome.ok:
            self.outbox.succeeded(attempt)
            self.counters.delivered += 1
            self._unwritten.append(done("delivered", attempt.event_id, attempt.receiver))
            log.info("webhook_delivered", event_id=attempt.event_id, type=event_type,
                     receiver=_where(attempt.receiver), attempt=attempt.number)
        else:
            self.counters.failed_attempts += 1
            decision = self.outbox.failed(attempt, self.clock(), self.rng.random(),
                                          outcome.retry_after)
            log.info("webhook_attempt_failed", event_id=attempt.event_id, type=event_type,
                     receiver=_where(attempt.receiver), attempt=attempt.number,
                     status=outcome.status, error=outcome.error,
                     retry_in_s=None if isinstance(decision, GiveUp)
                     else round(decision.at - self.clock(), 2))
            if isinstance(decision, GiveUp):
                self._abandon(attempt.event_id, attempt.receiver, attempt.body,
                              f"{decision.attempts} attempts failed")
        self._wake.set()

    def _set_aside(self, dropped: list[Any]) -> None:
        for delivery in dropped:
            self._abandon(delivery.event_id, delivery.receiver, delivery.body, "queue_full")

    def _abandon(self, event_id: str, receiver: str, body: bytes, why: str) -> None:
        self.counters.abandoned += 1
        self._unwritten.append(done("abandoned", event_id, receiver, why=why,
                                    body=body.decode()))
        self._wake.set()  # on disk soon: the sender's next turn
        log.warning("webhook_abandoned", event_id=event_id, receiver=_where(receiver), why=why)


class WebhookCollector(Collector):
    def __init__(self, service: WebhookService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        c = self.service.counters
        for name, text, value in (
            ("liveroom_webhook_deliveries", "Webhook deliveries a receiver accepted (2xx)",
             c.delivered),
            ("liveroom_webhook_failed_attempts", "Webhook attempts that failed (to retry)",
             c.failed_attempts),
            ("liveroom_webhook_abandoned", "Webhook deliveries set aside (attempts used "
             "up, or the queue full)", c.abandoned),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily("liveroom_webhook_queue_depth",
                                "Webhook deliveries owed to receivers now",
                                value=self.service.depth())


WEBHOOKS: web.AppKey[WebhookService] = web.AppKey("webhooks")


def setup(app: web.Application, node: Node) -> None:
    """Nothing without a receiver URL. The service starts before and stops after every
    other part of the node (first in cleanup_ctx), so whatever the node's shutdown
    reports is journaled."""
    settings = node.settings.webhook
    if not settings.urls:
        return
    service = WebhookService(settings, node.settings.resolved_webhook_secret(),
                             node.settings.data_dir, clock=node.clock)
    app[WEBHOOKS] = service
    app[REGISTRY].register(WebhookCollector(service))
    ProgressReporter(node, app.get(RECORDING), service.emit).attach()
    app.cleanup_ctx.insert(0, _lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    service = app[WEBHOOKS]
    await service.start()
    yield
    # within the cleanup's share of the exit bound (cli.serve: an eighth)
    await service.stop(wait_s=app[NODE].settings.shutdown_timeout_s / 16)
