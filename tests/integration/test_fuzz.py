"""A seeded fuzzer against a real node, and a flood on one socket, while a witness room works.

The seed is printed; run again with `LIVEROOM_FUZZ_SEED=<seed>` (and optionally
`LIVEROOM_FUZZ_MESSAGES=<n>`, default 8000) to replay a run. Every message must end in one
documented reply or error code (never `internal`), or a documented close; no handler
traceback may reach the node's log; the witness room keeps forwarding video and answering
pings throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from media.errors import ErrorCode
from media.ids import Kind, Role
from signalling import protocol as p
from signalling.client import Client, RemoteDownlink
from signalling.client.clip import Clip, ClipTrack
from signalling.errors import SignalCode
from signalling.tokens import TokenGrants
from signalling.ws import CLOSE_CODES
from tests.conftest import RunningNode
from tests.integration.test_forwarding import has_tracks

SEED = int(os.environ.get("LIVEROOM_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
MESSAGES = int(os.environ.get("LIVEROOM_FUZZ_MESSAGES", "8000"))
WITNESS = "witness"
FUZZ_ROOM = "fuzzed"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
REPLIES = ("ok", "error", "joined", "published")


def _section(heading: str) -> str:
    return DOCS.read_text().split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]


def documented_codes() -> set[str]:
    """The codes of docs/protocol.md's "Errors" table."""
    return set(re.findall(r"^\| `([a-z_]+)` \|", _section("Errors"), re.MULTILINE))


def documented_close_codes() -> set[int]:
    """The codes of docs/protocol.md's "Close codes" tables."""
    return {int(c) for c in re.findall(r"^\| (\d{4}) \|", _section("Close codes"), re.MULTILINE)}


def test_the_documented_codes_are_exactly_the_codes_of_the_enums() -> None:
    # never sent on a socket: room_exists is HTTP 409 (admin API); wrong_session and
    # not_reviewer are the replay's HTTP 403s (docs/review.md)
    unsent = {"replaced", "subscribe_not_allowed", "room_exists", "wrong_session",
              "not_reviewer"}
    enums = {c.value for c in SignalCode} | {c.value for c in ErrorCode}
    assert documented_codes() == enums - unsent
    assert documented_close_codes() == {int(c) for c in p.CloseCode} | {1002, 1007}


# --- the witness room -----------------------------------------------------------------------


@dataclass
class Witness:
    tutor: Client
    learner: Client
    downlink: RemoteDownlink
    frames: list[float] = field(default_factory=list)  # arrival times of decoded video frames
    pings: list[float] = field(default_factory=list)  # round trips, seconds
    ping_times: list[float] = field(default_factory=list)  # when each ping was sent

    async def count_frames(self) -> None:
        track = self.downlink.tracks[Kind.VIDEO]
        while True:
            await track.recv()
            self.frames.append(time.monotonic())

    async def ping(self, n: int) -> float:
        started = time.monotonic()
        await self.tutor.request(p.Ping(id=f"w{n}"), timeout=5.0)
        took = time.monotonic() - started
        self.pings.append(took)
        self.ping_times.append(started)
        return took

    def fps(self, since: float, until: float) -> float:
        return sum(since <= t < until for t in self.frames) / max(until - since, 1e-6)


@contextlib.asynccontextmanager
async def witness_room(node: RunningNode, clip: Clip) -> AsyncIterator[Witness]:
    """A tutor publishing a clip to a learner, the learner's video frames counted."""
    tutor = Client(node.url, WITNESS, node.token(WITNESS, "tutor-7", Role.TUTOR))
    learner = Client(node.url, WITNESS, node.token(WITNESS, "learner-3", Role.LEARNER))
    await tutor.join()
    await learner.join()
    await tutor.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
    downlink = await learner.wait_for(has_tracks("tutor-7"))
    w = Witness(tutor, learner, downlink)
    counting = asyncio.ensure_future(w.count_frames())
    try:
        async with asyncio.timeout(10):
            while len(w.frames) < 10:
                await asyncio.sleep(0.05)
        yield w
    finally:
        counting.cancel()
        await asyncio.gather(counting, return_exceptions=True)
        await tutor.close()
        await learner.close()


# --- generated input ------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    data: str | bytes
    opcode: aiohttp.WSMsgType = aiohttp.WSMsgType.TEXT
    kind: str = "text"


FINGERPRINT = ":".join(["AB"] * 32)
OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    f"a=fingerprint:sha-256 {FINGERPRINT}\r\na=setup:actpass\r\na=rtcp-mux\r\n"
    "a=rtpmap:96 VP8/90000\r\n"
)


