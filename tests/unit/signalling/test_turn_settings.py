"""TURN settings are checked at start-up and reach the page config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from signalling.pages import page_config
from signalling.protocol import client_contract
from signalling.settings import Settings, describe_errors
from signalling.turn import TurnServers, credential


def errors(**values: object) -> list[str]:
    with pytest.raises(ValidationError) as failed:
        Settings(**values)  # type: ignore[arg-type]
    return describe_errors(failed.value, {})


def test_turn_urls_need_a_secret_and_relay_needs_turn_urls() -> None:
    assert errors(turn_urls=["turn:127.0.0.1:3478"]) == [
        "LIVEROOM_TURN_SECRET=: LIVEROOM_TURN_URLS needs the TURN server's shared secret"]
    assert errors(ice_transport_policy="relay") == [
        "LIVEROOM_ICE_TRANSPORT_POLICY=relay: relay needs LIVEROOM_TURN_URLS"]
    assert errors(turn_urls=["stun:x"], turn_secret="s")[0].startswith(
        "LIVEROOM_TURN_URLS=stun:x: expected turn: or turns: URLs")


def test_the_page_config_carries_the_transport_policy_and_never_turn_urls() -> None:
    settings = Settings(turn_urls=["turn:t:3478?transport=tcp"], turn_secret="s",
                        ice_transport_policy="relay", ice_servers=["stun:s:3478"])
    config = page_config(list(settings.ice_servers), client_contract(60.0),
                         settings.ice_transport_policy)
    assert config["iceTransportPolicy"] == "relay"
    assert config["iceServers"] == [{"urls": "stun:s:3478"}]


def test_credentials_follow_the_turn_rest_api_scheme() -> None:
    [server] = TurnServers(["turn:t:3478"], "secret", 600).for_participant("p-1", 1000.4)
    assert server.username == "1600:p-1"
    # HMAC-SHA1 of "1600:p-1" under "secret", base64 (from `openssl dgst -sha1 -hmac`)
    assert server.credential == credential("secret", "1600:p-1") == "6OB3Y0uwwIBHHBP8NNAT4w+SQzk="
    assert TurnServers([], "secret", 600).for_participant("p-1", 0) == []
