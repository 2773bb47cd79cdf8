"""Settings, the announced address rewrite and the `liveroom token` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.peer import announce
from signalling.cli import main
from signalling.settings import Settings
from signalling.tokens import verify

ANSWER = (
    "v=0\r\n"
    "a=candidate:1 1 udp 2130706431 192.0.2.5 40000 typ host\r\n"  # a documentation address
    "a=candidate:2 1 udp 1694498815 203.0.113.9 40000 typ srflx raddr 192.0.2.5 rport 40000\r\n"
)


def test_announced_address_replaces_host_candidates_only() -> None:
    out = announce(ANSWER, "198.51.100.7")
    assert "198.51.100.7 40000 typ host" in out
    assert "203.0.113.9 40000 typ srflx" in out  # reflexive candidates stay as they are
    assert announce(ANSWER, None) == ANSWER


def test_settings_read_comma_separated_lists_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIVEROOM_ICE_HOST_ADDRESSES", "127.0.0.1, ::1")
    monkeypatch.setenv("LIVEROOM_ICE_SERVERS", "stun:stun.example.org:3478")
    monkeypatch.setenv("LIVEROOM_MAX_PARTICIPANTS", "5")
    settings = Settings()
    assert settings.ice_host_addresses == ["127.0.0.1", "::1"]
    assert settings.ice_servers == ["stun:stun.example.org:3478"]
    assert settings.max_participants == 5


def test_the_token_command_mints_with_the_nodes_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATA_DIR", str(tmp_path))
    assert main(["token", "--room", "r1", "--identity", "t1", "--role", "tutor"]) == 0
    token = capsys.readouterr().out.strip()
    secret = (tmp_path / "token-secret").read_text().strip()
    assert (tmp_path / "token-secret").stat().st_mode & 0o077 == 0  # owner only
    claims = verify(secret, token, room="r1")
    assert (claims.sub, claims.role) == ("t1", "tutor")
    assert Settings().resolved_secret() == secret  # `serve` reads the same secret
