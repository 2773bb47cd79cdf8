"""Bad input gets a clear error and changes nothing; the node keeps serving everyone else."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from media.ids import Identity, Kind, Role, RoomId
from signalling.client import Client, ClientError
from signalling.client.clip import Clip, ClipTrack
from signalling.keys import NODE
from signalling.tokens import TokenGrants, mint
from tests.conftest import API_KEY, Clients, RunningNode
from tests.integration.test_forwarding import frame_numbers, has_tracks

ROOM = "lesson-bad"


@pytest.fixture
async def healthy_room(node: RunningNode, clip: Clip) -> AsyncIterator[tuple[Client, Client]]:
    """A tutor publishing to a learner: must keep working whatever the tests throw at it."""
    tutor = Client(node.url, ROOM, node.token(ROOM, "tutor", Role.TUTOR))
    learner = Client(node.url, ROOM, node.token(ROOM, "learner", Role.LEARNER))
    await tutor.join()
    await learner.join()
    await tutor.publish([ClipTrack(clip, "audio"), ClipTrack(clip, "video")])
    downlink = await learner.wait_for(has_tracks("tutor"))
    await frame_numbers(downlink, 5)
    yield tutor, learner
    # the node still serves the room: media flows and requests are answered
    await frame_numbers(downlink, 10)
    await tutor.request(__import__("signalling.protocol", fromlist=["Ping"]).Ping(id="still"))
    assert set(node.app[NODE].hubs[RoomId(ROOM)].connections) == {"tutor", "learner"}
    await tutor.close()
    await learner.close()


async def raw_socket(node: RunningNode, room: str = ROOM) -> tuple[
    aiohttp.ClientSession, aiohttp.ClientWebSocketResponse
]:
    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"{node.url}/v1/rooms/{room}/ws", max_msg_size=1 << 22)
    return session, ws


async def next_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, object]:
    msg = await ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    data: dict[str, object] = json.loads(msg.data)
    return data


async def expect_closed(ws: aiohttp.ClientWebSocketResponse, code: int) -> None:
    msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
    assert ws.close_code == code


def join_message(token: str, v: int = 1) -> str:
    return json.dumps({"type": "join", "id": "j1", "v": v, "token": token})


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("{not json", "bad_json"),
        ('{"type": "teleport", "id": "x"}', "unknown_type"),
        ('["join"]', "unknown_type"),
        ('{"type": "publish", "id": "p1", "sdp": "v=0"}', "not_joined"),
        ('{"type": "join", "id": "j1"}', "invalid_message"),
    ],
)
async def test_malformed_first_messages_are_refused_and_closed(
    node: RunningNode, healthy_room: tuple[Client, Client], payload: str, code: str
) -> None:
    session, ws = await raw_socket(node)
    try:
        await ws.send_str(payload)
        reply = await next_json(ws)
        assert reply["type"] == "error" and reply["code"] == code, reply
        await expect_closed(ws, 4000)
    finally:
        await session.close()


async def test_oversized_message_closes_with_1009(
    node: RunningNode, healthy_room: tuple[Client, Client]
) -> None:
    session, ws = await raw_socket(node)
    try:
        await ws.send_str(json.dumps({"type": "ping", "id": "big", "pad": "x" * 100_000}))
        reply = await next_json(ws)
        assert reply["code"] == "message_too_large"
        await expect_closed(ws, 1009)
    finally:
        await session.close()


@pytest.mark.parametrize("case", ["forged", "expired", "wrong_room", "garbage", "version"])
async def test_bad_tokens_are_refused(
    node: RunningNode, healthy_room: tuple[Client, Client], case: str
) -> None:
    tokens = {
        "forged": mint("not-the-secret-not-the-secret-xx", room=ROOM, identity="mallory",
                       role=Role.TUTOR),
        "expired": node.token(ROOM, "late", Role.LEARNER, now=time.time() - 7200, ttl_s=60),
        "wrong_room": node.token("other-room", "visitor", Role.LEARNER),
        "garbage": "abc.def.ghi",
        "version": node.token(ROOM, "future", Role.LEARNER),
    }
    expected = {"forged": ("bad_token", 4001), "expired": ("token_expired", 4001),
                "wrong_room": ("wrong_room", 4003), "garbage": ("bad_token", 4001),
                "version": ("unsupported_version", 4000)}
    session, ws = await raw_socket(node)
    try:
        await ws.send_str(join_message(tokens[case], v=2 if case == "version" else 1))
        reply = await next_json(ws)
        assert (reply["code"], reply["id"]) == (expected[case][0], "j1"), reply
        await expect_closed(ws, expected[case][1])
    finally:
        await session.close()
    assert "mallory" not in node.app[NODE].hubs[RoomId(ROOM)].connections


async def test_full_room_refuses_the_next_participant(
    node: RunningNode, clip: Clip, clients: Clients
) -> None:
    hub = node.app[NODE].create_room("small", max_participants=2)  # type: ignore[arg-type]
    first = clients.new(node, "small", "a", Role.TUTOR)
    second = clients.new(node, "small", "b", Role.LEARNER)
    third = clients.new(node, "small", "c", Role.LEARNER)
    await first.join()
    await second.join()
    with pytest.raises(ClientError) as refused:
        await third.join()
    assert refused.value.code == "room_full"
    await third.wait_for(lambda c: c.close_code is not None)
    assert third.close_code == 4009
    assert set(hub.connections) == {"a", "b"}


async def test_publish_without_grant_and_bad_sdp(
    node: RunningNode, healthy_room: tuple[Client, Client], clip: Clip,
    clients: Clients,
) -> None:
    from signalling import protocol as p

    observer = clients.new(node, ROOM, "observer", Role.OBSERVER)
    muted_learner = clients.add(Client(node.url, ROOM, node.token(
        ROOM, "no-publish", Role.LEARNER, grants=TokenGrants(publish=False, subscribe=True))))
    await observer.join()
    await muted_learner.join()
    for client in (observer, muted_learner):
        with pytest.raises(ClientError) as refused:
            await client.publish([ClipTrack(clip, "video")])
        assert refused.value.code == "publish_not_allowed"
    cases = {
        "garbage": ("not an sdp at all", "bad_sdp"),
        "no media": ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "bad_sdp"),
        "simulcast": (SIMULCAST_OFFER, "simulcast_unsupported"),
    }
    tutor, _ = healthy_room
    for name, (sdp, code) in cases.items():
        with pytest.raises(ClientError) as refused:
            await tutor.request(p.Publish(id=f"bad-{name.replace(' ', '-')}", sdp=sdp))
        assert refused.value.code == code, name
    with pytest.raises(ClientError) as refused:
        await tutor.request(p.Answer(id="bad-answer", downlink="d999", sdp="v=0"))
    assert refused.value.code == "unknown_downlink"
    with pytest.raises(ClientError) as refused:
        await observer.request(p.Mute(id="m", kind=Kind.VIDEO, muted=True))
    assert refused.value.code == "not_published"
    # the tutor's publication survived its bad re-publish attempts
    assert set(node.app[NODE].hubs[RoomId(ROOM)].room.get(Identity("tutor")).publications) == {
        Kind.AUDIO, Kind.VIDEO}


async def test_join_timeout_closes_a_silent_socket(node_factory: object) -> None:
    node = await node_factory(join_timeout_s=0.5)  # type: ignore[operator]
    session, ws = await raw_socket(node)
    try:
        reply = await next_json(ws)
        assert reply["code"] == "join_timeout"
        await expect_closed(ws, 4008)
    finally:
        await session.close()


async def test_http_api_auth_and_validation(node: RunningNode) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{node.url}/v1/rooms", json={"id": "r1"}) as r:
            assert r.status == 401
        async with http.post(f"{node.url}/v1/rooms", json={"id": "r1"},
                             headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
        async with http.post(f"{node.url}/v1/rooms", json={"id": "bad id!"}, headers=auth) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_request"
        async with http.post(f"{node.url}/v1/rooms", data=b"{", headers=auth) as r:
            assert r.status == 400
        async with http.post(f"{node.url}/v1/rooms", json={"id": "r1", "max_participants": 3},
                             headers=auth) as r:
            assert r.status == 201 and (await r.json())["max_participants"] == 3
        async with http.post(f"{node.url}/v1/rooms", json={"id": "r1"}, headers=auth) as r:
            assert r.status == 409
        async with http.get(f"{node.url}/v1/rooms", headers=auth) as r:
            assert [room["id"] for room in (await r.json())["rooms"]] == ["r1"]
        async with http.get(f"{node.url}/v1/rooms/nope", headers=auth) as r:
            assert r.status == 404
        async with http.post(f"{node.url}/v1/tokens", headers=auth, json={
                "room": "r1", "identity": "t", "role": "tutor"}) as r:
            body = await r.json()
            assert r.status == 201 and body["join_url"].endswith(body["token"])
        client = Client(node.url, "r1", body["token"])
        joined = await client.join()
        assert joined.participant.role == Role.TUTOR and joined.participant.can_publish
        await client.close()
        async with http.post(f"{node.url}/v1/tokens", headers=auth, json={
                "room": "r1", "identity": "t", "role": "wizard"}) as r:
            assert r.status == 400
        async with http.delete(f"{node.url}/v1/rooms/r1", headers=auth) as r:
            assert r.status == 204
        async with http.get(f"{node.url}/v1/rooms/r1", headers=auth) as r:
            assert r.status == 404
        async with http.get(f"{node.url}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{node.url}/readyz") as r:
            assert r.status == 200


FINGERPRINT = ":".join(["AB"] * 32)
SIMULCAST_OFFER = f"""v=0\r
o=- 1 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
m=video 9 UDP/TLS/RTP/SAVPF 96\r
c=IN IP4 0.0.0.0\r
a=mid:0\r
a=sendonly\r
a=ice-ufrag:abcd\r
a=ice-pwd:abcdefghijklmnopqrstuvwx\r
a=fingerprint:sha-256 {FINGERPRINT}\r
a=setup:actpass\r
a=rtpmap:96 VP8/90000\r
a=rid:h send\r
a=rid:l send\r
a=simulcast:send h;l\r
"""


# --- issue 19: hostile input ---------------------------------------------------------------


async def joined_socket(node: RunningNode, identity: str, room: str = ROOM) -> tuple[
    aiohttp.ClientSession, aiohttp.ClientWebSocketResponse
]:
    session, ws = await raw_socket(node, room)
    await ws.send_str(join_message(node.token(room, identity, Role.OBSERVER)))
    while (await next_json(ws))["type"] != "joined":
        pass
    return session, ws


async def reply_to(
    ws: aiohttp.ClientWebSocketResponse, rid: str | None = None
) -> dict[str, object]:
    """The next reply or error (events skipped)."""
    for _ in range(100):
        message = await next_json(ws)
        if message["type"] in ("ok", "error", "joined", "published") and (
                rid is None or message.get("id") == rid):
            return message
    raise AssertionError("no reply")


async def test_binary_frames_close_before_join_and_are_refused_after(
    node: RunningNode, healthy_room: tuple[Client, Client]
) -> None:
    session, ws = await raw_socket(node)
    try:
        await ws.send_bytes(b'{"type": "join"}')
        reply = await next_json(ws)
        assert (reply["code"], reply["id"]) == ("invalid_message", None)
        await expect_closed(ws, 4000)
    finally:
        await session.close()
    session, ws = await joined_socket(node, "binary")
    try:
        await ws.send_bytes(b"\x00\xff" * 10)
        assert (await reply_to(ws))["code"] == "invalid_message"
        await ws.send_str('{"type": "ping", "id": "after-binary"}')
        assert (await reply_to(ws, "after-binary"))["type"] == "ok"
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("payload", "code", "rid"),
    [
        ('{"type": "ping", "id": "n1", "x": ' + "[" * 2000 + "]" * 2000 + "}", "bad_json", None),
        ("[" * 20_000 + "]" * 20_000, "bad_json", None),
        ('{"type": "ping", "id": "\\ud800"}', "bad_json", None),
        ('{"type": ["ping"], "id": "g1"}', "unknown_type", "g1"),
        ('{"type": {"a": 1}, "id": "g2"}', "unknown_type", "g2"),
        ('{"type": "mute", "id": "m1", "kind": "video", "muted": "yes"}', "invalid_message", "m1"),
        ('{"type": "ping", "id": "' + "x" * 65 + '"}', "invalid_message", None),
        ('{"type": "ping", "id": NaN}', "bad_json", None),
    ],
)
async def test_hostile_messages_after_join_get_their_code_and_the_socket_stays_open(
    node: RunningNode, healthy_room: tuple[Client, Client], payload: str, code: str,
    rid: str | None,
) -> None:
    session, ws = await joined_socket(node, "hostile")
    try:
        await ws.send_str(payload)
        reply = await reply_to(ws)
        assert (reply["type"], reply["code"], reply["id"]) == ("error", code, rid), reply
        await ws.send_str('{"type": "ping", "id": "still-open"}')
        assert (await reply_to(ws, "still-open"))["type"] == "ok"
    finally:
        await session.close()


async def test_deep_nesting_before_join_is_bad_json_and_closes_4000(
    node: RunningNode, healthy_room: tuple[Client, Client]
) -> None:
    session, ws = await raw_socket(node)
    try:
        await ws.send_str('{"type": "join", "id": "j1", "v": ' + "[" * 5000 + "]" * 5000 + "}")
        assert (await next_json(ws))["code"] == "bad_json"
        await expect_closed(ws, 4000)
    finally:
        await session.close()


@pytest.mark.parametrize("size", [64 * 1024 + 1, 300 * 1024])
async def test_every_oversized_message_is_told_message_too_large_then_closed_1009(
    node: RunningNode, healthy_room: tuple[Client, Client], size: int
) -> None:
    session, ws = await joined_socket(node, "big")
    try:
        await ws.send_str(json.dumps({"type": "ping", "id": "big", "pad": "x" * size}))
        reply = await reply_to(ws)
        assert (reply["code"], reply["id"]) == ("message_too_large", None)
        await expect_closed(ws, 1009)
    finally:
        await session.close()


@pytest.mark.parametrize(
    "room", ["..%2Fx", "a%2Fb", "a%00b", "a%5Cb", "%C3%A9t%C3%A9", "x" * 65, "x" * 1000, "a.b",
             "%2E%2E", "a%20b"])
async def test_room_ids_with_path_tricks_are_refused_at_join_and_never_created(
    node: RunningNode, healthy_room: tuple[Client, Client], room: str
) -> None:
    from yarl import URL

    before = set(node.app[NODE].hubs)
    url = URL(f"{node.url}/v1/rooms/{room}/ws", encoded=True)
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url)
        except aiohttp.WSServerHandshakeError as exc:  # the router found no such path
            assert exc.status == 404
        else:
            await ws.send_str(join_message(node.token(ROOM, "tricky", Role.TUTOR)))
            reply = await next_json(ws)
            assert reply["code"] == "invalid_message", reply
            await expect_closed(ws, 4000)
    assert set(node.app[NODE].hubs) == before


async def test_a_flood_on_one_socket_is_rate_limited_then_closed_4029(node_factory: object) -> None:
    node = await node_factory(ws_rate=5.0, ws_burst=10)  # type: ignore[operator]
    session, ws = await joined_socket(node, "flood", room="flooded")
    try:
        for n in range(40):
            await ws.send_str(json.dumps({"type": "ping", "id": f"f{n}"}))
        replies = []
        for _ in range(40):
            msg = await ws.receive(timeout=5)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            replies.append(json.loads(msg.data))
        assert ws.close_code == 4029
        codes = [r.get("code", r["type"]) for r in replies if r["type"] in ("ok", "error")]
        assert set(codes) == {"ok", "rate_limited"} and 5 <= codes.count("ok") <= 10, codes
        limited = [r for r in replies if r.get("code") == "rate_limited"]
        assert all(str(r["id"]).startswith("f") for r in limited)  # ids echoed
    finally:
        await session.close()
    async with aiohttp.ClientSession() as http:  # another socket is not limited by it
        async with http.get(f"{node.url}/healthz") as r:
            assert r.status == 200
    other_session, other = await joined_socket(node, "calm", room="flooded")
    try:
        await other.send_str('{"type": "ping", "id": "calm"}')
        assert (await reply_to(other, "calm"))["type"] == "ok"
    finally:
        await other_session.close()


async def test_a_takeover_closes_the_old_socket_4409_every_time(
    node: RunningNode, healthy_room: tuple[Client, Client]
) -> None:
    # issue 19, item 8: once seen closed 1006 after `closing {replaced}` instead of 4409
    sessions = []
    try:
        old_session, old = await joined_socket(node, "twin")
        sessions.append(old_session)
        for n in range(12):
            new_session, new = await joined_socket(node, "twin")
            sessions.append(new_session)
            reasons = []
            for _ in range(50):
                msg = await old.receive(timeout=5)
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                reasons.append(json.loads(msg.data).get("reason"))
            assert "replaced" in reasons, (n, reasons)
            assert old.close_code == 4409, (n, old.close_code)
            old = new
    finally:
        for session in sessions:
            await session.close()


async def test_admin_api_refuses_loose_types_deep_nesting_and_oversize(node: RunningNode) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http:
        deep = "[" * 50_000 + "]" * 50_000
        async with http.post(f"{node.url}/v1/rooms", data=deep, headers=auth) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_request"
        for body in ({"id": "r2", "max_participants": "8"}, {"id": "r2", "max_participants": True},
                     {"id": "r2", "max_participants": 8.0}, {"id": "../r2"}, {"id": "a/b"},
                     {"id": "x" * 65}, {"id": 5}):
            async with http.post(f"{node.url}/v1/rooms", json=body, headers=auth) as r:
                assert r.status == 400, body
        async with http.post(f"{node.url}/v1/rooms", data='{"id": "\\ud800"}', headers=auth) as r:
            assert r.status == 400
        async with http.post(f"{node.url}/v1/rooms", data=b'{"id": "\xff"}', headers=auth) as r:
            assert r.status == 400
        token = {"room": "r2", "identity": "t", "role": "tutor"}
        for changes in ({"ttl_s": "100"}, {"ttl_s": True}, {"identity": "../t"},
                        {"identity": ""}, {"identity": "a b"}, {"name": "n" * 129},
                        {"grants": {"publish": "yes", "subscribe": 1}}, {"role": "admin"}):
            async with http.post(f"{node.url}/v1/tokens", json={**token, **changes},
                                 headers=auth) as r:
                assert r.status == 400, changes
        async with http.post(f"{node.url}/v1/rooms", data=b" " * (300 * 1024),
                             headers=auth) as r:
            assert r.status == 413 and (await r.json())["error"]["code"] == "request_too_large"
        async with http.post(f"{node.url}/v1/rooms", json={"id": "r2"}, headers=auth) as r:
            assert r.status == 201
        async with http.post(f"{node.url}/v1/rooms", json={"id": "r2"}, headers=auth) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "room_exists"
        for path in ("a%20b", "x" * 65, "%C3%A9"):
            async with http.get(f"{node.url}/v1/rooms/{path}", headers=auth) as r:
                assert r.status == 400, path
        assert [str(h) for h in node.app[NODE].hubs] == ["r2"]


async def test_a_takeover_of_a_busy_old_client_still_closes_it_4409(
    node: RunningNode, healthy_room: tuple[Client, Client]
) -> None:
    # issue 19, item 8, reproduced: an old client that did not read for 3 s saw `closing`,
    # then 1006: the node dropped the connection 2 s after its close frame, and aiohttp's
    # client, failing to answer that close, overwrote 4409 with 1006 (not final: it
    # reconnected and took the seat back). The node now waits for the close reply (10 s).
    old_session, old = await joined_socket(node, "busy-twin")
    new_session, _ = await joined_socket(node, "busy-twin")
    try:
        await asyncio.sleep(3.0)  # the old client is busy: it reads nothing
        reasons = []
        for _ in range(50):
            msg = await old.receive(timeout=5)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            reasons.append(json.loads(msg.data).get("reason"))
        assert "replaced" in reasons and old.close_code == 4409, (reasons, old.close_code)
    finally:
        await old_session.close()
        await new_session.close()
