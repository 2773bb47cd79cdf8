"""Join tokens: minted, verified, refused with a code (pure functions)."""

from __future__ import annotations

import time
from typing import cast

import jwt
import pytest

from media.ids import Role
from signalling.errors import SignalCode, SignalError
from signalling.tokens import mint, verify

SECRET = "s" * 32


def test_a_minted_token_verifies_with_role_default_grants() -> None:
    claims = verify(SECRET, mint(SECRET, room="r", identity="t1", role=Role.TUTOR), room="r")
    assert (claims.sub, claims.role, claims.grants.publish) == ("t1", Role.TUTOR, True)
    observer = verify(SECRET, mint(SECRET, room="r", identity="o", role=Role.OBSERVER))
    assert (observer.grants.publish, observer.grants.subscribe) == (False, True)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (mint("x" * 32, room="r", identity="m", role=Role.TUTOR), SignalCode.BAD_TOKEN),
        (mint(SECRET, room="r", identity="m", role=Role.TUTOR, now=time.time() - 99, ttl_s=10),
         SignalCode.TOKEN_EXPIRED),
        (mint(SECRET, room="other", identity="m", role=Role.TUTOR), SignalCode.WRONG_ROOM),
        (jwt.encode({"sub": "m", "room": "r"}, SECRET, "HS256"), SignalCode.BAD_TOKEN),
        (jwt.encode({"sub": "m", "room": "r", "iss": "liveroom", "exp": 2**40, "iat": 0,
                     "role": "admin", "grants": {"publish": True, "subscribe": True}},
                    SECRET, "HS256"), SignalCode.BAD_TOKEN),
        ("not-a-token", SignalCode.BAD_TOKEN),
    ],
)
def test_bad_tokens_are_refused_with_a_code(token: str, code: SignalCode) -> None:
    with pytest.raises(SignalError) as refused:
        verify(SECRET, token, room="r")
    assert refused.value.code is code


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "m", "room": "r", "iss": "liveroom", "exp": 2**40, "iat": 0,
                        "role": "tutor", "grants": {"publish": True, "subscribe": True}},
                       cast(str, None), "none")  # PyJWT's annotation omits alg none's None key
    with pytest.raises(SignalError):
        verify(SECRET, token)
