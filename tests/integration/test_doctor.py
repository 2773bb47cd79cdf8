"""`liveroom doctor` on this machine: each mistake a new operator makes is named in plain
words with the setting to change (binding only: the doctor sends no packet)."""

from __future__ import annotations

import socket
from pathlib import Path

from signalling import doctor
from signalling.doctor import Level
from signalling.settings import Settings
from tests.conftest import free_port


def settings(tmp_path: Path, **kw: object) -> Settings:
    values: dict[str, object] = dict(host="127.0.0.1", port=free_port(), data_dir=tmp_path,
                                     ice_host_addresses=["127.0.0.1"])
    values.update(kw)
    return Settings(**values)  # type: ignore[arg-type]


def lines(findings: list[doctor.Finding], level: Level) -> list[str]:
    return [f.line() for f in findings if f.level is level]


def test_a_healthy_loopback_node_has_no_problem_but_is_told_who_can_reach_it(
    tmp_path: Path
) -> None:
    findings = doctor.run(settings(tmp_path))
    assert lines(findings, Level.FAIL) == []
    assert any("reach this machine only" in line for line in lines(findings, Level.WARN))
    assert doctor.report(findings) == 0


def test_a_port_in_use_is_named_with_its_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        findings = doctor.run(settings(tmp_path, port=port))
    assert lines(findings, Level.FAIL) == [
        f"fail listener: cannot listen on 127.0.0.1:{port}: the port is in use by another "
        "process (LIVEROOM_HOST, LIVEROOM_PORT)"]
    assert doctor.report(findings) == 1


def test_an_ice_address_this_machine_does_not_have_fails(tmp_path: Path) -> None:
    # 192.0.2.1 is TEST-NET-1: never configured here, and binding sends nothing
    findings = doctor.run(settings(tmp_path, ice_host_addresses=["127.0.0.1", "192.0.2.1"]))
    failed = lines(findings, Level.FAIL)
    assert len(failed) == 1 and failed[0].startswith("fail ice: 192.0.2.1 cannot take UDP")
    assert "LIVEROOM_ICE_HOST_ADDRESSES" in failed[0]


def test_a_secret_readable_by_others_fails(tmp_path: Path) -> None:
    secret = tmp_path / "token-secret"
    secret.write_text("s" * 32)
    secret.chmod(0o644)
    failed = lines(doctor.run(settings(tmp_path)), Level.FAIL)
    assert failed == [f"fail data: {secret} is readable by others: chmod 600 it "
                      "(or set LIVEROOM_TOKEN_SECRET)"]


def test_s3_recording_storage_without_a_bucket_fails(tmp_path: Path) -> None:
    from recorder.config import RecorderSettings

    recording = RecorderSettings(storage="s3", s3_endpoint="http://127.0.0.1:1")
    failed = lines(doctor.run(settings(tmp_path, recording=recording)), Level.FAIL)
    assert failed == ["fail recording: storage is s3 but LIVEROOM_RECORDING_S3_BUCKET is not set"]


def test_a_configured_redis_that_does_not_answer_fails_and_one_that_does_is_ok(
    tmp_path: Path
) -> None:
    from tests.redis_server import RedisServer

    server = RedisServer()  # not started yet: nothing listens on its port
    failed = lines(doctor.run(settings(tmp_path, redis_url=server.url)), Level.FAIL)
    assert len(failed) == 1 and failed[0].startswith(
        f"fail directory: Redis at redis://127.0.0.1:{server.port}/0 does not answer")
    server.start()
    try:
        ok = lines(doctor.run(settings(tmp_path, redis_url=server.url)), Level.OK)
        assert f"ok   directory: Redis at redis://127.0.0.1:{server.port}/0 answers" in ok
    finally:
        server.stop()
