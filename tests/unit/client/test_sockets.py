"""`first_to_connect`: a hanging dial gets a fresh one beside it; the first to connect wins."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from signalling.client.sockets import first_to_connect


async def test_a_hanging_dial_gets_a_fresh_one_and_the_first_to_connect_wins() -> None:
    started: list[asyncio.Future[Any]] = []

    async def dial() -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        started.append(future)
        if len(started) == 3:  # the third SYN is the first after the link returned
            return "third"
        return await future  # hangs until cancelled

    abandoned: list[Any] = []
    async with asyncio.timeout(2.0):
        ws = await first_to_connect(dial, 0.05, abandoned.append)
    assert str(ws) == "third" and len(started) == 3
    await asyncio.sleep(0)
    assert all(f.cancelled() for f in started[:2]) and abandoned == []


async def test_a_dial_that_fails_fails_the_attempt() -> None:
    async def dial() -> Any:
        raise ConnectionRefusedError("no node")

    with pytest.raises(ConnectionRefusedError):
        async with asyncio.timeout(2.0):
            await first_to_connect(dial, 0.05, lambda coro: None)