class Fuzzer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.token = ""
        self.n = 0

    def rid(self) -> str:
        self.n += 1
        return f"z{self.n}"

    def template(self, kind: str | None = None) -> dict[str, Any]:
        r = self.rng
        kind = kind or r.choice(sorted(p.CLIENT_TYPES))
        base: dict[str, Any] = {"type": kind, "id": self.rid()}
        extra: dict[str, dict[str, Any]] = {
            "join": {"v": 1, "token": self.token},
            "publish": {"sdp": OFFER},
            "answer": {"downlink": f"d{r.randrange(1, 50)}", "sdp": OFFER},
            "mute": {"kind": r.choice(["audio", "video"]), "muted": r.random() < 0.5},
        }
        return {**base, **extra.get(kind, {})}

    def value(self, depth: int = 0) -> Any:
        """A random JSON value of any type (nested at most three deep)."""
        r = self.rng
        pick = r.randrange(9 if depth < 3 else 6)
        if pick == 0:
            return None
        if pick == 1:
            return r.random() < 0.5
        if pick == 2:
            return r.randrange(-(2**70), 2**70)
        if pick == 3:
            return r.uniform(-1e300, 1e300)
        if pick == 4:
            return self.text()
        if pick == 5:
            return r.choice(["ping", "join", "video", "audio", "", "d1", "tutor-7", "../x", "1"])
        if pick == 6:
            return [self.value(depth + 1) for _ in range(r.randrange(4))]
        if pick == 7:
            return {self.text(8): self.value(depth + 1) for _ in range(r.randrange(4))}
        return sorted(p.CLIENT_TYPES)

    def text(self, longest: int = 40) -> str:
        r = self.rng
        alphabet = "abcXYZ019_-./\\:\"'{}[] \n\t\x00\x7fé€😀\u202e\ufeff"
        return "".join(r.choice(alphabet) for _ in range(r.randrange(longest)))

    def mistyped(self) -> Frame:
        """A message of a known type with one field mistyped, missing or added."""
        r = self.rng
        message = self.template()
        keys = list(message)
        action = r.randrange(4)
        if action == 0:
            message[r.choice(keys)] = self.value()
        elif action == 1:
            del message[r.choice(keys)]
        elif action == 2:
            message[self.text(10) or "x"] = self.value()
        else:
            message["type"] = self.value()
        return Frame(json.dumps(message))

    def deep(self) -> Frame:
        depth = self.rng.choice([17, 100, 1000, 2000, 5000, 20_000])
        opener, closer = self.rng.choice([("[", "]"), ('{"a":', "}")])
        inner = opener * depth + "1" * (opener != "[") + closer * depth
        if self.rng.random() < 0.5:
            return Frame(inner)
        return Frame(f'{{"type": "ping", "id": "{self.rid()}", "x": {inner}}}')

    def surrogate(self) -> Frame:
        message = self.template()
        field_name = self.rng.choice([k for k, v in message.items() if isinstance(v, str)])
        escape = self.rng.choice(["\\ud800", "\\udfff", "\\udbff\\u0041", "x\\ud83d"])
        text = json.dumps({**message, field_name: "@@"}).replace('"@@"', f'"{escape}"')
        return Frame(text)

    def sdp(self) -> Frame:
        r = self.rng
        lines = OFFER.split("\r\n")
        for _ in range(r.randrange(1, 4)):
            if not lines:
                break
            i = r.randrange(len(lines))
            op = r.randrange(5)
            if op == 0:
                del lines[i]
            elif op == 1:
                lines.insert(i, lines[r.randrange(len(lines))])
            elif op == 2 and lines[i]:
                j = r.randrange(len(lines[i]))
                lines[i] = lines[i][:j] + self.text(3) + lines[i][j + 1:]
            elif op == 3:
                lines[i] = r.choice(["m=audio 9 UDP/TLS/RTP/SAVPF 0", "a=simulcast:send h;l",
                                     "a=rtpmap:96 H264/90000", "a=recvonly", "a=rid:h send",
                                     "m=application 9 DTLS/SCTP 5000", "a=rtpmap:96 VP8/0"])
            else:
                lines = lines[: i + 1]
        kind = r.choice(["publish", "answer"])
        return Frame(json.dumps({**self.template(kind), "sdp": "\r\n".join(lines)}))

    def next(self, token: str) -> Frame:
        """One generated frame, labelled with the generator that made it."""
        self.token = token
        r = self.rng
        roll = r.random()
        if roll < 0.30:
            return replace(self.mistyped(), kind="mistyped")
        if roll < 0.42:
            return Frame(json.dumps(self.value()), kind="random_json")
        if roll < 0.47:
            return replace(self.deep(), kind="deep")
        if roll < 0.55:
            return replace(self.surrogate(), kind="surrogate")
        if roll < 0.65:
            return replace(self.sdp(), kind="sdp")
        if roll < 0.70:
            return Frame(bytes(r.randrange(256) for _ in range(r.randrange(1, 64))),
                         aiohttp.WSMsgType.BINARY, "binary")
        if roll < 0.71:
            return Frame(b'{"type": "ping", "id": "\xff\xfe"}', aiohttp.WSMsgType.TEXT,
                         "not_utf8")
        if roll < 0.72:
            return Frame(json.dumps({"type": "ping", "id": self.rid(), "pad": "x" * 70_000}),
                         kind="oversize")
        if roll < 0.80:
            return Frame(self.text(200), kind="garbage")
        message = self.template(r.choice(["ping", "ping", "mute", "unpublish", "join", "leave"]))
        return Frame(json.dumps(message), kind="valid")


