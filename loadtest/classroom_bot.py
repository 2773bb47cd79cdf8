"""A classroom bot: the participants (seats) of one room that one locust process runs.

    python -m loadtest.classroom_bot --url http://127.0.0.1:8080 [--ice-address 127.0.0.1]

locust is gevent-based, aiortc is asyncio: the peers live here, and locust (through
`loadtest.bot_pool`) drives them with one JSON object per line on stdin, and reads one JSON
object per line of events on stdout. Commands (`seat` is the participant's identity):

    {"cmd": "join", "seat", "room", "role": "tutor"|"learner", "token"}
    {"cmd": "drop", "seat", "seconds"}     network outage (qos.impairment), then reconnect
    {"cmd": "reload", "seat", "token"}     a new connection takes the seat back
    {"cmd": "leave", "seat"}               leave for good

Events: `joined` (ms from the command to `joined`), `first_frame` (per subscription: ms
from its offer to its first frame), `reconnected` (after a drop: TTMR, ms from the network's
return to the first frame after it; `resumed`), `reloaded` (`resumed`), `quality` (every
`--quality-every` s per seat, over the seat's subscriptions: loss %, jitter ms, freezes,
MOS), `left`, `cost` (the process's CPU in cores over the same window, with its number of
seats, when that did not change) and `error` (`op`, `code`). Each event carries its `seat`.

Publishers replay a pre-encoded clip (tutor: VP8 640x480 ~1 Mbps; learners 320x240 ~250
kbps; Opus for both; encoded once per bot process). Receivers count packets from the RTP
headers (`loadtest.subscription`); no decoding, and (by default) no media handed to aiortc,
so no receiver feedback: `--feedback` passes it on, as the benchmark's aiortc receivers do.
The bot stops when stdin closes, on SIGTERM/SIGINT or after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media.peer import pin_host_addresses
from qos.impairment import Impairment
from signalling import protocol as p
from signalling.client import Client, ReconnectPolicy, RemoteDownlink
from signalling.client.clip import Clip, ClipTrack

from .clip_cache import cached_clip, default_dir
from .counting import payload_types, tap_connection
from .receivers import no_decoding
from .subscription import QualityWindow, SubscriptionCounter

TUTOR_CLIP = {"width": 640, "height": 480, "video_bitrate": 1_000_000}
LEARNER_CLIP = {"width": 320, "height": 240, "video_bitrate": 250_000}
FIRST_FRAME_TIMEOUT_S = 20.0
RETURN_TIMEOUT_S = 30.0  # after the network is back, the seat must have media within this


def emit(event: str, seat: str, **fields: Any) -> None:
    print(json.dumps({"ev": event, "seat": seat, **fields}, separators=(",", ":")), flush=True)


def error_code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, str):
        return code
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError | OSError):
        return "connection_error"
    return type(exc).__name__


class SeatClient(Client):
    """A client whose downlinks count packets (`SubscriptionCounter`) instead of decoding."""

    def __init__(self, *args: Any, feedback: bool = False, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.feedback = feedback
        self.counters: list[SubscriptionCounter] = []
        self.started = time.monotonic()  # the join command (the seat's token) arrived
        self.first_frame_reported = False
        self.had_publisher = False  # someone else published when this seat joined

    async def _accept_offer(self, offer: p.Offer) -> None:
        offered = time.monotonic()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        downlink = RemoteDownlink(offer.downlink, offer.publisher, pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        if self.feedback:
            no_decoding(pc)
        counter = SubscriptionCounter(kinds=payload_types(offer.sdp))
        await pc.setLocalDescription(await pc.createAnswer())
        # counting innermost, then the client's liveness and the impairment around it
        tap_connection(pc, counter, pass_on=self.feedback)
        self._watch_sockets(pc, downlink)
        self.downlinks[offer.downlink] = downlink
        self.counters.append(counter)
        await self.request(
            p.Answer(id=next(self._ids), downlink=offer.downlink, sdp=pc.localDescription.sdp)
        )
        self._spawn(_report_first_frame(self, counter, offered))

    def live_counters(self) -> list[SubscriptionCounter]:
        """The counters of the subscriptions this connection has now."""
        return self.counters[-len(self.downlinks):] if self.downlinks else []


async def _report_first_frame(
    client: SeatClient, counter: SubscriptionCounter, offered: float
) -> None:
    deadline = offered + FIRST_FRAME_TIMEOUT_S
    while counter.first_frame_at is None and time.monotonic() < deadline:
        if client._closing:
            return
        await asyncio.sleep(0.02)
    seat = client.identity if client.joined else "?"
    if counter.first_frame_at is None:
        emit("error", seat, op="first_frame", code="no_first_frame")
        return
    fields: dict[str, Any] = {"ms": round((counter.first_frame_at - offered) * 1000, 1)}
    if not client.first_frame_reported and not client.reconnects:
        # join latency: from the token, or from the first offer when nobody published yet
        client.first_frame_reported = True
        since = client.started if client.had_publisher else offered
        fields["join_ms"] = round((counter.first_frame_at - since) * 1000, 1)
        fields["join_from"] = "token" if client.had_publisher else "offer"
    emit("first_frame", seat, **fields)


class Seat:
    def __init__(self, bot: ClassroomBot, seat: str, room: str, role: str) -> None:
        self.bot, self.seat, self.room, self.role = bot, seat, room, role
        self.client: SeatClient | None = None
        self.impairment: Impairment | None = None
        self.window = QualityWindow()
        self.busy: asyncio.Task[None] | None = None
        self.closing: set[asyncio.Future[None]] = set()  # replaced connections

    def new_client(self, token: str) -> SeatClient:
        self.impairment = Impairment(seed=zlib.crc32(self.seat.encode()) % 10_000 + 1)
        return SeatClient(self.bot.url, self.room, token, impairment=self.impairment,
                          reconnect=ReconnectPolicy(), feedback=self.bot.feedback)

    async def connect(self, token: str) -> SeatClient:
        client = self.new_client(token)
        self.client = client
        joined = await client.join()
        client.had_publisher = any(
            other.publications for other in joined.room.participants
            if other.identity != self.seat
        )
        if self.bot.publishes(self.role):
            clip = self.bot.clips[self.role]
            await client.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
        return client

    async def join(self, token: str) -> None:
        started = time.monotonic()
        await self.connect(token)
        emit("joined", self.seat, ms=round((time.monotonic() - started) * 1000, 1))

    async def drop(self, seconds: float) -> None:
        client, impairment = self.client, self.impairment
        assert client is not None and impairment is not None
        frames_before = len(client.counters)
        impairment.cut(seconds)
        restored = impairment.restored_at or time.monotonic()
        deadline = restored + RETURN_TIMEOUT_S
        while time.monotonic() < deadline and not client.gave_up:
            fresh = [c.first_frame_at for c in client.counters[frames_before:]
                     if c.first_frame_at is not None and c.first_frame_at >= restored]
            if fresh and client.reconnects:
                ttmr = (min(fresh) - restored) * 1000
                resumed = bool(client.joined and client.joined.resumed)
                emit("reconnected", self.seat, ttmr_ms=round(ttmr, 1), resumed=resumed)
                return
            await asyncio.sleep(0.05)
        emit("error", self.seat, op="reconnect",
             code="gave_up" if client.gave_up else "no_media_after_outage")

    async def reload(self, token: str) -> None:
        old = self.client
        if old is not None:
            old._closing = True  # the page is going away: this connection never reconnects
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.request(p.Leave(id=next(old._ids), unload=True)), 2)
            self.closing.add(asyncio.ensure_future(_close(old)))
        client = await self.connect(token)
        emit("reloaded", self.seat, resumed=bool(client.joined and client.joined.resumed))

    async def leave(self) -> None:
        if self.client is not None:
            await asyncio.wait_for(self.client.leave(), 10)
            self.client = None
        emit("left", self.seat)

    def quality(self) -> None:
        if self.client is None or self.client.gave_up:
            return
        result = self.window.take(self.client.live_counters())
        if result is not None:
            emit("quality", self.seat, room=self.room, loss=result.loss_percent,
                 jitter_ms=result.jitter_ms, freezes=result.freezes, mos=result.mos)


async def _close(client: Client) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), 10)


class ClassroomBot:
    def __init__(self, args: argparse.Namespace) -> None:
        self.url = args.url
        self.feedback = args.feedback
        self.learner_video = args.learner_video
        self.clip_cache = args.clip_cache
        self.seats: dict[str, Seat] = {}
        self.clips: dict[str, Clip] = {}

    def publishes(self, role: str) -> bool:
        return role == "tutor" or self.learner_video

    async def prepare(self) -> None:
        """Both clips, from the cache (loadtest/clip_cache.py) or encoded once, off the loop."""
        folder = Path(self.clip_cache) if self.clip_cache else default_dir()
        self.clips["tutor"] = await asyncio.to_thread(cached_clip, folder, **TUTOR_CLIP)
        self.clips["learner"] = await asyncio.to_thread(cached_clip, folder, **LEARNER_CLIP)

    def handle(self, command: dict[str, Any]) -> None:
        name, seat_id = command.get("cmd"), str(command.get("seat", "?"))
        seat = self.seats.get(seat_id)
        if name == "join":
            seat = self.seats[seat_id] = Seat(self, seat_id, command["room"], command["role"])
            work: Any = seat.join(command["token"])
        elif seat is None or (seat.busy is not None and not seat.busy.done()):
            emit("error", seat_id, op=name, code="seat_busy" if seat else "no_such_seat")
            return
        elif name == "drop":
            work = seat.drop(float(command["seconds"]))
        elif name == "reload":
            work = seat.reload(command["token"])
        elif name == "leave":
            work = seat.leave()
        else:
            emit("error", seat_id, op=str(name), code="unknown_command")
            return
        seat.busy = asyncio.ensure_future(self._run(seat, str(name), work))

    async def _run(self, seat: Seat, op: str, work: Any) -> None:
        try:
            await work
        except Exception as exc:
            emit("error", seat.seat, op=op, code=error_code(exc))

    async def close(self) -> None:
        await asyncio.gather(*(
            _close(s.client) for s in self.seats.values() if s.client is not None
        ))


async def run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    commands: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=1024)

    def on_signal() -> None:
        stop.set()
        loop.call_later(10.0, os._exit, 1)  # closing hung: go anyway

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)

    def read_stdin() -> None:
        with contextlib.suppress(Exception):
            for line in sys.stdin:
                with contextlib.suppress(ValueError):
                    command = json.loads(line)
                    if isinstance(command, dict):
                        asyncio.run_coroutine_threadsafe(commands.put(command), loop).result()
        loop.call_soon_threadsafe(stop.set)

    if args.ice_address:
        pin_host_addresses([args.ice_address])
    bot = ClassroomBot(args)
    await bot.prepare()
    threading.Thread(target=read_stdin, daemon=True).start()
    print(json.dumps({"ev": "ready", "seat": ""}), flush=True)

    async def dispatch() -> None:
        while True:
            command = await commands.get()
            if command is not None:
                bot.handle(command)

    async def report() -> None:
        last = (time.monotonic(), time.process_time(), 0)
        while True:
            await asyncio.sleep(args.quality_every)
            for seat in list(bot.seats.values()):
                seat.quality()
            # what the bot costs: cores per seat over a window with the same seats throughout
            seats = sum(1 for s in bot.seats.values() if s.client is not None)
            now = (time.monotonic(), time.process_time(), seats)
            if seats and seats == last[2]:
                cores = (now[1] - last[1]) / (now[0] - last[0])
                emit("cost", "", cores=round(cores, 4), seats=seats)
            last = now

    tasks = [asyncio.ensure_future(dispatch()), asyncio.ensure_future(report())]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.max_seconds)
    for task in tasks:
        task.cancel()
    await bot.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.classroom_bot",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the node's base URL")
    parser.add_argument("--ice-address", default="", help="pin ICE host candidates to this")
    parser.add_argument("--learner-video", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--feedback", action=argparse.BooleanOptionalAction, default=False,
                        help="hand media on to aiortc's receivers (RTCP like a browser's)")
    parser.add_argument("--clip-cache", default="", help="folder of encoded clips "
                        "(default ~/.cache/liveroom/clips)")
    parser.add_argument("--quality-every", type=float, default=5.0)
    parser.add_argument("--max-seconds", type=float, default=4 * 3600.0)
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    runner: Any = asyncio.run
    if args.uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
    runner(run(args))
    sys.stdout.flush()
    os._exit(0)  # aiortc threads of peers that did not close in time: do not wait for them


if __name__ == "__main__":
    sys.exit(main())
