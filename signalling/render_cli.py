"""`liveroom render SESSION`: the review composite of a recorded session (recorder.render),
for signalling/cli.py. It reads the node's data dir, recording key and object storage
like the node does, in its own process: never on a node's event loop."""

from __future__ import annotations

import sys
from pathlib import Path

import structlog

from recorder.errors import RecorderCode, RecorderError
from recorder.recorder import Recorder
from recorder.render import RenderOptions, render_session
from recorder.render_store import StoreBridge
from recorder.s3 import S3Store
from recorder.sealing import LocalKek

from .logs import configure
from .settings import Settings


class _Stderr:
    """Whatever sys.stderr is when an event is written (a test's capture ends, a CLI's
    stream is swapped): structlog's logger keeps its file for good."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def render(settings: Settings, session: str, *, out: str | None, fmt: str,
           timeout: float | None) -> int:
    configure(json=settings.log_json)  # then the events go to stderr: stdout has the result
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(_Stderr()))  # type: ignore[arg-type]
    rec = settings.recording
    kek_file = settings.data_dir / "recording-kek"
    if not rec.kek and not kek_file.exists():
        print(f"liveroom: no recording key in {settings.data_dir} (LIVEROOM_DATA_DIR, "
              "LIVEROOM_RECORDING_KEK)", file=sys.stderr)
        return 2
    wrapper = LocalKek.from_text(rec.kek) if rec.kek else LocalKek.in_data_dir(kek_file)
    recorder = Recorder(settings.data_dir / "recordings", wrapper)
    target = Path(out) if out else Path(f"{session}.{fmt}")
    store = StoreBridge(lambda: S3Store.connect(
        rec.s3_bucket, endpoint=rec.s3_endpoint or None, region=rec.s3_region,
    )) if rec.storage == "s3" else None  # an uploaded session's segments are there
    try:
        done = render_session(recorder, session, RenderOptions(
            out=target, format=fmt, timeout_s=timeout), store=store)
    except RecorderError as exc:
        print(f"liveroom: render: {exc.code}: {exc.message}", file=sys.stderr)
        return 3 if exc.code is RecorderCode.TIMED_OUT else 2
    except OSError as exc:  # the output's folder, the disk; or media PyAV cannot read
        print(f"liveroom: render failed: {exc}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.close()
    print(f"{done.path} ({done.format}, {done.duration_s:.1f} s, {len(done.tiles)} videos, "
          f"{done.audio_tracks} audio tracks, {done.frames} frames) in {done.seconds:.1f} s")
    return 0
