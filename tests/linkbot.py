"""A Python client bot for real-link tests (tests/netns.py runs it in its own namespace).

Reads JSON-line commands on stdin, writes JSON-line events on stdout; every event carries
`t`, time.monotonic() (CLOCK_MONOTONIC: the same clock as the test's process).

Commands: `{"cmd": "join", "url", "room", "token", "address", "give_up_after"?}` (pin ICE
to `address`, join with reconnects on, publish the clip's audio and video, decode every
downlink's video); `{"cmd": "rejoin"}` (drop the client, join afresh with the token);
`{"cmd": "exit"}`.

Events: `started`; `joined {resumed}`; `reconnect {index, reason, phases, attempts}` each
time a reconnect's timeline grows; `gave_up`; `closed {code}`; `frame {publisher,
downlink, gap_s}` for the first decoded frame of a downlink and the first after a gap of
0.3 s or more; `fps {counts: {publisher: frames in the last second}}`; `error {message}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import av

from media.ids import Kind
from media.peer import pin_host_addresses
from signalling.client import Client
from signalling.client.clip import Clip, ClipTrack, encode_clip, read_frame_number
from signalling.client.continuity import ReconnectPolicy

GAP_S = 0.3
TICK_S = 0.05


def say(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, "t": time.monotonic(), **fields}) + "\n")
    sys.stdout.flush()


class Bot:
    def __init__(self, clip: Clip) -> None:
        self.clip = clip
        self.client: Client | None = None
        self.join_args: dict[str, Any] = {}
        self.decoders: dict[str, asyncio.Task[None]] = {}  # downlink id -> decode task
        self.last_frame: dict[str, float] = {}  # publisher -> when
        self.counts: dict[str, int] = {}
        self.reported: list[tuple[int, int]] = []  # per reconnect: (phases, attempts) told
        self.tasks: list[asyncio.Task[None]] = []

    async def join(self, args: dict[str, Any]) -> None:
        self.join_args = args
        pin_host_addresses([args["address"]])
        policy = ReconnectPolicy(give_up_after=float(args.get("give_up_after", 60.0)))
        client = Client(args["url"], args["room"], args["token"], reconnect=policy)
        self.client, self.reported = client, []
        joined = await client.join()
        say("joined", resumed=joined.resumed)
        await client.publish([ClipTrack(self.clip, "audio"), ClipTrack(self.clip, "video")])
        say("published")

    async def rejoin(self) -> None:
        if self.client is not None:
            await self.drop()
        await self.join(self.join_args)

    async def drop(self) -> None:
        for task in self.decoders.values():
            task.cancel()
        self.decoders.clear()
        if self.client is not None:
            client, self.client = self.client, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 5)

    async def watch(self) -> None:
        """Report reconnect timelines and start a decoder for every new downlink."""
        closed: int | None = None
        gave_up = False
        while True:
            await asyncio.sleep(TICK_S)
            client = self.client
            if client is None:
                continue
            for index, attempt in enumerate(client.reconnects):
                if index >= len(self.reported):
                    self.reported.append((-1, -1))
                told = (len(attempt.phases), attempt.attempts)
                if told != self.reported[index]:
                    self.reported[index] = told
                    say("reconnect", index=index, reason=attempt.reason,
                        phases=attempt.phases, attempts=attempt.attempts)
            if client.close_code != closed:
                closed = client.close_code
                say("closed", code=closed)
            if client.gave_up and not gave_up:
                gave_up = True
                say("gave_up")
            for downlink in list(client.downlinks.values()):
                track = downlink.tracks.get(Kind.VIDEO)
                if track is not None and downlink.id not in self.decoders:
                    self.decoders[downlink.id] = asyncio.ensure_future(
                        self.decode(downlink.publisher, downlink.id, track))

    async def decode(self, publisher: str, downlink: str, track: Any) -> None:
        first = True
        while True:
            frame = await track.recv()
            if not isinstance(frame, av.VideoFrame) or read_frame_number(frame) is None:
                continue
            now = time.monotonic()
            previous = self.last_frame.get(publisher)
            gap = 999.0 if previous is None else now - previous
            if first or gap >= GAP_S:
                say("frame", publisher=publisher, downlink=downlink, gap_s=round(gap, 3),
                    first=first)
            first = False
            self.last_frame[publisher] = now
            self.counts[publisher] = self.counts.get(publisher, 0) + 1

    async def report_fps(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            say("fps", counts=self.counts)
            self.counts = {}


async def main() -> None:
    say("started")
    bot = Bot(encode_clip())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    bot.tasks = [asyncio.ensure_future(bot.watch()), asyncio.ensure_future(bot.report_fps())]
    try:
        async for raw in reader:
            command = json.loads(raw)
            try:
                match command.get("cmd"):
                    case "join":
                        await bot.join(command)
                    case "rejoin":
                        await bot.rejoin()
                    case "exit":
                        break
            except Exception as exc:  # told to the test, which decides
                os_error = getattr(exc, "os_error", None)  # aiohttp's connect errors
                say("error", message=f"{type(exc).__name__}: {exc}",
                    errno=getattr(os_error, "errno", None))
    finally:
        for task in bot.tasks:
            task.cancel()
        await bot.drop()


if __name__ == "__main__":
    asyncio.run(main())
