"""Webhook signatures: a genuine delivery verifies; a tampered body, a wrong secret, a
stale or future timestamp, a missing or malformed header are refused with their code."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from signalling.webhooks_signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureCode,
    SignatureError,
    sign,
    verify,
)

SECRET = "whsec-0123456789abcdef"
BODY = b'{"id":"3f0c","type":"room_started","created_at":1700000000.0,"data":{"room":"r"}}'
NOW = 1_700_000_000.4


def refused(body: bytes, headers: dict[str, str], *, secret: str = SECRET,
            now: float = NOW, tolerance: float = 300) -> SignatureCode:
    with pytest.raises(SignatureError) as info:
        verify(secret, body, headers, now, tolerance)
    return SignatureCode(info.value.code)


def test_a_signed_delivery_verifies_and_the_signature_is_hmac_sha256_of_timestamp_dot_body(
) -> None:
    headers = sign(SECRET, BODY, NOW)
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"v1={expected}"
    verify(SECRET, BODY, headers, NOW)
    verify(SECRET, BODY, {k.lower(): v for k, v in headers.items()}, NOW + 299)


def test_a_tampered_body_fails_verification() -> None:
    headers = sign(SECRET, BODY, NOW)
    tampered = BODY.replace(b'"room":"r"', b'"room":"s"')
    assert refused(tampered, headers) is SignatureCode.BAD_SIGNATURE
    assert refused(BODY + b" ", headers) is SignatureCode.BAD_SIGNATURE


def test_a_wrong_secret_fails_verification() -> None:
    headers = sign(SECRET, BODY, NOW)
    assert refused(BODY, headers, secret=SECRET + "x") is SignatureCode.BAD_SIGNATURE


def test_a_stale_or_future_timestamp_fails_even_with_a_valid_signature() -> None:
    old = sign(SECRET, BODY, NOW - 301)
    assert refused(BODY, old) is SignatureCode.STALE_TIMESTAMP
    future = sign(SECRET, BODY, NOW + 400)
    assert refused(BODY, future) is SignatureCode.STALE_TIMESTAMP
    assert refused(BODY, old, tolerance=10) is SignatureCode.STALE_TIMESTAMP


def test_a_replayed_signature_under_a_new_timestamp_fails() -> None:
    headers = sign(SECRET, BODY, NOW - 1000)
    replayed = {**headers, TIMESTAMP_HEADER: str(int(NOW))}
    assert refused(BODY, replayed) is SignatureCode.BAD_SIGNATURE


def test_missing_or_malformed_headers_are_refused() -> None:
    headers = sign(SECRET, BODY, NOW)
    assert refused(BODY, {}) is SignatureCode.MISSING_HEADER
    assert refused(BODY, {TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER]}) is (
        SignatureCode.MISSING_HEADER)
    assert refused(BODY, {**headers, TIMESTAMP_HEADER: "soon"}) is SignatureCode.BAD_TIMESTAMP
    digest = headers[SIGNATURE_HEADER].removeprefix("v1=")
    assert refused(BODY, {**headers, SIGNATURE_HEADER: f"v0={digest}"}) is (
        SignatureCode.BAD_SIGNATURE)


def test_any_of_several_signatures_may_match_while_secrets_rotate() -> None:
    headers = sign(SECRET, BODY, NOW)
    old = sign("old-secret", BODY, NOW)[SIGNATURE_HEADER]
    both = {**headers, SIGNATURE_HEADER: f"{old}, {headers[SIGNATURE_HEADER]}"}
    verify(SECRET, BODY, both, NOW)
    verify("old-secret", BODY, both, NOW)
    assert refused(BODY, both, secret="third") is SignatureCode.BAD_SIGNATURE


def docs_snippet() -> Callable[..., dict[str, Any]]:
    """`verify_liveroom` from docs/webhooks.md, as a receiver would copy it."""
    text = (Path(__file__).parents[3] / "docs" / "webhooks.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (code,) = [b for b in blocks if "def verify_liveroom" in b]
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), scope)
    return scope["verify_liveroom"]  # type: ignore[no-any-return]


def test_the_docs_verification_snippet_accepts_what_the_node_signs_and_refuses_the_rest(
) -> None:
    verify_liveroom = docs_snippet()
    headers = sign(SECRET, BODY, NOW)
    assert verify_liveroom(SECRET, BODY, headers, now=NOW)["type"] == "room_started"
    for body, secret, now in ((BODY.replace(b'"r"', b'"s"'), SECRET, NOW),
                              (BODY, "wrong-secret", NOW), (BODY, SECRET, NOW + 301)):
        with pytest.raises(ValueError):
            verify_liveroom(secret, body, headers, now=now)
    with pytest.raises(ValueError):
        verify_liveroom(SECRET, BODY, {}, now=NOW)
