"""Micro-benchmark of the VP8 temporal-layer rewriter (media/vp8_layers.py), per packet.

    python -m loadtest.vp8_bench

An L1T3 stream (layers 0,2,1,2; 3 packets per picture) built once; timeit runs, per packet:
`parse_vp8` (once per publisher packet, shared by all subscribers), and `rewrite` +
`patch` into an RTP-sized buffer (once per subscriber per packet), at target layers 2 (all
forwarded) and 1 (half dropped). The figures are quoted in docs/architecture.md.
"""

from __future__ import annotations

import timeit

from media.vp8_layers import TemporalRewriter, parse_vp8, patch

PATTERN = (0, 2, 1, 2)
PICTURES = 3000
PER_PICTURE = 3


def packets() -> list[tuple[int, bool, bytearray]]:
    out = []
    seq, tl0 = 0, 0
    for n in range(PICTURES):
        tid = PATTERN[n % 4]
        tl0 += tid == 0
        for k in range(PER_PICTURE):
            pid = n & 0x7FFF
            sync = 0x20 if n % 8 in (1, 2) else 0
            payload = bytearray([0x80 | (0x10 if k == 0 else 0), 0xE0, 0x80 | pid >> 8,
                                 pid & 0xFF, tl0 & 0xFF, tid << 6 | sync,
                                 0x00 if n == 0 and k == 0 else 0x01]) + bytes(1000)
            out.append((seq & 0xFFFF, k == PER_PICTURE - 1, payload))
            seq += 1
    return out


def main() -> None:
    stream = packets()
    parsed = [(s, m, p, parse_vp8(p)) for s, m, p in stream]
    n = len(stream)
    parse_s = min(timeit.repeat(lambda: [parse_vp8(p) for _, _, p in stream], number=1, repeat=5))
    print(f"parse_vp8:         {parse_s / n * 1e9:7.0f} ns/packet")
    buf = bytearray(12 + 1007)
    for target in (2, 1):
        def one_pass(target: int = target) -> None:
            rw = TemporalRewriter(target=target)
            rewrite = rw.rewrite
            for seq, marker, _, d in parsed:
                r = rewrite(1, seq, marker, d)
                if r is not None:
                    patch(buf, 12, d, r)

        best = min(timeit.repeat(one_pass, number=1, repeat=5))
        print(f"rewrite+patch t={target}: {best / n * 1e9:7.0f} ns/packet")


if __name__ == "__main__":
    main()
