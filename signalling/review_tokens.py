"""Reviewer tokens: JWT (HS256, the node's token secret) for one recorded session.

A reviewer token says who reviews (`sub`, a pseudonym), which session (`session`) and
until when (`exp`, at most MAX_REVIEW_TTL_S ahead). Its `typ` is `review`, which a join
token never is, so it cannot join a room, and a join token cannot open a replay.
"""

from __future__ import annotations

import time
from typing import Literal

import jwt
from pydantic import BaseModel, ConfigDict, StrictInt, ValidationError

from media.ids import Role

from .errors import SignalCode, SignalError
from .protocol import MAX_TOKEN_CHARS, WireId
from .tokens import ALGORITHM, CLOCK_SKEW_S, ISSUER

DEFAULT_REVIEW_TTL_S = 30 * 60
MAX_REVIEW_TTL_S = 4 * 3600  # short: a review sitting, not a standing grant


class ReviewClaims(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sub: WireId
    role: Role
    session: WireId
    typ: Literal["review"]
    exp: StrictInt
    iat: StrictInt


def mint_review(secret: str, *, session: str, identity: str,
                ttl_s: int = DEFAULT_REVIEW_TTL_S, now: float | None = None) -> str:
    """A reviewer's token for `session`; ValueError if a claim breaks the rules."""
    if not 10 <= ttl_s <= MAX_REVIEW_TTL_S:
        raise ValueError(f"ttl_s must be 10..{MAX_REVIEW_TTL_S}")
    issued = int(time.time() if now is None else now)
    claims = ReviewClaims(sub=identity, role=Role.REVIEWER, session=session, typ="review",
                          exp=issued + ttl_s, iat=issued)
    return jwt.encode({**claims.model_dump(mode="json"), "iss": ISSUER}, secret, ALGORITHM)


def verify_review(secret: str, token: str, *, session: str) -> ReviewClaims:
    """The claims of a valid reviewer token for `session`; SignalError `bad_token`,
    `token_expired`, `not_reviewer` or `wrong_session` otherwise."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise SignalError(SignalCode.BAD_TOKEN, "a reviewer token is 1-"
                          f"{MAX_TOKEN_CHARS} ASCII characters")
    try:
        payload = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                             options={"require": ["exp", "iat", "sub", "iss"]})
    except jwt.ExpiredSignatureError as exc:
        raise SignalError(SignalCode.TOKEN_EXPIRED, "reviewer token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise SignalError(SignalCode.BAD_TOKEN, f"token rejected: {exc}") from exc
    if payload.get("typ") != "review" or payload.get("role") != Role.REVIEWER.value:
        raise SignalError(SignalCode.NOT_REVIEWER, "not a reviewer token")
    try:
        claims = ReviewClaims.model_validate(payload)
    except ValidationError as exc:
        raise SignalError(SignalCode.BAD_TOKEN, "reviewer token claims are malformed") from exc
    if claims.exp > time.time() + MAX_REVIEW_TTL_S + CLOCK_SKEW_S or claims.iat > claims.exp:
        raise SignalError(SignalCode.BAD_TOKEN, "reviewer token expiry out of bounds")
    if claims.session != session:
        raise SignalError(SignalCode.WRONG_SESSION, "token is for another session")
    return claims
