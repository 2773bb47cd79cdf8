"""Convert the raw values aiortc reports into the units the QoS module uses.

- Interarrival jitter (RFC 3550 6.4.1) is in RTP clock units: divide by the clock rate.
- ``fractionLost`` of an RTCP receiver report is a fixed-point fraction: 0-255 over 256.
- Round-trip time (from RR LSR/DLSR) is in seconds and is ``None`` until an RR arrives.
"""

from __future__ import annotations

import math

__all__ = [
    "OPUS_CLOCK_RATE",
    "VIDEO_CLOCK_RATE",
    "clock_rate_for",
    "fraction_lost",
    "jitter_ms",
    "rtt_ms",
]

VIDEO_CLOCK_RATE = 90_000
"""RTP clock rate of every video codec (RFC 7741 for VP8, RFC 6184 for H.264)."""
OPUS_CLOCK_RATE = 48_000
"""RTP clock rate of Opus, whatever the sampling rate (RFC 7587)."""


def clock_rate_for(kind_or_mime: str) -> int:
    """The RTP clock rate for ``"video"``, ``"audio"`` or a MIME type such as ``"audio/opus"``.

    Audio means Opus, the only audio codec Liveroom negotiates; ``ValueError`` otherwise.
    """
    value = kind_or_mime.lower()
    if value == "video" or value.startswith("video/"):
        return VIDEO_CLOCK_RATE
    if value in ("audio", "audio/opus"):
        return OPUS_CLOCK_RATE
    raise ValueError(f"no clock rate for {kind_or_mime!r}")


def jitter_ms(jitter: float, clock_rate: int) -> float:
    """Interarrival jitter in RTP clock units → milliseconds."""
    if clock_rate <= 0:
        raise ValueError("clock_rate must be positive")
    if jitter < 0 or not math.isfinite(jitter):
        raise ValueError(f"bad jitter {jitter!r}")
    return jitter * 1000.0 / clock_rate


def fraction_lost(raw: int) -> float:
    """RTCP ``fraction lost`` (an 8-bit fixed-point number, 0-255) → fraction in [0, 1)."""
    if not 0 <= raw <= 255:
        raise ValueError(f"fraction lost must be 0..255, got {raw!r}")
    return raw / 256.0


def rtt_ms(rtt_s: float | None) -> float | None:
    """Round-trip time in seconds → milliseconds; ``None`` (no RR yet) stays ``None``."""
    if rtt_s is None:
        return None
    if rtt_s < 0 or not math.isfinite(rtt_s):
        raise ValueError(f"bad round-trip time {rtt_s!r}")
    return rtt_s * 1000.0
