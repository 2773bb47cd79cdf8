"""VP8 temporal layers: the payload descriptor (RFC 7741) and a per-subscriber rewriter.

A publisher that encodes VP8 with temporal layers (`L1T3`: pictures of layer 0, 2, 1, 2, 0,
...) marks each packet with its layer (TID), a layer-sync bit (Y), a picture id and the
index of the last base-layer picture (TL0PICIDX). A subscriber that gets fewer frames per
second is sent only the pictures of layers up to its target; `TemporalRewriter` decides per
packet and renumbers what it keeps so that the subscriber sees a valid stream:

- sequence numbers contiguous over the dropped packets (a drop must not look like a loss);
  a loss upstream stays a gap, so the subscriber NACKs it and a late packet fills it;
- picture ids contiguous over dropped pictures, in the width the input uses (7 or 15 bits:
  the patch is then in place, the descriptor keeps its length, and the id stays contiguous
  modulo the width the receiver was already told);
- TL0PICIDX continuous (8 bits), KEYIDX (5 bits) too: both keep a constant offset inside
  one run of a source and continue at +1 when a new source (another simulcast layer) starts;
- timestamps untouched (the Forwarder owns them).

Up to a higher layer only at a safe point: a keyframe, or a layer-sync picture (Y=1) of the
next layer up, one layer at a time (a TL0 picture is not enough: libwebrtc's TL1 pictures
may reference the previous TL1 picture, which the subscriber never got). Down at once, at
the next picture. A packet whose picture is unknown because of a gap upstream is attributed
from the marker and start bits where that is certain (same picture; padding between a
finished picture and the next one); otherwise its numbers are reserved, so a late arrival
fills the gap, and a reserved packet that turns out to belong to a dropped picture stays a
gap (the subscriber sees a loss upstream as a loss). Temporal filtering needs picture ids
(Chromium always sends them with temporal layers); without, every packet is forwarded.

Cost per packet: `python -m loadtest.vp8_bench` (timeit); the figures are in
docs/architecture.md, "Layers and allocation". `parse_vp8` runs once per publisher packet,
`rewrite` + `patch` once per subscriber per packet; neither builds more than one small
object per call.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_U16 = struct.Struct("!H")
_DROPPED = -1
_RESERVED, _FORWARDED, _DROPPED_PICTURE = 0, 1, 2


@dataclass(slots=True)
class Vp8Descriptor:
    """The fields of one packet's VP8 payload descriptor (RFC 7741 section 4.2).

    Not frozen, as `Rewrite`: a frozen dataclass's __init__ sets each field through
    object.__setattr__ (`parse_vp8` took 2.1 us frozen, 0.96 us not, in
    loadtest/vp8_bench.py). Treat both as read-only."""

    size: int
    """Bytes of the descriptor; the VP8 payload follows."""
    start: bool
    """S: the packet starts a VP8 partition."""
    partition: int
    """PID: the partition index (0 for the first partition of a picture)."""
    non_reference: bool
    """N: no other picture references this one."""
    picture_id: int | None
    picture_id_bits: int
    """0 (absent), 7 or 15."""
    tl0picidx: int | None
    tid: int | None
    """The temporal layer (T bit set), else None."""
    sync: bool
    """Y: a layer-sync picture (depends on base-layer pictures only)."""
    keyidx: int | None
    keyframe: bool
    """The first packet of a keyframe (S=1, PID=0 and the payload header's P bit 0)."""

    @property
    def starts_picture(self) -> bool:
        return self.start and self.partition == 0


def parse_vp8(payload: bytes | bytearray | memoryview, offset: int = 0) -> Vp8Descriptor:
    """The descriptor at `payload[offset:]`; ValueError if it is truncated."""
    end = len(payload)
    if offset >= end:
        raise ValueError("VP8 payload is empty")
    b0 = payload[offset]
    start, partition = bool(b0 & 0x10), b0 & 0x07
    i = offset + 1
    picture_id = tl0 = tid = keyidx = None
    bits, sync = 0, False
    if b0 & 0x80:
        if i >= end:
            raise ValueError("VP8 descriptor truncated (X)")
        x = payload[i]
        i += 1
        if x & 0x80:
            if i >= end:
                raise ValueError("VP8 descriptor truncated (I)")
            if payload[i] & 0x80:
                if i + 1 >= end:
                    raise ValueError("VP8 descriptor truncated (M)")
                picture_id, bits = ((payload[i] & 0x7F) << 8) | payload[i + 1], 15
                i += 2
            else:
                picture_id, bits = payload[i], 7
                i += 1
        if x & 0x40:
            if i >= end:
                raise ValueError("VP8 descriptor truncated (L)")
            tl0 = payload[i]
            i += 1
        if x & 0x30:
            if i >= end:
                raise ValueError("VP8 descriptor truncated (T/K)")
            tk = payload[i]
            i += 1
            if x & 0x20:
                tid, sync = tk >> 6, bool(tk & 0x20)
            if x & 0x10:
                keyidx = tk & 0x1F
    keyframe = start and partition == 0 and i < end and not payload[i] & 0x01
    return Vp8Descriptor(
        i - offset, start, partition, bool(b0 & 0x20), picture_id, bits, tl0, tid, sync,
        keyidx, keyframe,
    )


@dataclass(slots=True)
class Rewrite:
    """A packet to forward, with its new numbers (the fields the input lacks are -1)."""

    sequence_number: int
    picture_id: int
    tl0picidx: int
    keyidx: int


def patch(buf: bytearray, offset: int, descriptor: Vp8Descriptor, rewrite: Rewrite) -> None:
    """Write `rewrite`'s picture id, TL0PICIDX and KEYIDX into the descriptor at
    `buf[offset:]` in place (the sequence number is the RTP header's, the caller's)."""
    i = offset + 2
    bits = descriptor.picture_id_bits
    if bits == 15:
        _U16.pack_into(buf, i, 0x8000 | rewrite.picture_id)
        i += 2
    elif bits:
        buf[i] = rewrite.picture_id
        i += 1
    if descriptor.tl0picidx is not None:
        buf[i] = rewrite.tl0picidx
        i += 1
    if descriptor.keyidx is not None:
        buf[i] = (buf[i] & 0xE0) | rewrite.keyidx


class TemporalRewriter:
    """One subscriber's view of one VP8 stream: which packets to forward, renumbered.

    `rewrite()` takes the packet's source (SSRC of the layer), sequence number, marker bit
    and parsed descriptor (None for a packet with no VP8 payload, e.g. padding: dropped).
    A new source starts only on its keyframe. Feed it the Forwarder's sequence numbers or
    the publisher's: either is one sequence space per source.
    """

    def __init__(self, target: int = 3, *, window: int = 512, pictures: int = 128) -> None:
        self._target = max(0, min(3, target))
        self.current: int = self._target
        """The highest temporal layer forwarded now (moves towards `target`)."""
        self.waiting_for_keyframe = True
        self._source: int | None = None
        self._mask, self._pmask = window - 1, pictures - 1
        assert window & self._mask == 0 and pictures & self._pmask == 0, "powers of two"
        self._seq_keys = [-1] * window
        self._seq_out = [0] * window
        self._rev_keys = [-1] * window  # outgoing sequence number -> incoming
        self._rev_in = [0] * window
        self._pic_keys = [-1] * pictures
        self._pic_out = [0] * pictures
        self._pic_state = [0] * pictures
        self._seq_head = self._seq_off = 0
        self._pic_head = self._pic_off = 0
        self._pic_bits = 15
        self._head_forward = True
        self._head_marker = True
        self._tl0_off = self._key_off = 0
        self._out_seq: int | None = None  # the last outgoing numbers (for a new source)
        self._out_pic = self._out_tl0 = self._out_key = -1

    @property
    def target(self) -> int:
        return self._target

    def set_target(self, layer: int) -> None:
        """The highest temporal layer wanted (0-3): down at the next picture, up at a
        layer-sync picture or a keyframe."""
        self._target = max(0, min(3, layer))

    def restart(self) -> None:
        """Wait for a keyframe, e.g. after a pause: numbering continues after the last."""
        self.waiting_for_keyframe = True

    def source_sequence_number(self, out_sequence_number: int) -> int | None:
        """The incoming sequence number of a recently forwarded one (to answer a NACK)."""
        i = out_sequence_number & self._mask
        if self._rev_keys[i] != out_sequence_number & 0xFFFF:
            return None
        return self._rev_in[i]

    def rewrite(
        self, source: int, sequence_number: int, marker: bool, d: Vp8Descriptor | None
    ) -> Rewrite | None:
        if source != self._source or self.waiting_for_keyframe:
            if d is None or not d.keyframe:
                self.waiting_for_keyframe = True
                return None
            self._start(source, sequence_number, d)
        head = self._seq_head
        delta = (sequence_number - head) & 0xFFFF
        if delta >= 0x8000:
            delta -= 0x10000
        if delta <= 0:
            return self._late(head + delta, d)
        ext = head + delta
        if d is None or d.picture_id is None:  # padding, or no picture to group by
            if delta > 1:
                self._reserve(head + 1, ext)
            self._seq_head = ext
            if d is None:
                self._squeeze(ext, ext + 1)
                return None
            self._head_marker = marker
            return self._forward(ext, -1, d)
        old_forward, old_marker = self._head_forward, self._head_marker
        pdelta = self._picture_delta(d)
        forward: bool | None = None
        if pdelta > 0:
            forward = self._new_picture(pdelta, d)  # every packet carries its layer
        elif pdelta == 0:
            forward = old_forward
        if delta > 1:  # which picture do the missing packets belong to?
            owner: bool | None = None
            if pdelta == 0:
                owner = old_forward  # a picture's packets are contiguous
            elif pdelta == 1 and old_marker:
                # after a finished picture: padding, or the next picture's first packets
                owner = False if d.starts_picture else forward
            elif pdelta == 1 and d.starts_picture:
                owner = old_forward  # the tail of the last picture
            if owner is False:
                self._squeeze(head + 1, ext)
            else:
                self._reserve(head + 1, ext)
        self._seq_head = ext
        self._head_marker = marker
        if forward is None:  # an older picture, yet a newer packet: look it up
            return self._late_picture(ext, pdelta, d)
        if not forward:
            self._squeeze(ext, ext + 1)
            return None
        return self._forward(ext, self._pic_head - self._pic_off, d)

    # -- pictures -------------------------------------------------------------------------

    def _picture_delta(self, d: Vp8Descriptor) -> int:
        """The picture's distance from the newest one (in pictures)."""
        assert d.picture_id is not None
        bits = d.picture_id_bits
        if bits != self._pic_bits:  # the width changed (rare): count it as the next one
            self._pic_bits = bits
            self._pic_off += d.picture_id - 1 - self._pic_head
            self._pic_head = d.picture_id - 1
            self._pic_keys = [-1] * len(self._pic_keys)
            return 1
        modulus = 1 << bits
        delta = (d.picture_id - self._pic_head) & (modulus - 1)
        if delta >= modulus >> 1:
            delta -= modulus
        return delta

    def _new_picture(self, pdelta: int, d: Vp8Descriptor) -> bool:
        first = self._pic_head + 1
        pext = self._pic_head + pdelta
        off, pmask = self._pic_off, self._pmask
        for missing in range(max(first, pext - pmask), pext):  # whole pictures lost
            i = missing & pmask
            self._pic_keys[i], self._pic_out[i], self._pic_state[i] = (
                missing, missing - off, _RESERVED,
            )
        forward = self._decide(d)
        i = pext & pmask
        self._pic_keys[i] = pext
        if forward:
            self._pic_out[i], self._pic_state[i] = pext - off, _FORWARDED
        else:
            self._pic_state[i] = _DROPPED_PICTURE
            self._pic_off = off + 1
        self._pic_head, self._head_forward = pext, forward
        return forward

    def _decide(self, d: Vp8Descriptor) -> bool:
        tid = d.tid or 0
        current, target = self.current, self._target
        if d.keyframe or current > target:
            current = target
        elif current < target and d.sync and tid == current + 1:
            current = tid
        self.current = current
        return tid <= current

    def _late_picture(self, ext: int, pdelta: int, d: Vp8Descriptor) -> Rewrite | None:
        pext = self._pic_head + pdelta
        i = pext & self._pmask
        state = self._pic_state[i] if self._pic_keys[i] == pext else _DROPPED_PICTURE
        if state == _RESERVED:  # a picture lost upstream arrives: its numbers wait for it
            state = _FORWARDED if (d.tid or 0) <= self.current else _DROPPED_PICTURE
            self._pic_state[i] = state
        if state == _FORWARDED:
            return self._forward(ext, self._pic_out[i], d)
        if ext == self._seq_head:  # in sequence: squeeze it out (late ones leave a gap)
            self._squeeze(ext, ext + 1)
        return None

    # -- sequence numbers -----------------------------------------------------------------

    def _reserve(self, first: int, end: int) -> None:
        off, mask = self._seq_off, self._mask
        for s in range(max(first, end - mask), end):
            self._seq_keys[s & mask], self._seq_out[s & mask] = s, s - off

    def _squeeze(self, first: int, end: int) -> None:
        mask = self._mask
        for s in range(max(first, end - mask), end):
            self._seq_keys[s & mask], self._seq_out[s & mask] = s, _DROPPED
        self._seq_off += end - first

    def _late(self, ext: int, d: Vp8Descriptor | None) -> Rewrite | None:
        i = ext & self._mask
        if self._seq_keys[i] != ext or self._seq_out[i] == _DROPPED or d is None:
            return None
        if d.picture_id is None:
            return self._forward(ext, -1, d)
        if d.picture_id_bits != self._pic_bits:
            return None
        return self._late_picture(ext, self._picture_delta(d), d)

    def _forward(self, ext: int, pic_out: int, d: Vp8Descriptor) -> Rewrite:
        i = ext & self._mask
        if self._seq_keys[i] == ext:
            out = self._seq_out[i]  # a reserved or already sent number
        else:
            out = ext - self._seq_off
            self._seq_keys[i], self._seq_out[i] = ext, out
        seq = out & 0xFFFF
        r = seq & self._mask
        self._rev_keys[r], self._rev_in[r] = seq, ext & 0xFFFF
        tl0 = -1 if d.tl0picidx is None else (d.tl0picidx - self._tl0_off) & 0xFF
        key = -1 if d.keyidx is None else (d.keyidx - self._key_off) & 0x1F
        if out > (self._out_seq if self._out_seq is not None else out - 1):
            self._out_seq = out
            self._out_pic, self._out_tl0, self._out_key = pic_out, tl0, key
        pid = pic_out & ((1 << self._pic_bits) - 1) if pic_out >= 0 else -1
        return Rewrite(seq, pid, tl0, key)

    def _start(self, source: int, seq: int, d: Vp8Descriptor) -> None:
        """A new run: this keyframe continues the outgoing numbers at +1 (or, the very first
        time, keeps its own)."""
        first = self._out_seq is None
        self._source, self.waiting_for_keyframe = source, False
        self._seq_keys = [-1] * len(self._seq_keys)
        self._pic_keys = [-1] * len(self._pic_keys)
        self._seq_head, self._head_marker = seq - 1, True
        self._seq_off = 0 if first else seq - (self._out_seq or 0) - 1
        raw = d.picture_id if d.picture_id is not None else 0
        self._pic_bits = d.picture_id_bits or 15
        self._pic_head = raw - 1
        self._pic_off = 0 if first or self._out_pic < 0 else raw - self._out_pic - 1
        tl0, key = d.tl0picidx or 0, d.keyidx or 0
        self._tl0_off = 0 if first or self._out_tl0 < 0 else (tl0 - self._out_tl0 - 1) & 0xFF
        self._key_off = 0 if first or self._out_key < 0 else (key - self._out_key - 1) & 0x1F
        self.current = self._target
