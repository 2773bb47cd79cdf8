"""Signed join tokens: JWT (HS256) carrying room, identity, role, grants and expiry, and
optionally consent and the rollout labels (cohort, segment, channel).

Claims are strictly typed (a string is not a number, a number is not a boolean), ids follow
the one grammar of media/ids.py, and `exp` lies at most MAX_TTL_S ahead: checked when a
token is minted and again when it is verified.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import jwt
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)

from media.ids import Role

from .errors import SignalCode, SignalError
from .flags import Audience
from .protocol import MAX_TOKEN_CHARS, WireId

ISSUER = "liveroom"
ALGORITHM = "HS256"
MAX_TTL_S = 7 * 24 * 3600  # also the admin API's ttl_s bound
CLOCK_SKEW_S = 60  # a token's `exp` may lie this much beyond MAX_TTL_S (clocks differ)
MAX_NAME_CHARS = 128


def _utf8(value: str) -> str:
    value.encode("utf-8")  # a lone surrogate is a ValueError
    return value


DisplayName = Annotated[StrictStr, Field(max_length=MAX_NAME_CHARS), AfterValidator(_utf8)]


class TokenGrants(BaseModel):
    model_config = ConfigDict(extra="forbid")
    publish: StrictBool
    subscribe: StrictBool


class Consent(BaseModel):
    """Consents the token carries; for a learner, given by a guardian (docs/privacy.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    recording: bool = False


class TokenClaims(BaseModel):
    """What a join token says. `sub` is the participant's identity (a pseudonym)."""

    model_config = ConfigDict(extra="ignore")
    sub: WireId
    room: WireId
    role: Role
    name: DisplayName = ""
    grants: TokenGrants
    exp: StrictInt
    iat: StrictInt
    typ: Literal["join", "resume"] = "join"
    consent: Consent | None = None  # absent: no consent to anything
    # rollout labels the platform sets (feature flags, canary by cohort: signalling/flags.py);
    # not personal data, the id grammar; give every token of a lesson the same
    cohort: WireId | None = None
    segment: WireId | None = None
    channel: WireId | None = None

    def audience(self) -> Audience:
        return Audience(cohort=self.cohort, segment=self.segment, channel=self.channel)


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
    audience: Audience | None = None,
) -> str:
    """A signed token; ValueError (pydantic's ValidationError) if a claim breaks the rules."""
    if ttl_s > MAX_TTL_S:
        raise ValueError(f"ttl_s over {MAX_TTL_S}")
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
        cohort=audience.cohort if audience else None,
        segment=audience.segment if audience else None,
        channel=audience.channel if audience else None,
    )
    payload = claims.model_dump(mode="json", exclude_none=True)
    return jwt.encode({**payload, "iss": ISSUER}, secret, ALGORITHM)


def resume_token(secret: str, claims: TokenClaims, ttl_s: int) -> str:
    """A token that gives the same seat back after a reconnect or a node restart."""
    return mint(
        secret, room=claims.room, identity=claims.sub, role=claims.role, name=claims.name,
        grants=claims.grants, ttl_s=min(ttl_s, MAX_TTL_S), typ="resume", consent=claims.consent,
        audience=claims.audience(),
    )


def verify(secret: str, token: str, *, room: str | None = None) -> TokenClaims:
    """Check signature, issuer, expiry and claim types (and the room, if given); raise
    SignalError `bad_token`, `token_expired` or `wrong_room`."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise SignalError(SignalCode.BAD_TOKEN, f"a join token is 1-{MAX_TOKEN_CHARS} ASCII "
                          "characters")
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
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(x) for x in first["loc"])
        raise SignalError(SignalCode.BAD_TOKEN,
                          f"join token claim {where}: {first['msg']}"[:200]) from exc
    if claims.exp > time.time() + MAX_TTL_S + CLOCK_SKEW_S or claims.iat > claims.exp:
        raise SignalError(SignalCode.BAD_TOKEN, "join token expiry out of bounds")
    if room is not None and claims.room != room:
        raise SignalError(SignalCode.WRONG_ROOM, f"token is for another room, not {room}")
    return claims
