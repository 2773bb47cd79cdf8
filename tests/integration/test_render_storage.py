"""`liveroom render` of a session uploaded to object storage (a real `moto_server`): the
local segments are gone, the render reads them from the store through the CLI's private
event loop, and the output decodes; without the storage settings it is refused."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import time
from pathlib import Path

import av

from qos.stamp import read_stamp
from recorder.counters import RecorderCounters
from recorder.s3 import S3Store
from recorder.session import SessionFiles
from recorder.storage import Uploader
from tests.integration.test_recorder_files import record
from tests.integration.test_recording_storage import moto_server  # noqa: F401 (fixture)

KEK_TEXT = base64.urlsafe_b64encode(b"k" * 32).decode()  # test_recorder_files.KEK


def recorded(root: Path) -> SessionFiles:
    """A 5 s tutor session (media from 1 s to 6 s of session time), finalized."""
    files = record(root, 5.0, "s9")
    files.event("participant_joined", participant="tutor-1", role="tutor", consent=False,
                at=0.5)
    files.event("recording_stopped", at=6.5)
    files.finalize()
    return files


def composite(path: Path) -> tuple[float, int, int]:
    """Duration, video frames, frames whose probe stamp reads (one tile: the picture)."""
    frames = stamped = 0
    with av.open(str(path), "r") as container:
        assert container.duration is not None
        for frame in container.decode(video=0):
            frames += 1
            luma = frame.to_ndarray(format="gray")
            stamped += read_stamp(luma.astype("uint8")) is not None
        return container.duration / 1e6, frames, stamped


async def cli(data_dir: Path, out: Path, env: dict[str, str]) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signalling.cli", "render", "s9", "--out", str(out),
        env={**os.environ, "LIVEROOM_DATA_DIR": str(data_dir),
             "LIVEROOM_RECORDING_KEK": KEK_TEXT, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, stderr.decode()


async def test_an_uploaded_session_renders_from_the_store(
    moto_server: str, tmp_path: Path  # noqa: F811
) -> None:
    root = tmp_path / "recordings"
    files = await asyncio.to_thread(recorded, root)
    bucket = f"render-{time.monotonic_ns()}"
    store = await S3Store.connect(bucket, endpoint=moto_server, access_key="test",
                                  secret_key="test")
    await store.create_bucket()
    await Uploader(store, RecorderCounters()).upload(files)
    await store.close()
    files.close()
    assert not list((root / "s9" / "tracks").rglob("*.seg"))  # only in the store now

    out = tmp_path / "s9.webm"
    code, stderr = await cli(tmp_path, out, {})
    assert code == 2 and "recording_not_found" in stderr and "object storage" in stderr
    code, stderr = await cli(tmp_path, out, {
        "LIVEROOM_RECORDING_STORAGE": "s3", "LIVEROOM_RECORDING_S3_ENDPOINT": moto_server,
        "LIVEROOM_RECORDING_S3_BUCKET": bucket,
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"})
    assert code == 0, stderr[-2000:]
    duration, frames, stamped = await asyncio.to_thread(composite, out)
    print(f"from the store: {duration:.2f} s, {frames} frames, {stamped} stamped")
    assert abs(duration - 6.5) <= 0.5
    assert abs(frames - 6.5 * 15) <= 2
    assert stamped >= 0.9 * 5.0 * 15  # the tutor's 5 s of video, all of it
