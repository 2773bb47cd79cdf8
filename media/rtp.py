"""RTP arithmetic and codec inspection used by the forwarding core (pure functions)."""

from __future__ import annotations

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


def seq_add(a: int, b: int) -> int:
    return (a + b) & 0xFFFF


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in 16-bit serial-number arithmetic (RFC 1982)."""
    d = (a - b) & 0xFFFF
    return d - SEQ_MOD if d >= 0x8000 else d


def ts_add(a: int, b: int) -> int:
    return (a + b) & 0xFFFFFFFF


def ts_diff(a: int, b: int) -> int:
    """Signed distance a - b between 32-bit RTP timestamps (RFC 1982)."""
    d = (a - b) & 0xFFFFFFFF
    return d - TS_MOD if d >= 0x80000000 else d


def unwrap(value: int, reference: int, bits: int) -> int:
    """``value`` (modulo 2**bits) as the integer nearest to ``reference``."""
    modulus = 1 << bits
    delta = (value - reference) % modulus
    if delta >= modulus // 2:
        delta -= modulus
    return reference + delta


def vp8_starts_keyframe(payload: bytes) -> bool:
    """True if an RTP VP8 payload (RFC 7741) is the first packet of a keyframe.

    Start of partition (S=1) with partition index 0, and the VP8 payload header's
    P bit (inverse keyframe flag) is 0.
    """
    if not payload:
        return False
    b0 = payload[0]
    if not b0 & 0x10 or b0 & 0x07:
        return False
    i = 1
    if b0 & 0x80:  # X: extension byte follows
        if len(payload) < 2:
            return False
        ext = payload[1]
        i = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= i:
                return False
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            i += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            i += 1
    return len(payload) > i and not payload[i] & 0x01
