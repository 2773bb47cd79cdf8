"""A small run of the forwarding benchmark (Liveroom only, N = 2, a few seconds).

The benchmark itself (`scripts/bench-forwarding`) is not part of the test suite; this
checks that its pieces work end to end: a `liveroom serve` process, bot processes, the
/proc measurements and the report. No thresholds on time or CPU.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from loadtest.counting import PacketCounter, payload_types
from loadtest.forwarding import parse, ratios, run_one, table
from loadtest.overload import overload_checks, overload_table

FIELDS = (
    "node_cpu_cores", "node_cpu_cores_publisher_only", "marginal_cpu_millicores_per_subscriber",
    "node_rss_mb", "video_fps", "audio_pps", "lost_packets", "forwarded_pps", "publisher_fps",
    "publisher_fps_at_node", "publisher_pc_failed", "subscriber_pcs", "subscriber_pcs_failed",
    "subscribers_refused",
)


async def test_a_small_benchmark_run_measures_the_node_and_every_subscriber(
    tmp_path: Path,
) -> None:
    opts = parse(["--setups", "liveroom", "--steps", "2", "--window", "3",
                  "--base-window", "2", "--warmup", "1"])
    result = await run_one("liveroom", 2, opts, tmp_path / "run")
    result["round"] = 0
    for name in FIELDS:
        assert name in result, name
    assert result["subscribers_measured"] == 2
    assert result["node_cpu_cores"] > 0
    assert result["node_rss_mb"] > 10
    assert result["video_fps"]["min"] > 0
    assert result["audio_pps"]["min"] > 0
    assert result["forwarded_pps"] > 0
    json.dumps(result)
    assert "liveroom" in table([result])
    assert ratios([result]) == []  # no Janus in this run
    # browser-like receivers: RTCP feedback reached the node, every connection survived
    assert result["receivers"] == "aiortc"
    assert result["subscriber_pcs"] == 2 and result["subscriber_pcs_failed"] == 0
    assert result["publisher_pc_failed"] is False
    assert result["publisher_fps_at_node"] > 0
    assert "liveroom" in overload_table([result])
    assert len(overload_checks([result])) == 4


def _rtp(pt: int, seq: int, marker: bool = False, ssrc: int = 1234) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, 0, ssrc) + b"x" * 20


def test_the_counting_bot_counts_frames_and_loss_from_rtp_headers() -> None:
    sdp = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
           "m=video 9 UDP/TLS/RTP/SAVPF 97 98\r\na=rtpmap:97 VP8/90000\r\n"
           "a=rtpmap:98 rtx/90000\r\n")
    counter = PacketCounter(kinds=payload_types(sdp))
    for seq in (65534, 65535, 1, 2):  # wraps; 0 is lost
        counter.on_datagram(_rtp(97, seq, marker=seq == 2))
    counter.on_datagram(_rtp(98, 7, ssrc=99))  # a retransmission
    counter.on_datagram(_rtp(111, 10, ssrc=5678))
    video_packets, frames, audio, video_lost, audio_lost, rtx, _ = counter.snapshot()
    assert (video_packets, frames, audio, video_lost, audio_lost, rtx) == (4, 1, 1, 1, 0, 1)
