"""Bad input gets a clear error and changes nothing; the node keeps serving everyone else."""

from __future__ import annotations

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
from tests.conftest import API_KEY, RunningNode
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


async def test_full_room_refuses_the_next_participant(node: RunningNode, clip: Clip) -> None:
    hub = node.app[NODE].create_room("small", max_participants=2)  # type: ignore[arg-type]
    first = Client(node.url, "small", node.token("small", "a", Role.TUTOR))
    second = Client(node.url, "small", node.token("small", "b", Role.LEARNER))
    third = Client(node.url, "small", node.token("small", "c", Role.LEARNER))
    try:
        await first.join()
        await second.join()
        with pytest.raises(ClientError) as refused:
            await third.join()
        assert refused.value.code == "room_full"
        await third.wait_for(lambda c: c.close_code is not None)
        assert third.close_code == 4009
        assert set(hub.connections) == {"a", "b"}
    finally:
        for client in (first, second, third):
            await client.close()


async def test_publish_without_grant_and_bad_sdp(
    node: RunningNode, healthy_room: tuple[Client, Client], clip: Clip
) -> None:
    from signalling import protocol as p

    observer = Client(node.url, ROOM, node.token(ROOM, "observer", Role.OBSERVER))
    muted_learner = Client(node.url, ROOM, node.token(
        ROOM, "no-publish", Role.LEARNER, grants=TokenGrants(publish=False, subscribe=True)))
    try:
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
    finally:
        await observer.close()
        await muted_learner.close()


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
