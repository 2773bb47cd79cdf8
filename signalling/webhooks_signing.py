"""Signing webhook deliveries, and the receiver's check (pure: time is passed in).

A delivery carries `Liveroom-Webhook-Timestamp` (unix seconds) and
`Liveroom-Webhook-Signature: v1=<hex>` (one or more, comma-separated, so a receiver may
hold an old and a new secret while they rotate), the HMAC-SHA256 of
`<timestamp>.<body>` under the shared secret, as Stripe and LiveKit sign theirs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum

from media.errors import CodedError

TIMESTAMP_HEADER = "Liveroom-Webhook-Timestamp"
SIGNATURE_HEADER = "Liveroom-Webhook-Signature"
ID_HEADER = "Liveroom-Webhook-Id"  # the event's id, also in the body (for logs; not signed)
TYPE_HEADER = "Liveroom-Webhook-Type"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300.0


class SignatureCode(StrEnum):
    MISSING_HEADER = "missing_header"
    BAD_TIMESTAMP = "bad_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_SIGNATURE = "bad_signature"


class SignatureError(CodedError):
    """A delivery that must not be trusted. Raised on the receiver's side only (the node
    never sends this on its wire), hence apart from SignalError."""

    code: SignatureCode

    def __init__(self, code: SignatureCode, message: str) -> None:
        super().__init__(code, message)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The signing headers of one attempt made at wall time `now`."""
    timestamp = int(now)
    return {TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: f"{SCHEME}={signature(secret, timestamp, body)}"}


def verify(secret: str, body: bytes, headers: Mapping[str, str], now: float,
           tolerance: float = DEFAULT_TOLERANCE_S) -> None:
    """Check a delivery as received (the raw body, before any JSON parsing). Returns if it
    is genuine and its timestamp within `tolerance` s of `now`; raises SignatureError."""
    lower = {k.lower(): v for k, v in headers.items()}
    raw_timestamp = lower.get(TIMESTAMP_HEADER.lower())
    raw_signatures = lower.get(SIGNATURE_HEADER.lower())
    if raw_timestamp is None or raw_signatures is None:
        raise SignatureError(SignatureCode.MISSING_HEADER,
                             f"expected {TIMESTAMP_HEADER} and {SIGNATURE_HEADER}")
    try:
        timestamp = int(raw_timestamp.strip())
    except ValueError:
        raise SignatureError(SignatureCode.BAD_TIMESTAMP, "the timestamp is not an "
                             "integer") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError(SignatureCode.STALE_TIMESTAMP,
                             f"the timestamp is {now - timestamp:.0f} s off (a replay?)")
    expected = signature(secret, timestamp, body)
    for part in raw_signatures.split(","):
        scheme, _, value = part.strip().partition("=")
        if scheme == SCHEME and hmac.compare_digest(value.strip(), expected):
            return
    raise SignatureError(SignatureCode.BAD_SIGNATURE, "no signature matches the body")
