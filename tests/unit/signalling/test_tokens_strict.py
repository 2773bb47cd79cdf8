"""Signed claims are strictly typed and bounded (issue 19, defect 7 and the token limit)."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import ValidationError

from media.ids import Role
from signalling.errors import SignalCode, SignalError
from signalling.protocol import MAX_TOKEN_CHARS
from signalling.tokens import MAX_TTL_S, TokenGrants, mint, verify

SECRET = "s" * 32


class FromNow:
    """An `exp` relative to the time the test runs (parameters are built at collection,
    which may be minutes earlier on a busy machine), in the given type."""

    def __init__(self, offset: int, kind: type = int) -> None:
        self.offset, self.kind = offset, kind

    def __repr__(self) -> str:
        return f"now+{self.offset} as {self.kind.__name__}"


def signed(**changes: object) -> str:
    now = int(time.time())
    changes = {k: v.kind(now + v.offset) if isinstance(v, FromNow) else v
               for k, v in changes.items()}
    claims: dict[str, object] = {
        "sub": "learner-3", "room": "r", "role": "learner", "name": "L",
        "grants": {"publish": True, "subscribe": True}, "iat": now, "exp": now + 600,
        "iss": "liveroom",
    }
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not ...}, SECRET, "HS256")


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": FromNow(600, str)},  # PyJWT alone takes int("...")
        {"exp": 10**30},
        {"exp": FromNow(MAX_TTL_S + 3600)},
        {"exp": FromNow(600, float)},
        {"iat": "0"},
        {"sub": ""},
        {"sub": "../x"},
        {"sub": "x" * 65},
        {"room": "a/b"},
        {"grants": {"publish": "yes", "subscribe": 1}},
        {"grants": {"publish": True, "subscribe": True, "admin": True}},
        {"name": "n" * 129},
        {"name": 7},
        {"role": "admin"},
        {"typ": "admin"},
    ],
)
def test_loosely_typed_or_unbounded_claims_are_bad_tokens(changes: dict[str, object]) -> None:
    with pytest.raises(SignalError) as refused:
        verify(SECRET, signed(**changes))
    assert refused.value.code is SignalCode.BAD_TOKEN, changes


def test_name_is_optional_and_typ_defaults_to_join() -> None:
    claims = verify(SECRET, signed(name=..., typ=...), room="r")
    assert (claims.name, claims.typ, claims.sub) == ("", "join", "learner-3")


@pytest.mark.parametrize("token", ["", "x" * (MAX_TOKEN_CHARS + 1), "é.é.é"])
def test_tokens_over_the_length_limit_or_not_ascii_are_bad_tokens(token: str) -> None:
    # the 4,096-character limit used to answer invalid_message/4000, not bad_token/4001
    with pytest.raises(SignalError) as refused:
        verify(SECRET, token)
    assert refused.value.code is SignalCode.BAD_TOKEN


@pytest.mark.parametrize("identity", ["", "a/b", "x" * 65, "a b"])
def test_mint_refuses_identities_outside_the_grammar(identity: str) -> None:
    with pytest.raises(ValidationError):
        mint(SECRET, room="r", identity=identity, role=Role.LEARNER)
    with pytest.raises(ValidationError):
        mint(SECRET, room=identity or "..", identity="ok", role=Role.LEARNER)


def test_mint_refuses_a_ttl_over_the_bound_and_grants_must_be_booleans() -> None:
    with pytest.raises(ValueError):
        mint(SECRET, room="r", identity="t", role=Role.TUTOR, ttl_s=MAX_TTL_S + 1)
    with pytest.raises(ValidationError):
        TokenGrants.model_validate({"publish": 1, "subscribe": True})
