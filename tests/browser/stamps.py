"""Reading the probe's frame stamps (qos/stamp.py) from <video> elements in a page.

Each video is drawn into a canvas at its own size and every stamp cell's inner half is
averaged (luma from RGB, BT.601), as `qos.stamp.read_stamp` does on the decoded luma; the
bits, marker and CRC-8 are checked the same way. All the videos are read in one task, so
they are read at the same playback instant."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from qos.stamp import GRID_COLS, GRID_ROWS, STAMP_ROWS

READ_STAMPS = """
([selectors, cols, rows, stampRows]) => {
  const MARKER = 0b10110010;
  const crc8 = (bytes) => {
    let crc = 0;
    for (const b of bytes) {
      crc ^= b;
      for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
    }
    return crc;
  };
  const read = (video) => {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) return { error: 'no picture' };
    const canvas = document.createElement('canvas');
    canvas.width = w; canvas.height = h;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.drawImage(video, 0, 0, w, h);
    const ch = Math.floor(h / rows), cw = Math.floor(w / cols);
    const data = g.getImageData(0, 0, cols * cw, stampRows * ch).data;
    const stride = cols * cw;
    const bits = [];
    let weakest = 255;
    for (let r = 0; r < stampRows; r++) {
      for (let c = 0; c < cols; c++) {
        let sum = 0, n = 0;
        for (let y = r * ch + (ch >> 2); y < (r + 1) * ch - (ch >> 2); y++) {
          for (let x = c * cw + (cw >> 2); x < (c + 1) * cw - (cw >> 2); x++) {
            const i = 4 * (y * stride + x);
            sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
            n++;
          }
        }
        const mean = sum / n;
        weakest = Math.min(weakest, Math.abs(mean - 127.5));
        bits.push(mean > 127.5 ? 1 : 0);
      }
    }
    if (weakest < 48) return { error: 'no stamp (a cell near mid-grey)' };
    const bytes = [];
    for (let i = 0; i < bits.length; i += 8) {
      bytes.push(bits.slice(i, i + 8).reduce((a, b) => (a << 1) | b, 0));
    }
    if (bytes[0] !== MARKER || crc8(bytes.slice(1, 9)) !== bytes[9]) return { error: 'bad stamp' };
    const u32 = (k) => ((bytes[k] << 24) | (bytes[k + 1] << 16) | (bytes[k + 2] << 8)
                        | bytes[k + 3]) >>> 0;
    return { frame_id: u32(1), capture_ms: u32(5), current_time: video.currentTime,
             width: w, height: h };
  };
  return selectors.map((s) => read(document.querySelector(s)));
}
"""


async def read_stamps(page: Page, selectors: list[str]) -> list[dict[str, Any]]:
    """The stamp each video shows now (or {"error": ...}), read in one task."""
    return list(await page.evaluate(READ_STAMPS, [selectors, GRID_COLS, GRID_ROWS, STAMP_ROWS]))
