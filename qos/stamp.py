"""A frame stamp in luma blocks that survives lossy video coding: frame id + capture time.

The picture is divided into a grid of 20 x 15 cells (32 x 32 pixels at 640x480, 16 x 16 at
320x240: whole VP8 macroblocks). The top four rows (80 cells) each carry one bit, black
(luma 16) or white (235), most significant bit first:

    marker (8 bits) | frame id (32) | capture time, ms mod 2^32 (32) | CRC-8 of both (8)

A reader takes the mean of the inner half of each cell, so blurred block edges do not
matter; a cell too close to mid-gray, a wrong marker or a bad CRC means "no stamp".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["GRID_COLS", "GRID_ROWS", "STAMP_ROWS", "Stamp", "crc8", "read_stamp", "write_stamp"]

GRID_COLS = 20
GRID_ROWS = 15
STAMP_ROWS = 4
"""Grid rows at the top of the picture that hold the stamp."""
BLACK, WHITE = 16, 235
_MID = (BLACK + WHITE) / 2
_MIN_CONTRAST = 48.0  # a cell mean must be this far from mid-gray to count as a bit
_MARKER = 0b10110010
_MASK32 = 0xFFFFFFFF

Luma = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Stamp:
    """What a frame carries."""

    frame_id: int
    """Frame number, mod 2^32."""
    capture_ms: int
    """Capture time on the sender's monotonic clock, whole ms mod 2^32."""


def crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07, init 0), as in ATM HEC without the final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _cell(shape: tuple[int, ...]) -> tuple[int, int]:
    height, width = shape[0], shape[1]
    ch, cw = height // GRID_ROWS, width // GRID_COLS
    if ch < 4 or cw < 4:
        raise ValueError(f"picture {width}x{height} is too small for the stamp grid")
    return ch, cw


def _bits(stamp: Stamp) -> npt.NDArray[np.uint8]:
    frame_id, capture_ms = stamp.frame_id & _MASK32, stamp.capture_ms & _MASK32
    payload = frame_id.to_bytes(4, "big") + capture_ms.to_bytes(4, "big")
    raw = bytes([_MARKER]) + payload + bytes([crc8(payload)])
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8))


def write_stamp(luma: Luma, stamp: Stamp) -> None:
    """Draw ``stamp`` into the top rows of ``luma`` (height x width, uint8) in place."""
    ch, cw = _cell(luma.shape)
    cells = _bits(stamp).reshape(STAMP_ROWS, GRID_COLS) * (WHITE - BLACK) + BLACK
    block = np.kron(cells.astype(np.uint8), np.ones((ch, cw), dtype=np.uint8))
    luma[: STAMP_ROWS * ch, : GRID_COLS * cw] = block


def read_stamp(luma: Luma) -> Stamp | None:
    """Read the stamp of a decoded picture's luma plane, or ``None`` if it has none."""
    try:
        ch, cw = _cell(luma.shape)
    except ValueError:
        return None
    band = luma[: STAMP_ROWS * ch, : GRID_COLS * cw].reshape(STAMP_ROWS, ch, GRID_COLS, cw)
    inner = band[:, ch // 4 : ch - ch // 4, :, cw // 4 : cw - cw // 4]
    means = inner.mean(axis=(1, 3), dtype=np.float64)
    if np.any(np.abs(means - _MID) < _MIN_CONTRAST):
        return None
    raw = np.packbits((means > _MID).astype(np.uint8).ravel()).tobytes()
    if raw[0] != _MARKER or crc8(raw[1:9]) != raw[9]:
        return None
    return Stamp(int.from_bytes(raw[1:5], "big"), int.from_bytes(raw[5:9], "big"))
