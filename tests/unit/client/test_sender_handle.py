"""A sender's handle on a published track: ending it (as aiortc does when the node closes
the peer connection first) leaves the track live for the next uplink."""

from __future__ import annotations

import pytest
from aiortc.mediastreams import MediaStreamError

from signalling.client.clip import Clip, ClipTrack
from signalling.client.uplink import SenderHandle


async def test_a_stopped_handle_leaves_its_track_live_for_the_next_one(clip: Clip) -> None:
    track = ClipTrack(clip, "video")
    first = SenderHandle(track)
    assert first.kind == "video"
    assert await first.recv() is not None
    first.stop()  # what aiortc's sender does when its transport fails under it
    with pytest.raises(MediaStreamError):
        await first.recv()
    assert track.readyState == "live"
    second = SenderHandle(track)
    assert await second.recv() is not None
    track.stop()
    with pytest.raises(MediaStreamError):
        await second.recv()
