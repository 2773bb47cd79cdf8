"""One storage contract, run against the local store and against a real S3 server
(`moto_server`, started here on 127.0.0.1); a recorded session uploaded, verified, read
back and decrypted from the store; purge and erasure leave no object behind."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from media.ids import Kind
from recorder import sealing
from recorder.counters import RecorderCounters
from recorder.errors import RecorderCode, RecorderError
from recorder.recorder import Recorder
from recorder.s3 import S3Store
from recorder.storage import LocalStore, ObjectStore, Uploader
from recorder.webm import check
from tests.integration.test_recorder_files import KEK, record


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "moto_server exited"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        yield LocalStore(tmp_path / "objects")
        return
    url = request.getfixturevalue("moto_server")
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status < 500  # a real server answers
    s3 = await S3Store.connect(f"rec-{time.monotonic_ns()}", endpoint=url,
                               access_key="test", secret_key="test")
    await s3.create_bucket()
    yield s3
    await s3.close()


async def test_the_storage_contract(store: ObjectStore) -> None:
    await store.put("s1/tracks/t-audio/000000.seg", b"one")
    await store.put("s1/final/t-audio.seg", b"two" * 1000)
    await store.put("s2/session.json", b"{}")
    assert await store.get("s1/tracks/t-audio/000000.seg") == b"one"
    assert await store.keys("s1") == ["s1/final/t-audio.seg", "s1/tracks/t-audio/000000.seg"]
    assert await store.keys("s1/tracks") == ["s1/tracks/t-audio/000000.seg"]
    await store.delete("s1/final/t-audio.seg")
    with pytest.raises(RecorderError) as err:
        await store.get("s1/final/t-audio.seg")
    assert err.value.code is RecorderCode.NOT_FOUND
    for bad in ("../x/y", "s1/../../etc/passwd", "s1", "/s1/x", "s1/x\x00"):
        with pytest.raises(RecorderError):
            await store.put(bad, b"")


async def test_a_session_is_uploaded_verified_read_back_and_erased(
    store: ObjectStore, tmp_path: Path
) -> None:
    root = tmp_path / "recordings"
    files = await asyncio.to_thread(record, root, 5.0, "s9")
    await asyncio.to_thread(files.finalize)
    uploader = Uploader(store, RecorderCounters())
    unreachable = await S3Store.connect("nowhere", endpoint=f"http://127.0.0.1:{free_port()}",
                                        access_key="test", secret_key="test")
    failing = Uploader(unreachable, RecorderCounters())
    with pytest.raises(Exception):  # noqa: B017 - botocore's connection error, whatever it is
        await failing.upload(files)
    await unreachable.close()
    assert failing.counters.upload_failures == 1
    assert len(list((root / "s9" / "tracks").rglob("*.seg"))) == 4  # kept until verified
    assert await uploader.upload(files) == 6  # 2 segments per track, 2 finals
    assert not list((root / "s9" / "tracks").rglob("*.seg"))  # deleted once verified
    assert await uploader.upload(files) == 0  # the manifest says all are there
    blob = await store.get("s9/final/tutor-1-video.seg")
    _, plain = sealing.open_sealed(files.data_key, blob, session="s9",
                                   track="tutor-1-video", sequence=-1)
    assert check(plain, Kind.VIDEO).frames == 150
    uploaded = [x for x in files.manifest_lines() if "uploaded" in x]
    assert len(uploaded) == 6 and all(len(x["sha256"]) == 64 for x in uploaded)
    files.close()
    # erasure: the objects and the local folder (with the wrapped key) are gone
    assert await uploader.erase("s9") > 0
    assert await store.keys("s9") == []
    recorder = Recorder(root, KEK)
    assert recorder.erase_session("s9", "test")
    assert not (root / "s9").exists()
