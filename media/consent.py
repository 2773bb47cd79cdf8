"""ICE consent freshness (RFC 7675) that does not blame the peer for the node's starvation.

aioice checks consent on the nominated pair every ~5 s with a single request and a 0.5 s
timeout, and closes the connection after 6 failures in a row. When the node's event loop
is starved, or its socket holds a backlog of media in front of the STUN response, the
answer is read too late: each check fails although the peer answered, and after ~30 s the
node closes a publisher's peer connection that was fine (issue 16: the lesson was lost
because the node was slow). Here a failed check counts only if the node was running
freely meanwhile: no starved spell since the request was sent (`LoopLag`), no timer late
by more than the starvation threshold, and no datagram dropped or queued on the pair's
socket (`media.udp`). Anything else is as in aioice 0.13 (`Connection.query_consent`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import structlog
from aioice import stun
from aioice.ice import CONSENT_FAILURES, CONSENT_INTERVAL, Connection

from .starvation import LoopLag
from .udp import BACKLOG_BYTES, ice_connections, receive_queue

log = structlog.get_logger(__name__)

RESPONSE_TIMEOUT_S = stun.RETRY_RTO
"""aioice's timeout for a consent check sent with no retransmission."""


def guard_consent(
    pc: Any, lag: LoopLag, clock: Callable[[], float] = time.monotonic
) -> None:
    """Replace aioice's consent loop on `pc`'s ICE connections by the starvation-aware one.

    Call before ICE connects (after the transceivers exist): aioice starts the loop at the
    end of `Connection.connect()` through the instance attribute replaced here.
    """
    for connection in ice_connections(pc):
        connection.query_consent = _consent_loop(connection, lag, clock)


def check_consent_now(pc: Any) -> int:
    """Send one consent check on each nominated pair of `pc` now, without waiting for the
    answer (the loop above goes on as before); returns how many were sent. A browser that
    gave its connection up after ~15 s without answers (Chromium) takes it back when it
    answers a check: asked for by a client whose link came back (`ping {ice}`)."""
    sent = 0
    for connection in ice_connections(pc):
        if connection.remote_password is None:
            continue  # not connected yet
        for pair in list(connection._nominated.values()):
            request = connection.build_request(pair, nominate=False)
            request.add_message_integrity(connection.remote_password.encode("utf8"))
            pair.protocol.send_stun(request, pair.remote_addr)
            sent += 1
    return sent


def _consent_loop(
    connection: Connection, lag: LoopLag, clock: Callable[[], float]
) -> Callable[[], Any]:
    async def query_consent() -> None:
        assert connection.remote_password is not None
        key = connection.remote_password.encode("utf8")
        failures = 0
        while True:
            await asyncio.sleep(CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
            for pair in list(connection._nominated.values()):
                request = connection.build_request(pair, nominate=False)
                sock = pair.protocol.transport.get_extra_info("socket")
                before = receive_queue(sock)
                sent = clock()
                try:
                    await pair.protocol.request(
                        request, pair.remote_addr, integrity_key=key, retransmissions=0
                    )
                    failures = 0
                    continue
                except stun.TransactionError:
                    pass
                after = receive_queue(sock)
                late = clock() - sent - RESPONSE_TIMEOUT_S >= lag.threshold_s
                backlog = after is not None and (
                    after.queued_bytes >= BACKLOG_BYTES
                    or (before is not None and after.drops > before.drops)
                )
                if late or backlog:
                    lag.starved(clock())
                if late or backlog or lag.starved_since(sent):
                    log.info("ice_consent_check_excused", late=late, backlog=backlog)
                    continue  # the node was not listening: says nothing of the peer
                failures += 1
                if failures >= CONSENT_FAILURES:
                    log.info("ice_consent_expired")
                    connection._query_consent_task = None
                    await connection.close()
                    return

    return query_consent