# --- the run --------------------------------------------------------------------------------


@dataclass
class Outcome:
    codes: Counter[str] = field(default_factory=Counter)
    closes: Counter[int] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    closed_by: Counter[str] = field(default_factory=Counter)  # "generator:close code"
    unanswered: list[str] = field(default_factory=list)  # closed with no reply, or not as told


async def send(ws: aiohttp.ClientWebSocketResponse, frame: Frame) -> bool:
    """False if the socket was closing already (after `leave`, a takeover, a refusal)."""
    try:
        if isinstance(frame.data, bytes):
            await ws.send_frame(frame.data, frame.opcode)
        else:
            await ws.send_str(frame.data)
    except (ConnectionError, RuntimeError):
        return False
    return True


def _type_of(frame: Frame) -> object:
    try:
        message = json.loads(frame.data)
    except ValueError:
        return None
    return message.get("type") if isinstance(message, dict) else None


async def outcome_of(
    ws: aiohttp.ClientWebSocketResponse, outcome: Outcome, frame: Frame, before_join: bool
) -> bool:
    """Read the reply to `frame` and, if the protocol says the socket closes after it, the
    close (checking its code). True while the socket stays open."""
    expected: int | None = None
    async with asyncio.timeout(10):  # every message is answered, or its socket closed
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                code = ws.close_code or 0
                outcome.closes[code] += 1
                outcome.closed_by[f"{frame.kind}:{code}"] += 1
                if expected is None and not (frame.kind == "not_utf8" and code == 1007):
                    outcome.unanswered.append(f"{frame.kind}:{code}:{frame.data!r:.120}")
                elif expected is not None and code != expected:
                    outcome.unanswered.append(f"{frame.kind}:{code}≠{expected}")
                return False
            message = json.loads(msg.data)
            p.SERVER_MESSAGE.validate_python(message)  # the node only says what it documents
            if expected is not None or message["type"] not in REPLIES:
                continue
            outcome.replies[message["type"]] += 1
            if message["type"] == "error":
                code = message["code"]
                outcome.codes[code] += 1
                if before_join or code == SignalCode.MESSAGE_TOO_LARGE:
                    expected = CLOSE_CODES.get(code, p.CloseCode.PROTOCOL)
                    continue
            elif message["type"] == "ok" and _type_of(frame) == "leave":
                expected = p.CloseCode.NORMAL
                continue
            return True


async def joined(
    http: aiohttp.ClientSession, url: str, token: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url, max_msg_size=1 << 22)
    await ws.send_str(json.dumps({"type": "join", "id": "fj", "v": 1, "token": token}))
    async with asyncio.timeout(10):
        while json.loads((await ws.receive()).data)["type"] != "joined":
            pass
    return ws


