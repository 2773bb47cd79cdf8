"""Reviewer tokens: minted for one session, refused for anything else."""

from __future__ import annotations

import time

import jwt
import pytest

from media.ids import Role
from signalling.errors import SignalCode, SignalError
from signalling.review_tokens import MAX_REVIEW_TTL_S, mint_review, verify_review
from signalling.tokens import mint

SECRET = "s" * 32
SESSION = "20260101T120000-0a1b2c3d"


def refused(token: str, session: str = SESSION, secret: str = SECRET) -> SignalCode:
    with pytest.raises(SignalError) as info:
        verify_review(secret, token, session=session)
    return SignalCode(info.value.code)


def test_a_reviewer_token_opens_its_session_only() -> None:
    token = mint_review(SECRET, session=SESSION, identity="rev-1")
    claims = verify_review(SECRET, token, session=SESSION)
    assert (claims.sub, claims.role, claims.session) == ("rev-1", Role.REVIEWER, SESSION)
    assert refused(token, session="20260101T120000-ffffffff") is SignalCode.WRONG_SESSION


def test_expired_forged_and_join_tokens_are_refused() -> None:
    old = mint_review(SECRET, session=SESSION, identity="rev-1", ttl_s=60,
                      now=time.time() - 3600)
    assert refused(old) is SignalCode.TOKEN_EXPIRED
    good = mint_review(SECRET, session=SESSION, identity="rev-1")
    assert refused(good, secret="x" * 32) is SignalCode.BAD_TOKEN
    join = mint(SECRET, room="r1", identity="t1", role=Role.TUTOR)
    assert refused(join) is SignalCode.NOT_REVIEWER
    join_reviewer = mint(SECRET, room="r1", identity="r1", role=Role.REVIEWER)
    assert refused(join_reviewer) is SignalCode.NOT_REVIEWER
    now = int(time.time())
    tutor = jwt.encode({"sub": "t1", "role": "tutor", "session": SESSION, "typ": "review",
                        "exp": now + 60, "iat": now, "iss": "liveroom"}, SECRET, "HS256")
    assert refused(tutor) is SignalCode.NOT_REVIEWER
    assert refused("") is SignalCode.BAD_TOKEN
    assert refused("ü" * 10) is SignalCode.BAD_TOKEN


def test_the_expiry_is_short_and_bounded() -> None:
    with pytest.raises(ValueError):
        mint_review(SECRET, session=SESSION, identity="rev-1", ttl_s=MAX_REVIEW_TTL_S + 1)
    now = int(time.time())
    far = jwt.encode({"sub": "r", "role": "reviewer", "session": SESSION, "typ": "review",
                      "exp": now + 30 * 24 * 3600, "iat": now, "iss": "liveroom"},
                     SECRET, "HS256")
    assert refused(far) is SignalCode.BAD_TOKEN


def test_a_session_id_with_a_path_trick_cannot_be_minted() -> None:
    with pytest.raises(ValueError):
        mint_review(SECRET, session="../etc", identity="rev-1")
