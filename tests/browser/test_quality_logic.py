"""The page's quality rating (quality.js), run in real Chromium on stats reports shaped like
Chromium's own getStats(): a slow network is 'poor', a device too busy to decode or encode
is 'busy' ("This device is busy"), whatever the network figures say."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import RunningNode

NewPage = Callable[..., Awaitable[Page]]

RATE = """async (cases) => {
  const q = await import('/static/quality.js');
  const report = (stats) => new Map(stats.map((s) => [s.id, s]));
  return cases.map(([kind, before, now]) => q.rateQuality(kind === 'down'
    ? q.downlinkFigures(report(before), report(now), new Set(['audio', 'video']))
    : q.uplinkFigures(report(now))));
}"""


def video(frames: int, decode_s: float, dropped: int = 0, packets: int = 0,
          lost: int = 0) -> dict[str, Any]:
    return {"id": "v", "type": "inbound-rtp", "kind": "video", "framesDecoded": frames,
            "framesReceived": frames + dropped, "framesDropped": dropped,
            "totalDecodeTime": decode_s, "packetsReceived": packets, "packetsLost": lost}


def audio(packets: int, jitter_s: float, lost: int = 0) -> dict[str, Any]:
    return {"id": "a", "type": "inbound-rtp", "kind": "audio", "packetsReceived": packets,
            "packetsLost": lost, "jitter": jitter_s}


def uplink(limitation: str, loss: float) -> list[dict[str, Any]]:
    return [{"id": "o", "type": "outbound-rtp", "kind": "video",
             "qualityLimitationReason": limitation},
            {"id": "r", "type": "remote-inbound-rtp", "kind": "video", "fractionLost": loss,
             "roundTripTime": 0.02}]


async def test_a_busy_decoder_is_told_apart_from_a_poor_network(
    node: RunningNode, new_page: NewPage
) -> None:
    page = await new_page()
    await page.goto(f"{node.url}/join")
    await expect(page.locator("#join-view")).to_have_attribute("data-state", "invalid")
    before = [video(100, 1.0, packets=1000), audio(500, 0.01)]
    cases = [
        # a healthy second: 30 frames decoded at 5 ms each, no loss
        ["down", before, [video(130, 1.15, packets=1100), audio(550, 0.01)]],
        # the network: 20% of the packets lost, frames decoded quickly
        ["down", before, [video(130, 1.15, packets=1080, lost=20), audio(550, 0.01, lost=10)]],
        # the device: frames take 60 ms each to decode and audio jitter looks high
        ["down", before, [video(115, 1.9, packets=1050), audio(550, 0.09)]],
        # the device: half the frames dropped by the decoder pipeline, jitter high
        ["down", before, [video(115, 1.1, dropped=15, packets=1050), audio(550, 0.09)]],
        # busy but the network figures are fine: still good
        ["down", before, [video(115, 1.9, packets=1050), audio(550, 0.01)]],
        # the encoder held back for CPU, with loss reported by the node
        ["up", [], uplink("cpu", 0.2)],
        ["up", [], uplink("bandwidth", 0.2)],
        ["up", [], uplink("none", 0.0)],
    ]
    ratings = await page.evaluate(RATE, cases)
    assert ratings == ["good", "poor", "busy", "busy", "good", "busy", "poor", "good"]
