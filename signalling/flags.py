"""Feature flags by cohort, segment and channel: the platform's rollout model, per room.

A flags file (`LIVEROOM_FLAGS_FILE`, JSON) carries a `version` and, per flag, a `default`
and `rules` matched in order; the first rule that matches gives the flag's value. A rule
matches when each of its `cohort`, `segment`, `channel` it names equals the room's (from
the claims of the join token that starts the room) and, if it has a `percent`, when the
room's stable bucket for that flag is below it: `sha256(flag + ":" + room)` folded into
0-9999, the same on every evaluation and on every node. A flag the file leaves out, or
whose `default` it omits, takes the node's setting of the same name, so a node with no
file behaves as its settings say.

Pure: `FlagBook.evaluate(room, audience)` returns a `RoomFlags`; only `load_flag_file`
reads a file (once, at start).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from media.ids import RoomId

from .protocol import WireId

BUCKETS = 10_000  # percentages to 0.01 %
MAX_RULES = 100
MAX_FILE_BYTES = 256 * 1024


def stable_bucket(salt: str, key: str) -> int:
    """`key`'s bucket in 0..BUCKETS-1 for `salt` (a flag name, or the canary's): the first
    8 bytes of sha256(salt:key), big-endian, modulo BUCKETS. Same value in every process."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def share_buckets(share: float) -> int:
    """How many of the BUCKETS a share in 0..1 covers (rounded; the Lua claim agrees)."""
    return int(share * BUCKETS + 0.5)


@dataclass(frozen=True)
class Audience:
    """Whom a room is for, from its join token's optional claims (rollout labels set by the
    platform, not personal data; the id grammar)."""

    cohort: str | None = None
    segment: str | None = None
    channel: str | None = None


@dataclass(frozen=True)
class RoomFlags:
    """The flags in force for one room. Each field is a node behaviour switch whose default
    is the setting of the same name (signalling/settings.py)."""

    version: str | None = None
    """The flags file's version; None: no file, the settings alone."""
    audio_only_fallback: bool = True
    """Pause a subscriber's video while its link cannot carry it (media/fallback.py)."""
    shed_video: bool = True
    """While the node is overloaded, shed this room's learner videos (media/shedding.py)."""

    def values(self) -> dict[str, bool]:
        return {k: v for k, v in asdict(self).items() if k != "version"}


FLAG_NAMES: tuple[str, ...] = tuple(f.name for f in fields(RoomFlags) if f.name != "version")


class FlagRule(BaseModel):
    """One rule: every condition it names must hold (none named: it always matches)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    cohort: WireId | None = None
    segment: WireId | None = None
    channel: WireId | None = None
    percent: float | None = Field(default=None, ge=0, le=100)
    """Of the rooms the other conditions match, this share (by the stable bucket)."""
    value: bool

    def matches(self, flag: str, room: RoomId, audience: Audience) -> bool:
        for wanted, actual in ((self.cohort, audience.cohort),
                               (self.segment, audience.segment),
                               (self.channel, audience.channel)):
            if wanted is not None and wanted != actual:
                return False
        if self.percent is None:
            return True
        return stable_bucket(flag, room) < share_buckets(self.percent / 100)


class FlagDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    default: bool | None = None
    """None: the node's setting of the flag's name."""
    rules: list[FlagRule] = Field(default_factory=list, max_length=MAX_RULES)


class FlagFile(BaseModel):
    """The flags file: `{"version": "...", "flags": {"shed_video": {...}, ...}}`."""

    model_config = ConfigDict(extra="forbid", strict=True)
    version: WireId
    flags: dict[str, FlagDefinition] = Field(default_factory=dict)

    @field_validator("flags")
    @classmethod
    def _known(cls, value: dict[str, FlagDefinition]) -> dict[str, FlagDefinition]:
        unknown = sorted(set(value) - set(FLAG_NAMES))
        if unknown:  # a misspelt flag would otherwise silently do nothing
            raise ValueError(f"unknown flag {unknown[0][:64]!r} (known: "
                             f"{', '.join(FLAG_NAMES)})")
        return value


def decide(flag: str, definition: FlagDefinition | None, setting: bool, room: RoomId,
           audience: Audience) -> bool:
    """One flag's value for one room: the first matching rule's, else the default."""
    if definition is None:
        return setting
    for rule in definition.rules:
        if rule.matches(flag, room, audience):
            return rule.value
    return setting if definition.default is None else definition.default


class FlagSettings(Protocol):
    """What of `Settings` the flags need (settings.py imports this module, not back):
    `flags_file`, and a boolean setting named like each flag."""

    @property
    def flags_file(self) -> str: ...


@dataclass(frozen=True)
class FlagBook:
    """The node's flags: the file (if any) over the settings' defaults."""

    file: FlagFile | None = None
    settings: RoomFlags = RoomFlags()
    """The settings' values of the flags (their defaults when no file says otherwise)."""

    @classmethod
    def from_settings(cls, settings: FlagSettings) -> FlagBook:
        """From a `Settings`: its flag-named values, and `flags_file` if set."""
        values: dict[str, Any] = {name: bool(getattr(settings, name)) for name in FLAG_NAMES}
        defaults = RoomFlags(**values)
        path = settings.flags_file
        return cls(load_flag_file(Path(path)) if path else None, defaults)

    @property
    def version(self) -> str | None:
        return self.file.version if self.file is not None else None

    def defines(self, flag: str) -> bool:
        return self.file is not None and flag in self.file.flags

    def evaluate(self, room: RoomId, audience: Audience = Audience()) -> RoomFlags:
        definitions = self.file.flags if self.file is not None else {}
        values = self.settings.values()
        decided: dict[str, Any] = {
            name: decide(name, definitions.get(name), values[name], room, audience)
            for name in FLAG_NAMES}
        return RoomFlags(version=self.version, **decided)


class FlagsError(ValueError):
    """The flags file cannot be used (missing, not JSON, or breaking the schema)."""


def load_flag_file(path: Path) -> FlagFile:
    """Read and check a flags file; `FlagsError` saying what is wrong, in one line."""
    try:
        raw = path.read_bytes()[:MAX_FILE_BYTES + 1]
    except OSError as exc:
        raise FlagsError(f"cannot read the flags file: {exc.strerror or exc}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise FlagsError(f"the flags file is over {MAX_FILE_BYTES} bytes")
    try:
        return FlagFile.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(x) for x in first["loc"])[:120]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise FlagsError(f"flags file {where}: {message}" if where else
                         f"flags file: {message}") from exc


def flags_info(flags: RoomFlags, audience: Audience) -> dict[str, object]:
    """The room state's `flags` (admin API) and the `room_started` log's."""
    return {"version": flags.version, "values": flags.values(),
            "audience": {k: v for k, v in asdict(audience).items() if v is not None}}

