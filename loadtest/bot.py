"""Load bots for the forwarding benchmark: one publisher, or K counting subscribers.

    python -m loadtest.bot --setup liveroom|janus --role publisher|subscribers [options]

A publisher replays a pre-encoded clip (VP8 640x480 ~1 Mbps + Opus; no encoding per bot).
Subscribers count packets from RTP headers as they arrive (`loadtest.counting`), never
decode; with `--receivers aiortc` (default) the packets then go on to aiortc's receivers,
which send receiver reports, REMB, NACK and PLI as a browser does (`loadtest.receivers`).
Every `--interval` seconds the bot prints one JSON line on stdout:

    {"t": <CLOCK_MONOTONIC s>, "role": ..., "ready": k, "subs": [[counters...], ...],
     "pcs": n, "pcs_failed": f, "refused": r}
    {"t": ..., "role": "publisher", "video_frames": f, "audio_frames": a, "feed": id, ...}

`pcs_failed` counts peer connections that failed or closed while the bot was running;
`refused` the subscribers a Liveroom node turned away with `node_overloaded`.

It stops when its stdin closes, on SIGTERM/SIGINT, or after `--max-seconds`.
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
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from media.ids import Role
from media.peer import pin_host_addresses
from signalling import protocol as p
from signalling.client import Client, RemoteDownlink
from signalling.client.aiortc_compat import packets_sent, set_keyframe_request, srtp_profile
from signalling.client.clip import ClipTrack, encode_clip
from signalling.tokens import mint

from .counting import PacketCounter, payload_types, tap_connection
from .janus_api import JanusSession, http_session
from .receivers import RECEIVERS, ConnectionWatch, no_decoding

SECRET_ENV = "LIVEROOM_BENCH_SECRET"


class Reporter:
    def __init__(self, role: str) -> None:
        self.role = role
        self.counters: list[PacketCounter] = []
        self.extra: dict[str, Any] = {}
        self.live: Callable[[], dict[str, Any]] | None = None
        self.pcs: list[RTCPeerConnection] = []  # for the negotiated SRTP profile
        self.connections = ConnectionWatch()

    def srtp_profile(self) -> str | None:
        for pc in self.pcs:
            with contextlib.suppress(Exception):
                dtls = pc.getTransceivers()[0].receiver.transport
                if dtls.state == "connected":
                    return srtp_profile(dtls)
        return None

    def line(self) -> str:
        body: dict[str, Any] = {"t": round(time.monotonic(), 4), "role": self.role}
        if self.counters:
            body["ready"] = sum(1 for c in self.counters if c.video_frames and c.audio_packets)
            body["subs"] = [c.snapshot() for c in self.counters]
        if self.pcs and "srtp_profile" not in self.extra:
            profile = self.srtp_profile()
            if profile:
                self.extra["srtp_profile"] = profile
        body.update(self.extra)
        body.update(self.connections.report())
        if self.live is not None:
            body.update(self.live())
        return json.dumps(body, separators=(",", ":"))


# --- Liveroom ------------------------------------------------------------------------------


class CountingClient(Client):
    """A Liveroom client whose downlinks count packets instead of handing them to aiortc."""

    def __init__(
        self, base_url: str, room: str, token: str, counter: PacketCounter, reporter: Reporter,
        pass_on: bool,
    ) -> None:
        super().__init__(base_url, room, token)
        self.counter = counter
        self.reporter = reporter
        self.pass_on = pass_on

    async def _accept_offer(self, offer: p.Offer) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.downlinks[offer.downlink] = RemoteDownlink(offer.downlink, offer.publisher, pc)
        self.reporter.pcs.append(pc)
        self.reporter.connections.watch(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        if self.pass_on:
            no_decoding(pc)
        self.counter.kinds = payload_types(offer.sdp)
        await pc.setLocalDescription(await pc.createAnswer())
        tap_connection(pc, self.counter, pass_on=self.pass_on)
        await self.request(
            p.Answer(id=next(self._ids), downlink=offer.downlink, sdp=pc.localDescription.sdp)
        )


def _token(args: argparse.Namespace, identity: str, role: Role) -> str:
    return mint(os.environ[SECRET_ENV], room=args.room, identity=identity, role=role, ttl_s=86400)


async def liveroom_publisher(
    args: argparse.Namespace, reporter: Reporter, owned: list[Any]
) -> None:
    clip = encode_clip()
    tracks = [ClipTrack(clip, "audio"), ClipTrack(clip, "video")]
    client = Client(args.url, args.room, _token(args, f"{args.prefix}pub", Role.TUTOR))
    owned.append(client)
    await _retry(client.join, args.connect_timeout)
    await client.publish(tracks)
    assert client.uplink is not None
    reporter.connections.watch(client.uplink)
    reporter.extra["feed"] = client.identity
    _report_tracks(reporter, tracks, client.uplink)


async def liveroom_subscribers(
    args: argparse.Namespace, reporter: Reporter, owned: list[Any]
) -> None:
    for i in range(args.count):
        counter = PacketCounter()
        reporter.counters.append(counter)
        identity = f"{args.prefix}sub{args.first + i}"
        client = CountingClient(args.url, args.room, _token(args, identity, Role.OBSERVER),
                                counter, reporter, pass_on=args.receivers == "aiortc")
        owned.append(client)
        try:
            await _retry(client.join, args.connect_timeout)
        except Exception as exc:
            if getattr(exc, "code", None) != "node_overloaded":
                raise
            reporter.extra["refused"] = reporter.extra.get("refused", 0) + 1


# --- Janus ---------------------------------------------------------------------------------


async def janus_publisher(
    args: argparse.Namespace, reporter: Reporter, owned: list[Any]
) -> None:
    clip = encode_clip()
    tracks = [ClipTrack(clip, "audio"), ClipTrack(clip, "video")]
    http = http_session(4)
    session = JanusSession(http, args.url)
    owned += [http, session]
    await _retry(session.open, args.connect_timeout)
    joined = await session.message(
        {"request": "join", "ptype": "publisher", "room": args.janus_room, "display": "pub"}
    )
    feed = joined["plugindata"]["data"]["id"]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    owned.append(pc)
    reporter.connections.watch(pc)
    for track in tracks:
        sender = pc.addTrack(track)
        set_keyframe_request(sender, track.request_keyframe)
    await pc.setLocalDescription(await pc.createOffer())
    event = await session.message(
        {"request": "publish", "audio": True, "video": True},
        jsep={"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False},
    )
    jsep = event["jsep"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=jsep["sdp"], type=jsep["type"]))
    reporter.extra["feed"] = feed
    _report_tracks(reporter, tracks, pc)


async def janus_subscribers(
    args: argparse.Namespace, reporter: Reporter, owned: list[Any]
) -> None:
    http = http_session(args.count)
    owned.append(http)
    feed = args.feed
    for i in range(args.count):
        counter = PacketCounter()
        reporter.counters.append(counter)
        session = JanusSession(http, args.url)
        await _retry(session.open, args.connect_timeout)
        owned.append(session)
        event = await session.message({
            "request": "join", "ptype": "subscriber", "room": args.janus_room,
            "streams": [{"feed": int(feed)}], "display": f"{args.prefix}sub{args.first + i}",
        })
        offer = event["jsep"]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        owned.append(pc)
        reporter.pcs.append(pc)
        reporter.connections.watch(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        pass_on = args.receivers == "aiortc"
        if pass_on:
            no_decoding(pc)
        counter.kinds = payload_types(offer["sdp"])
        await pc.setLocalDescription(await pc.createAnswer())
        tap_connection(pc, counter, pass_on=pass_on)
        await session.message(
            {"request": "start"},
            jsep={"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False},
        )


# --- plumbing ------------------------------------------------------------------------------


def _report_tracks(reporter: Reporter, tracks: list[ClipTrack], pc: Any) -> None:
    audio, video = tracks
    senders = pc.getSenders()

    def sent(kind: str) -> int:
        return sum(packets_sent(s) for s in senders if s.kind == kind)

    reporter.live = lambda: {
        "audio_frames": audio.frames_sent, "video_frames": video.frames_sent,
        "keyframes": video.keyframes_sent,
        "packets_sent": sum(packets_sent(s) for s in senders),
        "video_packets_sent": sent("video"), "audio_packets_sent": sent("audio"),
    }


async def _retry(connect: Callable[[], Awaitable[Any]], timeout: float) -> Any:
    """Call `connect` until it succeeds or `timeout` passes (the server may be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect()
        except (TimeoutError, OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _close(owned: list[Any]) -> None:
    for thing in reversed(owned):
        with contextlib.suppress(Exception):
            await asyncio.wait_for(thing.close(), 5)


ROLES = {
    ("liveroom", "publisher"): liveroom_publisher,
    ("liveroom", "subscribers"): liveroom_subscribers,
    ("janus", "publisher"): janus_publisher,
    ("janus", "subscribers"): janus_subscribers,
}


async def run(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    def on_signal() -> None:
        stop.set()
        loop.call_later(10.0, os._exit, 1)  # closing hung: go anyway

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)

    def watch_stdin() -> None:
        with contextlib.suppress(Exception):
            sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    if args.ice_address:
        pin_host_addresses([args.ice_address])
    reporter = Reporter(args.role)
    owned: list[Any] = []

    async def report() -> None:
        while True:
            print(reporter.line(), flush=True)
            await asyncio.sleep(args.interval)

    reporting = asyncio.ensure_future(report())
    try:
        setup = asyncio.ensure_future(ROLES[(args.setup, args.role)](args, reporter, owned))
        waiter = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait(
            {setup, waiter}, timeout=args.max_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if setup in done:
            setup.result()
            print(json.dumps({"t": time.monotonic(), "role": args.role, "up": True}), flush=True)
            remaining = args.max_seconds - (time.monotonic() - START)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(waiter, max(0.0, remaining))
        else:
            setup.cancel()
            with contextlib.suppress(BaseException):
                await setup
        waiter.cancel()
    finally:
        reporter.connections.closing()
        reporting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporting
        await _close(owned)


START = time.monotonic()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.bot", description=__doc__)
    parser.add_argument("--setup", choices=["liveroom", "janus"], required=True)
    parser.add_argument("--role", choices=["publisher", "subscribers"], required=True)
    parser.add_argument("--url", required=True, help="node base URL or Janus API URL")
    parser.add_argument("--room", default="bench")
    parser.add_argument("--janus-room", type=int, default=1234)
    parser.add_argument("--feed", default="", help="Janus publisher id to subscribe to")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="number of the first subscriber")
    parser.add_argument("--prefix", default="b")
    parser.add_argument("--ice-address", default="", help="pin ICE host candidates to this")
    parser.add_argument("--receivers", choices=RECEIVERS, default="aiortc",
                        help="aiortc: RTCP feedback like a browser's, no decoding; "
                        "counting: count at the socket only, no feedback")
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--uvloop", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 256:
        parser.error("--count must be 1..256")
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            args.uvloop = False
    if args.uvloop:
        uvloop.run(run(args))
    else:
        asyncio.run(run(args))
    # aiortc's decoder threads are not daemons and may outlive a peer connection that did
    # not close in time: the bot is done, so leave without waiting for them
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
