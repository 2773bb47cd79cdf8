"""VP8 temporal-layer rewriting, on synthetic L1T3 streams, with no event loop.

The stream generator builds real RFC 7741 payloads (descriptor + a VP8 payload header
byte), so the same bytes go through `parse_vp8`, `TemporalRewriter.rewrite` and `patch`.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.rtp import vp8_starts_keyframe
from media.vp8_layers import Rewrite, TemporalRewriter, Vp8Descriptor, parse_vp8, patch

L1T3 = (0, 2, 1, 2)


@dataclass
class Packet:
    seq: int
    marker: bool
    payload: bytearray
    picture: int  # index of the picture in the stream
    tid: int

    @property
    def descriptor(self) -> Vp8Descriptor:
        return parse_vp8(self.payload)


def payload(*, start: bool, picture_id: int, tl0: int, tid: int, sync: bool, key: bool,
            bits: int = 15, keyidx: int | None = None) -> bytearray:
    b0 = 0x80 | (0x10 if start else 0) | (0x20 if tid else 0)
    x = 0x80 | 0x40 | 0x20 | (0x10 if keyidx is not None else 0)
    buf = bytearray([b0, x])
    if bits == 15:
        buf += bytes([0x80 | (picture_id >> 8) & 0x7F, picture_id & 0xFF])
    else:
        buf.append(picture_id & 0x7F)
    buf.append(tl0 & 0xFF)
    buf.append((tid << 6) | (0x20 if sync else 0) | (keyidx or 0))
    buf += bytes([0x00 if key else 0x01, 0x9D, 0x01, 0x2A])
    return buf


def stream(pictures: int, *, seq: int = 1000, picture_id: int = 100, tl0: int = 7,
           packets_per_picture: int | tuple[int, ...] = 3, bits: int = 15,
           keyframes: tuple[int, ...] = (0,)) -> list[Packet]:
    """An L1T3 stream: layer pattern 0,2,1,2; layer sync on the first TL1 and TL2 picture
    after each keyframe and then every 8 pictures (libwebrtc's pattern)."""
    out = []
    tl0_now = tl0 - 1
    for n in range(pictures):
        tid = L1T3[n % 4]
        key = n in keyframes
        if key:
            tid = 0
        if tid == 0:
            tl0_now += 1
        since_key = n - max((k for k in keyframes if k <= n), default=-10)
        sync = since_key in (1, 2) or (n % 8) in (1, 2)
        count = (packets_per_picture if isinstance(packets_per_picture, int)
                 else packets_per_picture[n % len(packets_per_picture)])
        for k in range(count):
            out.append(Packet(
                (seq & 0xFFFF), k == count - 1,
                payload(start=k == 0, picture_id=(picture_id + n) % (1 << bits), tl0=tl0_now,
                        tid=tid, sync=sync, key=key and k == 0, bits=bits),
                n, tid,
            ))
            seq += 1
    return out


Sent = list[tuple[Packet, Rewrite]]


def run(rw: TemporalRewriter, packets: list[Packet], source: int = 1) -> Sent:
    sent = []
    for p in packets:
        r = rw.rewrite(source, p.seq, p.marker, p.descriptor)
        if r is not None:
            sent.append((p, r))
    return sent


def seq_distance(a: int, b: int) -> int:
    return (b - a) & 0xFFFF


def check_continuity(sent: list[tuple[Packet, Rewrite]], bits: int = 15) -> None:
    """In order, no loss: every outgoing number is the previous one + 1."""
    for (p0, r0), (p1, r1) in itertools.pairwise(sent):
        assert seq_distance(r0.sequence_number, r1.sequence_number) == 1
        if p1.picture == p0.picture:
            assert r1.picture_id == r0.picture_id and r1.tl0picidx == r0.tl0picidx
        else:
            assert (r1.picture_id - r0.picture_id) % (1 << bits) == 1
            step = (r1.tl0picidx - r0.tl0picidx) & 0xFF
            assert step == (1 if p1.tid == 0 else 0)


def test_the_descriptor_is_parsed_with_every_optional_field() -> None:
    d = parse_vp8(payload(start=True, picture_id=0x1234, tl0=200, tid=2, sync=True, key=False,
                          keyidx=5))
    assert (d.size, d.start, d.partition, d.non_reference) == (6, True, 0, True)
    assert (d.picture_id, d.picture_id_bits, d.tl0picidx) == (0x1234, 15, 200)
    assert (d.tid, d.sync, d.keyidx, d.keyframe) == (2, True, 5, False)
    short = parse_vp8(payload(start=True, picture_id=100, tl0=1, tid=0, sync=False, key=True,
                              bits=7))
    assert (short.size, short.picture_id, short.picture_id_bits, short.keyframe) == (
        5, 100, 7, True)
    plain = parse_vp8(bytes([0x10, 0x00]))  # no X: nothing optional
    assert (plain.size, plain.picture_id, plain.tid, plain.keyframe) == (1, None, None, True)


def test_the_keyframe_flag_agrees_with_the_forwarders_check() -> None:
    for key in (True, False):
        for start in (True, False):
            buf = payload(start=start, picture_id=3, tl0=0, tid=0, sync=False, key=key)
            assert parse_vp8(buf).keyframe == vp8_starts_keyframe(bytes(buf))


@pytest.mark.parametrize("cut", range(1, 6))
def test_a_truncated_descriptor_raises_value_error(cut: int) -> None:
    buf = payload(start=True, picture_id=0x1234, tl0=1, tid=1, sync=False, key=False)
    with pytest.raises(ValueError):
        parse_vp8(buf[:cut])


def test_all_layers_pass_unchanged_at_the_top_target() -> None:
    packets = stream(40)
    sent = run(TemporalRewriter(target=2), packets)
    assert len(sent) == len(packets)
    assert all(r.sequence_number == p.seq for p, r in sent)  # the first run keeps its numbers
    assert all(r.picture_id == p.descriptor.picture_id for p, r in sent)
    check_continuity(sent)


@pytest.mark.parametrize("target, fraction", [(0, 1 / 4), (1, 2 / 4)])
def test_upper_layers_are_dropped_and_numbers_stay_contiguous(target: int, fraction: float) -> None:
    packets = stream(80, seq=65500, picture_id=32700, tl0=250)  # all three wrap
    sent = run(TemporalRewriter(target=target), packets)
    assert all(p.tid <= target for p, _ in sent)
    pictures = {p.picture for p, _ in sent}
    assert len(pictures) == 80 * fraction
    check_continuity(sent)
    # every forwarded picture is complete
    assert len(sent) == 3 * len(pictures)


def test_seven_bit_picture_ids_stay_seven_bit_and_wrap_at_128() -> None:
    packets = stream(300, picture_id=120, bits=7)
    sent = run(TemporalRewriter(target=1), packets)
    assert all(r.picture_id < 128 for _, r in sent)
    check_continuity(sent, bits=7)
    buf = bytearray(sent[-1][0].payload)
    patch(buf, 0, parse_vp8(buf), sent[-1][1])
    assert len(buf) == len(sent[-1][0].payload) and parse_vp8(buf).picture_id_bits == 7


def test_going_down_happens_at_the_next_picture_and_up_waits_for_a_layer_sync() -> None:
    packets = stream(64, packets_per_picture=2)
    rw = TemporalRewriter(target=2)
    decided: dict[int, bool] = {}
    for p in packets:
        if p.picture == 21:
            rw.set_target(2)
        r = rw.rewrite(1, p.seq, p.marker, p.descriptor)
        decided.setdefault(p.picture, r is not None)
        assert decided[p.picture] == (r is not None), "a picture is forwarded whole or not"
        if p.picture == 10 and not p.marker:  # in the middle of picture 10
            rw.set_target(0)
    # picture 10 (layer 1) had begun: it finishes; from 11 on only layer 0
    assert decided[10] and not decided[11] and decided[12] and not decided[13]
    # up, one layer at a time: layer-sync pictures are 25 (TL2), 26 (TL1), 33 (TL2), 34 (TL1)
    ups = [n for n in range(21, 40) if decided[n] and L1T3[n % 4] > 0]
    first_tl1 = min(n for n in ups if L1T3[n % 4] == 1)
    first_tl2 = min(n for n in ups if L1T3[n % 4] == 2)
    # 25 (a TL2 sync) came while only layer 0 was up; 27 (TL2) is no sync picture
    assert first_tl1 == 26 and first_tl2 == 33
    assert rw.current == 2


def test_a_keyframe_switches_up_at_once() -> None:
    packets = stream(24, keyframes=(0, 12))
    rw = TemporalRewriter(target=0)
    sent = []
    for p in packets:
        if p.picture == 9:
            rw.set_target(2)
        r = rw.rewrite(1, p.seq, p.marker, p.descriptor)
        if r is not None:
            sent.append((p, r))
    assert {p.picture for p, _ in sent} >= set(range(12, 24))
    check_continuity(sent)


def test_a_new_source_waits_for_its_keyframe_and_continues_every_number() -> None:
    rw = TemporalRewriter(target=1)
    first = run(rw, stream(20, seq=100, picture_id=5000, tl0=10), source=1)
    # a new simulcast layer: its own numbers, a delta picture first
    other = stream(20, seq=40000, picture_id=20000, tl0=99, keyframes=(2,))
    second = run(rw, other, source=2)
    assert min(p.picture for p, _ in second) == 2
    check_continuity(first + second)
    assert rw.source_sequence_number(second[0][1].sequence_number) == second[0][0].seq


def test_padding_is_dropped_without_a_gap() -> None:
    packets = stream(12)
    rw = TemporalRewriter(target=2)
    sent = []
    for n, p in enumerate(packets):
        r = rw.rewrite(1, (p.seq + n // 3) & 0xFFFF, p.marker, p.descriptor)
        if r is not None:
            sent.append((p, r))
        if p.marker:  # a padding packet after every picture
            assert rw.rewrite(1, (p.seq + n // 3 + 1) & 0xFFFF, False, None) is None
    check_continuity(sent)


def test_patch_writes_the_numbers_in_place() -> None:
    buf = payload(start=True, picture_id=0x1234, tl0=200, tid=1, sync=True, key=False, keyidx=3)
    d = parse_vp8(buf)
    before = bytes(buf)
    patch(buf, 0, d, Rewrite(1, 0x0ABC, 17, 30))
    after = parse_vp8(buf)
    assert (after.picture_id, after.tl0picidx, after.keyidx) == (0x0ABC, 17, 30)
    assert (after.tid, after.sync, after.size) == (1, True, d.size)
    assert buf[d.size:] == before[d.size:]
    framed = bytearray(12) + before  # behind an RTP header
    patch(framed, 12, d, Rewrite(1, 0x0ABC, 17, 30))
    assert framed[12:] == buf and framed[:12] == bytearray(12)


def deliver(packets: list[Packet], lost: set[int], swaps: list[int]) -> list[Packet]:
    order = [p for i, p in enumerate(packets) if i not in lost]
    for i in swaps:
        if i + 1 < len(order):
            order[i], order[i + 1] = order[i + 1], order[i]
    return order


@settings(max_examples=150, deadline=None)
@given(
    target=st.integers(0, 2),
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    lost=st.sets(st.integers(3, 299), max_size=12),
    swaps=st.lists(st.integers(3, 290), max_size=8),
    seq=st.integers(0, 0xFFFF), picture_id=st.integers(0, 0x7FFF), tl0=st.integers(0, 255),
)
def test_loss_and_reordering_upstream_never_break_continuity(
    target: int, sizes: list[int], lost: set[int], swaps: list[int], seq: int,
    picture_id: int, tl0: int,
) -> None:
    packets = stream(100, seq=seq, picture_id=picture_id, tl0=tl0,
                     packets_per_picture=tuple(sizes))[:300]
    arrivals = deliver(packets, lost, swaps)
    rw = TemporalRewriter(target=target)
    sent = run(rw, arrivals)
    outs = [r.sequence_number for _, r in sent]
    assert len(set(outs)) == len(outs), "an outgoing number is used once"
    by_picture: dict[int, set[int]] = {}
    for p, r in sent:
        by_picture.setdefault(p.picture, set()).add(r.picture_id)
        assert p.tid <= max(target, 0) or p.picture == 0
    assert all(len(ids) == 1 for ids in by_picture.values()), "one id per picture"
    # ids increase with the pictures, by one except where whole pictures were missing
    pics = sorted(by_picture)
    ids = [next(iter(by_picture[n])) for n in pics]
    for (n0, i0), (n1, i1) in itertools.pairwise(zip(pics, ids, strict=True)):
        step = (i1 - i0) % 0x8000
        assert 1 <= step <= n1 - n0
    # holes in the outgoing sequence come only from what went missing or out of order
    first = sent[0][1].sequence_number
    span = max(seq_distance(first, s) for s in outs) + 1
    assert span - len(outs) <= len(lost) + len(swaps)
    if not lost and not swaps:
        assert span == len(outs)
    # TL0PICIDX: constant offset from the input
    offsets = {(p.descriptor.tl0picidx - r.tl0picidx) & 0xFF for p, r in sent}  # type: ignore[operator]
    assert len(offsets) == 1


def test_a_lost_packet_in_a_dropped_picture_does_not_look_like_a_loss() -> None:
    packets = stream(20, packets_per_picture=3)
    lost = {i for i, p in enumerate(packets) if p.picture == 5 and p.marker}  # TL2, middle
    sent = run(TemporalRewriter(target=1), deliver(packets, lost, []))
    check_continuity(sent)


def test_a_late_retransmission_fills_its_reserved_number() -> None:
    packets = stream(20, packets_per_picture=3)
    i = next(i for i, p in enumerate(packets) if p.picture == 8 and not p.marker)  # TL0
    order = packets[:i] + packets[i + 1:i + 7] + [packets[i]] + packets[i + 7:]
    rw = TemporalRewriter(target=1)
    sent = run(rw, order)
    assert packets[i] in [p for p, _ in sent]
    base = sent[0][1].sequence_number
    sent.sort(key=lambda e: seq_distance(base, e[1].sequence_number))
    check_continuity(sent)


def test_many_random_runs_keep_the_invariants() -> None:
    rng = random.Random(15)
    for _ in range(20):
        packets = stream(200, seq=rng.randrange(65536), packets_per_picture=(1, 2, 5))
        rw = TemporalRewriter(target=rng.randrange(3))
        sent = []
        for p in packets:
            if rng.random() < 0.02:
                rw.set_target(rng.randrange(3))
            r = rw.rewrite(1, p.seq, p.marker, p.descriptor)
            if r is not None:
                sent.append((p, r))
        check_continuity(sent)


def test_lost_padding_between_pictures_is_squeezed_out() -> None:
    packets = stream(16)
    rw = TemporalRewriter(target=1)
    sent = []
    for n, p in enumerate(packets):  # a padding packet after every picture, never arriving
        r = rw.rewrite(1, (p.seq + n // 3) & 0xFFFF, p.marker, p.descriptor)
        if r is not None:
            sent.append((p, r))
    check_continuity(sent)


def test_a_lost_first_packet_of_a_dropped_picture_is_squeezed_out() -> None:
    packets = stream(16)
    lost = {i for i, p in enumerate(packets) if p.tid == 2 and p.descriptor.starts_picture}
    sent = run(TemporalRewriter(target=1), deliver(packets, lost, []))
    check_continuity(sent)
