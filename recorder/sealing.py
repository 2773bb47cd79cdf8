"""Encryption at rest: a data key per session, wrapped by a key-encryption key (KEK), and
each closed segment sealed with AES-256-GCM under its own key (HKDF of the data key).

A sealed object is `MAGIC`, a 4-byte header length, the header (JSON: session, track,
sequence, first pts, last-segment flag) and a 12-byte nonce, then the ciphertext. The whole
prefix is the associated data and the segment key is derived from the header, so a segment
cannot be altered, moved to another place, another track or session; a reader that is
given a track's segments checks the sequence runs 0..n with the flag on the last only, so
a dropped last segment is refused too. Destroying the wrapped data key erases every copy.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import RecorderCode, RecorderError

MAGIC = b"LRSEG1\n"
NONCE = 12


class KeyWrapper(Protocol):
    """Wraps session data keys: the local KEK below, or a KMS (the plug-in point)."""

    def wrap(self, data_key: bytes, session: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, session: str) -> bytes: ...


class LocalKek:
    """A 256-bit KEK held by the node (`LIVEROOM_RECORDING_KEK`, or generated once)."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != 32:
            raise ValueError("the recording KEK must be 32 bytes")
        self._aead = AESGCM(kek)

    @classmethod
    def from_text(cls, text: str) -> LocalKek:
        return cls(base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4)))

    @classmethod
    def in_data_dir(cls, path: Path) -> LocalKek:
        """Read the KEK kept at `path`, creating it (mode 0600) the first time."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
        return cls.from_text(path.read_text())

    def wrap(self, data_key: bytes, session: str) -> bytes:
        nonce = secrets.token_bytes(NONCE)
        return nonce + self._aead.encrypt(nonce, data_key, b"liveroom-dk|" + session.encode())

    def unwrap(self, wrapped: bytes, session: str) -> bytes:
        try:
            return self._aead.decrypt(
                wrapped[:NONCE], wrapped[NONCE:], b"liveroom-dk|" + session.encode())
        except InvalidTag as exc:
            raise RecorderError(RecorderCode.SEGMENT_REFUSED, "data key not for this "
                                "session or KEK") from exc


@dataclass(frozen=True, slots=True)
class Header:
    session: str
    track: str
    sequence: int
    first_pts: int
    last: bool

    def encode(self) -> bytes:
        return json.dumps(
            {"v": 1, "session": self.session, "track": self.track, "seq": self.sequence,
             "first_pts": self.first_pts, "last": self.last}, separators=(",", ":"),
            sort_keys=True).encode()


def _segment_key(data_key: bytes, header: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"liveroom-seg|" + header).derive(data_key)


def seal(data_key: bytes, header: Header, plaintext: bytes) -> bytes:
    encoded = header.encode()
    prefix = MAGIC + len(encoded).to_bytes(4, "big") + encoded + secrets.token_bytes(NONCE)
    aead = AESGCM(_segment_key(data_key, encoded))
    return prefix + aead.encrypt(prefix[-NONCE:], plaintext, prefix)


def read_header(sealed: bytes) -> Header:
    if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + 4:
        raise RecorderError(RecorderCode.SEGMENT_REFUSED, "not a sealed segment")
    size = int.from_bytes(sealed[len(MAGIC):len(MAGIC) + 4], "big")
    raw = sealed[len(MAGIC) + 4:len(MAGIC) + 4 + size]
    try:
        h = json.loads(raw)
        return Header(h["session"], h["track"], h["seq"], h["first_pts"], h["last"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RecorderError(RecorderCode.SEGMENT_REFUSED, "bad segment header") from exc


def open_sealed(
    data_key: bytes, sealed: bytes, *, session: str, track: str, sequence: int
) -> tuple[Header, bytes]:
    """The header and plaintext of a sealed segment expected at (session, track, sequence);
    RecorderError(SEGMENT_REFUSED) if it is anything else or was altered."""
    header = read_header(sealed)
    if (header.session, header.track, header.sequence) != (session, track, sequence):
        raise RecorderError(RecorderCode.SEGMENT_REFUSED, f"segment {header.session}/"
                            f"{header.track}/{header.sequence} where {session}/{track}/"
                            f"{sequence} was expected")
    encoded = header.encode()
    start = len(MAGIC) + 4 + len(encoded) + NONCE
    if sealed[len(MAGIC) + 4:start - NONCE] != encoded:
        raise RecorderError(RecorderCode.SEGMENT_REFUSED, "segment header altered")
    try:
        plain = AESGCM(_segment_key(data_key, encoded)).decrypt(
            sealed[start - NONCE:start], sealed[start:], sealed[:start])
    except InvalidTag as exc:
        raise RecorderError(RecorderCode.SEGMENT_REFUSED, "segment altered or wrong key") from exc
    return header, plain


def open_track(
    data_key: bytes, sealed: list[bytes], *, session: str, track: str
) -> list[bytes]:
    """A track's segments in order, refusing a missing, reordered or dropped-last one."""
    if not sealed:
        raise RecorderError(RecorderCode.SEGMENT_REFUSED, f"track {track} has no segments")
    plains = []
    for sequence, blob in enumerate(sealed):
        header, plain = open_sealed(data_key, blob, session=session, track=track,
                                    sequence=sequence)
        if header.last != (sequence == len(sealed) - 1):
            raise RecorderError(RecorderCode.SEGMENT_REFUSED,
                                f"track {track} is truncated or has a stray last segment")
        plains.append(plain)
    return plains
