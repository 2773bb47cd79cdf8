"""HTTP Range requests (RFC 9110 section 14): one byte range of a body of known size."""

from __future__ import annotations


class Unsatisfiable(ValueError):
    """The range lies outside the body: 416, `Content-Range: bytes */size`."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a `Range` header over `size` bytes; None for the whole
    body (no header, another unit, several ranges or a malformed one: RFC 9110 lets a
    server ignore those); Unsatisfiable if the one range asked for is outside."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    if not dash or not (first_s.isdigit() or first_s == "") or not (
            last_s.isdigit() or last_s == ""):
        return None
    if first_s == "":
        if last_s == "":
            return None
        suffix = int(last_s)  # the last `suffix` bytes
        if suffix == 0 or size == 0:
            raise Unsatisfiable(header)
        return max(0, size - suffix), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return None
    if first >= size:
        raise Unsatisfiable(header)
    return first, min(last, size - 1)
