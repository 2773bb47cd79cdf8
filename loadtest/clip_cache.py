"""Encoded bot clips kept on disk, so that bot processes do not each pay the encoder.

Encoding the tutor's clip (4 s of VP8 640x480 at 1 Mbps) costs a core about 5 s; a
classroom run starts a bot process per room and per locust worker. The first bot that needs
a clip encodes it (`signalling.client.clip.encode_clip`) under a file lock and writes its
packets (JSON, base64) to the cache; the others wait for the lock and read it. A cached
clip is what `ClipTrack` replays: the packets' bytes (it re-stamps every packet), the
frame rate, size and keyframe indexes. The file name holds the parameters and a format
version, so a cache entry never stands for other parameters.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from pathlib import Path
from typing import Any

import av

from signalling.client.clip import Clip, encode_clip

FORMAT = 1


def default_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "liveroom" / "clips"


def _encode(packets: Any) -> list[str]:
    return [base64.b64encode(bytes(p)).decode() for p in packets]


def _decode(packets: list[str]) -> tuple[Any, ...]:
    return tuple(av.Packet(base64.b64decode(p)) for p in packets)


def cached_clip(folder: Path, width: int, height: int, video_bitrate: int) -> Clip:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"clip-v{FORMAT}-{width}x{height}-{video_bitrate}.json"
    with open(folder / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.exists():
                with open(path) as f:
                    data = json.load(f)
                return Clip(_decode(data["video"]), _decode(data["audio"]), data["fps"],
                            data["width"], data["height"], data["frame_count"],
                            tuple(data["keyframes"]))
            clip = encode_clip(width=width, height=height, video_bitrate=video_bitrate)
            data = {"video": _encode(clip.video), "audio": _encode(clip.audio),
                    "fps": clip.fps, "width": clip.width, "height": clip.height,
                    "frame_count": clip.frame_count, "keyframes": list(clip.keyframes)}
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_text(json.dumps(data))
            partial.replace(path)
            return clip
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
