"""Typed identifiers of recordings. Every id that names a file or an object is checked."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import NewType

from media.ids import Kind

from .errors import RecorderCode, RecorderError

SessionId = NewType("SessionId", str)
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def checked_id(value: str) -> str:
    """`value` if it is a safe id (`[A-Za-z0-9_-]{1,64}`); refuses path tricks."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise RecorderError(RecorderCode.BAD_ID, "ids are 1-64 of A-Z a-z 0-9 _ -")
    return value


def file_safe(pseudonym: str) -> str:
    """A participant's pseudonym as a file name: itself if it is a safe id, else a digest."""
    if ID_PATTERN.fullmatch(pseudonym) and len(pseudonym) <= 48:
        return pseudonym
    return "p" + hashlib.sha256(pseudonym.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class TrackKey:
    """A recorded track: one participant's source of one kind. Never an SSRC: a reconnect,
    a re-publish or a new SSRC continues the same track."""

    participant: str  # pseudonym (the token's `sub`), never a name
    kind: Kind

    @property
    def name(self) -> str:
        return f"{file_safe(self.participant)}-{self.kind}"