async def test_fuzzed_messages_get_documented_codes_while_a_witness_room_works(
    node_factory: Callable[..., Any], clip: Clip, caplog: pytest.LogCaptureFixture
) -> None:
    print(f"fuzz seed {SEED} ({MESSAGES} messages): replay with LIVEROOM_FUZZ_SEED={SEED}")
    node: RunningNode = await node_factory(ws_rate=1e6, ws_burst=10**6)
    url = f"{node.url.replace('http', 'ws', 1)}/v1/rooms/{FUZZ_ROOM}/ws"
    grants = TokenGrants(publish=True, subscribe=False)
    token = node.token(FUZZ_ROOM, "fuzz-1", Role.LEARNER, grants=grants)
    fresh_token = node.token(FUZZ_ROOM, "fuzz-fresh", Role.LEARNER, grants=grants)
    fuzzer = Fuzzer(SEED)
    outcome = Outcome()
    caplog.set_level(logging.WARNING)
    with structlog.testing.capture_logs() as events:
        async with witness_room(node, clip) as w, aiohttp.ClientSession() as http:
            started = time.monotonic()
            ws = await joined(http, url, token)
            for n in range(MESSAGES):
                if n % 4 == 0:  # before join: a fresh socket for each message
                    frame = fuzzer.next(fresh_token)
                    fresh = await http.ws_connect(url, max_msg_size=1 << 22)
                    if await send(fresh, frame) and await outcome_of(fresh, outcome, frame, True):
                        await fresh.close()
                else:
                    frame = fuzzer.next(token)
                    if not (await send(ws, frame) and await outcome_of(ws, outcome, frame, False)):
                        ws = await joined(http, url, token)
                if n % 300 == 0:
                    took = await w.ping(n)
                    assert took < 1.0, f"seed {SEED}: witness ping {took:.3f} s at {n}"
            await ws.close()
            elapsed = time.monotonic() - started
            await w.ping(MESSAGES)
            fps = w.fps(started, time.monotonic())
    print(f"fuzz: {MESSAGES} messages in {elapsed:.1f} s; codes {dict(outcome.codes)}; "
          f"closes {dict(outcome.closed_by)}; replies {dict(outcome.replies)}; witness "
          f"{fps:.1f} fps, pings max {max(w.pings) * 1000:.0f} ms")
    assert "internal" not in outcome.codes, f"seed {SEED}"
    assert not outcome.unanswered, f"seed {SEED}: {outcome.unanswered[:5]}"
    assert set(outcome.codes) <= documented_codes(), f"seed {SEED}: {outcome.codes}"
    assert set(outcome.closes) <= documented_close_codes(), f"seed {SEED}: {outcome.closed_by}"
    failures = [e for e in events if e.get("log_level") in ("error", "critical")
                or e.get("exc_info")]
    assert not failures, f"seed {SEED}: {failures[:3]}"
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not tracebacks, f"seed {SEED}: {[r.getMessage() for r in tracebacks[:3]]}"
    assert fps > 10, f"seed {SEED}: the witness room's video slowed to {fps:.1f} fps"
    assert sum(outcome.codes.values()) > MESSAGES // 2


# --- a flood on one socket ------------------------------------------------------------------


async def flood(url: str, token: str, count: int) -> tuple[int, int | None]:
    """Send `count` pings as fast as the socket takes them, reading the replies alongside;
    return how many replies came back and the socket's close code."""
    async with aiohttp.ClientSession() as http:
        ws = await joined(http, url, token)
        replies = 0

        async def read() -> None:
            nonlocal replies
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    replies += 1

        reader = asyncio.ensure_future(read())
        for n in range(count):
            if ws.closed or not await send(ws, Frame(f'{{"type": "ping", "id": "f{n}"}}')):
                break
        async with asyncio.timeout(30):  # every reply, or the node's close
            while replies < count and not reader.done():
                await asyncio.sleep(0.01)
        await ws.close()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        return replies, ws.close_code


@pytest.mark.parametrize("limited", [True, False], ids=["default-limits", "no-limit"])
async def test_a_flood_of_10000_messages_costs_the_witness_room_nothing(
    node_factory: Callable[..., Any], clip: Clip, limited: bool
) -> None:
    overrides: dict[str, Any] = {} if limited else {"ws_rate": 1e6, "ws_burst": 10**6}
    node: RunningNode = await node_factory(**overrides)
    url = f"{node.url.replace('http', 'ws', 1)}/v1/rooms/{FUZZ_ROOM}/ws"
    token = node.token(FUZZ_ROOM, "flooder", Role.OBSERVER)
    async with witness_room(node, clip) as w:
        flooding = asyncio.ensure_future(flood(url, token, 10_000))
        started = time.monotonic()
        n = 0
        while not flooding.done() and n < 5000:  # 40 pings a second: the witness's own
            await w.ping(n)  # bucket (20/s, burst 100) lasts 5 s of flood at that pace
            n += 1
            await asyncio.sleep(0.025)
        replies, close_code = await flooding
        ended = time.monotonic()
        while time.monotonic() < started + 1.0:  # judge the video over a second at least
            await w.ping(n)
            n += 1
            await asyncio.sleep(0.05)  # 20 pings a second: within the witness's own limit
        fps = w.fps(started, time.monotonic())
    pings = sorted(w.pings)
    during = sorted(t for at, t in zip(w.ping_times, w.pings, strict=True) if at < ended)
    print(f"flood ({'default limits' if limited else 'no limit'}): {replies} replies, "
          f"close {close_code}, {ended - started:.2f} s; witness pings during the flood "
          f"n={len(during)} p50 {statistics.median(during) * 1000:.1f} ms, max "
          f"{during[-1] * 1000:.1f} ms (over 1 s: n={len(pings)}, max "
          f"{pings[-1] * 1000:.1f} ms); video {fps:.1f} fps")
    if limited:
        assert close_code == p.CloseCode.RATE_LIMITED and replies <= 2 * 100 + 2
    else:
        assert replies >= 10_000
    assert pings[-1] < 1.0 and fps > 10
