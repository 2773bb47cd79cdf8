"""A new operator's mistakes, made on a real `liveroom` process: each gets one line that names
the setting, the value and what is expected, and a non-zero exit; the node never says ready
when it is not."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from signalling.cli import _parser
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def liveroom(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIVEROOM_")}
    environ.update(LIVEROOM_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "signalling.cli", *args], env=environ,
                          cwd=ROOT, capture_output=True, text=True, timeout=30)


def test_a_port_in_use_is_one_line_and_exit_2_and_never_ready(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = liveroom(tmp_path, "serve", "--dev", LIVEROOM_PORT=str(port))
    assert out.returncode == 2
    assert out.stderr.strip() == (f"liveroom: cannot listen on 127.0.0.1:{port}: Address "
                                  "already in use (LIVEROOM_HOST, LIVEROOM_PORT)")
    assert "node_ready" not in out.stdout + out.stderr
    assert "join?token=" not in out.stdout + out.stderr  # no links to a node that is not there


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("LIVEROOM_PORT", "abc", "expected an integer 1-65535"),
    ("LIVEROOM_PORT", "70000", "expected an integer 1-65535"),
    ("LIVEROOM_MAX_PARTICIPANTS", "lots", "expected an integer 1-256"),
    ("LIVEROOM_LOG_JSON", "maybe", "expected true or false"),
    ("LIVEROOM_ICE_HOST_ADDRESSES", "not-an-ip",
     "expected IP addresses, comma-separated; 'not-an-ip' is not one"),
    ("LIVEROOM_RECONNECT_GRACE_S", "-5", "expected a number >= 0"),
    ("LIVEROOM_ICE_SERVERS", "stun.example:3478", "expected stun:, stuns:, turn: or turns: URLs"),
    ("LIVEROOM_PUBLIC_URL", "example.org", "expected an http:// or https:// URL"),
    ("LIVEROOM_RECORDING_SEGMENT_S", "0", "expected a number > 0.5 and <= 60.0"),
])
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    out = liveroom(tmp_path, "serve", **{variable: value})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"liveroom: {variable}={value}: {expected}"), lines[0]
    assert "Traceback" not in out.stderr


def test_liveroom_without_a_command_lists_the_commands(tmp_path: Path) -> None:
    out = liveroom(tmp_path)
    assert out.returncode == 0
    for command in ("serve", "token", "doctor", "settings"):
        assert command in out.stdout


def test_every_option_has_help_pointing_to_its_setting(tmp_path: Path) -> None:
    serve = liveroom(tmp_path, "serve", "--help").stdout
    for option, setting in (("--host", "LIVEROOM_HOST"), ("--port", "LIVEROOM_PORT")):
        assert option in serve and setting in serve
    assert "docs/operations.md" in serve
    token = liveroom(tmp_path, "token", "--help").stdout
    assert "docs/operations.md" in token
    for command, sub in _parser()._subparsers._group_actions[0].choices.items():  # type: ignore[union-attr]
        for action in sub._actions:
            assert action.help, f"liveroom {command} {action.option_strings} has no help"


def test_settings_shows_the_effective_values_with_secrets_masked(tmp_path: Path) -> None:
    out = liveroom(tmp_path, "settings", LIVEROOM_TOKEN_SECRET="s" * 40,
                   LIVEROOM_PORT=str(free_port()))
    assert out.returncode == 0
    assert "LIVEROOM_TOKEN_SECRET=(set)" in out.stdout
    assert "s" * 40 not in out.stdout
    assert "LIVEROOM_API_KEY=(from the data dir)" in out.stdout


def test_a_second_node_on_the_same_port_fails_while_the_first_serves(tmp_path: Path) -> None:
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIVEROOM_")}
    environ.update(LIVEROOM_DATA_DIR=str(tmp_path), LIVEROOM_PORT=str(port),
                   LIVEROOM_ICE_HOST_ADDRESSES="127.0.0.1", PYTHONPATH=str(ROOT))
    first = subprocess.Popen([sys.executable, "-m", "signalling.cli", "serve"], env=environ,
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    try:
        assert first.stdout is not None
        for _ in range(200):  # bounded: until the first says it is ready
            if "node_ready" in first.stdout.readline():
                break
        else:
            pytest.fail("the first node never became ready")
        second = liveroom(tmp_path, "serve", LIVEROOM_PORT=str(port))
        assert second.returncode == 2 and "Address already in use" in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=15)
