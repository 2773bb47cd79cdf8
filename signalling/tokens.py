"""Signed join tokens: JWT (HS256) carrying room, identity, role, grants and expiry."""

from __future__ import annotations

import time
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from media.ids import Role

from .errors import SignalCode, SignalError

ISSUER = "liveroom"
ALGORITHM = "HS256"


class TokenGrants(BaseModel):
    model_config = ConfigDict(extra="forbid")
    publish: bool
    subscribe: bool


class Consent(BaseModel):
    """Consents the token carries; for a learner, given by a guardian (docs/privacy.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    recording: bool = False


class TokenClaims(BaseModel):
    """What a join token says. `sub` is the participant's identity (a pseudonym)."""

    model_config = ConfigDict(extra="ignore")
    sub: str
    room: str
    role: Role
    name: str = ""
    grants: TokenGrants
    exp: int
    iat: int
    typ: Literal["join", "resume"] = "join"
    consent: Consent | None = None  # absent: no consent to anything


def default_grants(role: Role) -> TokenGrants:
    publishes = role in (Role.TUTOR, Role.LEARNER)
    return TokenGrants(publish=publishes, subscribe=True)


def mint(
    secret: str,
    *,
    room: str,
    identity: str,
    role: Role,
    name: str = "",
    grants: TokenGrants | None = None,
    ttl_s: int = 3600,
    now: float | None = None,
    typ: Literal["join", "resume"] = "join",
    consent: Consent | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims = TokenClaims(
        sub=identity,
        room=room,
        role=role,
        name=name or identity,
        grants=grants or default_grants(role),
        exp=issued + ttl_s,
        iat=issued,
        typ=typ,
        consent=consent,
    )
    payload = claims.model_dump(mode="json", exclude_none=True)
    return jwt.encode({**payload, "iss": ISSUER}, secret, ALGORITHM)


def resume_token(secret: str, claims: TokenClaims, ttl_s: int) -> str:
    """A token that gives the same seat back after a reconnect or a node restart."""
    return mint(
        secret, room=claims.room, identity=claims.sub, role=claims.role, name=claims.name,
        grants=claims.grants, ttl_s=ttl_s, typ="resume", consent=claims.consent,
    )


def verify(secret: str, token: str, *, room: str | None = None) -> TokenClaims:
    """Check signature, issuer and expiry (and the room, if given); raise SignalError."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise SignalError(SignalCode.TOKEN_EXPIRED, "join token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise SignalError(SignalCode.BAD_TOKEN, f"join token rejected: {exc}") from exc
    try:
        claims = TokenClaims.model_validate(payload)
    except ValidationError as exc:
        raise SignalError(SignalCode.BAD_TOKEN, "join token lacks required claims") from exc
    if room is not None and claims.room != room:
        raise SignalError(SignalCode.WRONG_ROOM, f"token is for another room, not {room}")
    return claims
