"""TalkSink on real aiortc RTP packets: levels from the header extension, media time from
the RTP clock, mutes count nothing."""

from __future__ import annotations

import pytest
from aiortc.rtp import RtpPacket

from media.fastpath import SourcePacket
from media.talk import TalkDetector
from media.talk_sink import TalkSink


def packet(ts: int, level: int | None, ssrc: int = 1) -> SourcePacket:
    p = RtpPacket(payload_type=111, sequence_number=ts // 960 % 65536, timestamp=ts,
                  ssrc=ssrc, payload=b"\x00" * 40)
    if level is not None:
        p.extensions.audio_level = (False, level)
    return SourcePacket(p, False, 0)


def test_jittered_arrivals_do_not_change_the_spans() -> None:
    d = TalkDetector()
    sink = TalkSink(d)
    jitter = [0.0, 0.03, 0.0, 0.045, 0.01]  # arrival delay per packet, repeating
    for k in range(100):  # 2 s: loud for the first 300 ms of each second
        level = 10 if k % 50 < 15 else 127
        assert sink.forward(packet(k * 960, level), 100.0 + k * 0.02 + jitter[k % 5]) == 0
    d.stop()
    assert [round(s.duration, 3) for s in d.take()] == [0.3, 0.3]
    assert d.closed_s == pytest.approx(0.6)


def test_the_timestamp_wraps_and_a_stall_reanchors() -> None:
    d = TalkDetector(hangover_s=0.5)
    sink = TalkSink(d)
    base = 0xFFFFFFFF - 960 * 2
    for k in range(5):
        sink.forward(packet((base + k * 960) & 0xFFFFFFFF, 10), 10.0 + k * 0.02)
    assert d.talk_s(10.1) == pytest.approx(0.1)
    sink.forward(packet((base + 5 * 960) & 0xFFFFFFFF, 10), 13.0)  # 3 s late: new run
    assert [round(s.duration, 3) for s in d.take()] == [0.1]


def test_muted_or_level_less_packets_count_nothing() -> None:
    d = TalkDetector()
    sink = TalkSink(d)
    sink.forward(packet(0, None), 1.0)
    sink.pause()
    sink.forward(packet(960, 10), 1.02)
    assert d.talk_s(2.0) == 0.0
    sink.resume()
    sink.forward(packet(1920, 10), 1.04)
    sink.restart()
    assert d.closed_s == pytest.approx(0.02)
