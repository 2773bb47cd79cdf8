"""Reading one client message: the limits first, then one JSON parse, then the typed model.

Sans-IO and total: `read()` returns the message or a `Refusal` (with the request id to echo,
only when that id is itself valid) for every input, never raises. The size and the nesting
depth are checked on the raw text before any parse, so no input reaches a recursion limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import ValidationError

from media.ids import valid_id

from . import protocol as p
from .errors import SignalCode, SignalError

MAX_DEPTH = 16  # a valid message is one flat object: depth 1
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True, slots=True)
class Refusal:
    error: SignalError
    request_id: str | None = None


def read(text: str, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> p.ClientMessage | Refusal:
    """The client message in `text` (one WebSocket text frame), or why it is refused."""
    if _too_large(text, max_bytes):
        return Refusal(SignalError(SignalCode.MESSAGE_TOO_LARGE, f"message over {max_bytes} bytes"))
    if too_deep(text, max_depth):
        return Refusal(SignalError(SignalCode.BAD_JSON, f"JSON nested deeper than {max_depth}"))
    try:
        raw = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, over 4300 digits, NaN
        return Refusal(SignalError(SignalCode.BAD_JSON, f"not JSON: {str(exc)[:120]}"))
    if _SURROGATE_ESCAPE.search(text) and not _encodable(raw):
        return Refusal(SignalError(SignalCode.BAD_JSON, "a string is not Unicode text "
                                   "(lone surrogate escape)"))
    if not isinstance(raw, dict):
        return Refusal(SignalError(SignalCode.UNKNOWN_TYPE, "a message is a JSON object"))
    rid = raw.get("id")
    request_id = rid if valid_id(rid) else None
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in p.CLIENT_TYPES:
        shown = repr(kind)[:40] if isinstance(kind, str) else type(kind).__name__
        return Refusal(SignalError(SignalCode.UNKNOWN_TYPE, f"unknown message type {shown}"),
                       request_id)
    try:
        return p.CLIENT_MESSAGE.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(x) for x in first["loc"][1:])[:64]
        return Refusal(SignalError(SignalCode.INVALID_MESSAGE,
                                   f"{kind}: {where} {first['msg']}"[:300]), request_id)


def too_deep(text: str, limit: int) -> bool:
    """True if the JSON text nests arrays/objects deeper than `limit` (brackets inside
    strings do not count). Linear; most messages return at the first line."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text) if '"' in text else text):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _too_large(text: str, max_bytes: int) -> bool:
    if len(text) > max_bytes:
        return True
    return len(text) * 4 > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _encodable(raw: object) -> bool:
    try:
        json.dumps(raw, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
