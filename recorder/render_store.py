"""Where a render reads a track's sealed segments: the session's folder, or the object
store a finished session was uploaded to (`LIVEROOM_RECORDING_STORAGE=s3`: the local
copies are deleted once verified, docs/recording.md).

The render runs in plain (threaded) code; the store is asyncio (aiobotocore), so the
store lives on a private event loop in one thread of the render process (never a node's
loop), and each read waits for its answer, at most `timeout_s`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from .errors import RecorderCode, RecorderError
from .session import SessionFiles
from .storage import ObjectStore

T = TypeVar("T")


class SegmentSource(Protocol):
    def names(self, track: str) -> list[str]:
        """The track's sealed segments, in sequence order."""
        ...

    def read(self, name: str) -> bytes: ...


class LocalSegments:
    def __init__(self, files: SessionFiles) -> None:
        self.files = files

    def names(self, track: str) -> list[str]:
        return [str(p) for p in sorted(self.files.track_dir(track).glob("*.seg"))]

    def read(self, name: str) -> bytes:
        with open(name, "rb") as f:
            return f.read()


class StoreBridge:
    """An object store on its own event loop thread, called from synchronous code."""

    def __init__(self, connect: Callable[[], Awaitable[ObjectStore]],
                 timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="render-store",
                                        daemon=True)
        self._thread.start()
        try:
            self.store: ObjectStore = self.run(_awaited(connect()))
        except BaseException:
            self._stop()
            raise

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout_s)
        except TimeoutError as exc:
            future.cancel()
            raise RecorderError(RecorderCode.STORAGE, "object storage did not answer in "
                                f"{self.timeout_s:.0f} s") from exc

    def close(self) -> None:
        try:
            self.run(self.store.close())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()


async def _awaited(value: Awaitable[T]) -> T:
    return await value


class StoredSegments:
    def __init__(self, bridge: StoreBridge, session: str) -> None:
        self.bridge = bridge
        self.session = session

    def names(self, track: str) -> list[str]:
        keys = self.bridge.run(self.bridge.store.keys(f"{self.session}/tracks/{track}"))
        return [k for k in keys if k.endswith(".seg")]

    def read(self, name: str) -> bytes:
        return self.bridge.run(self.bridge.store.get(name))
