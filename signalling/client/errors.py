"""The client's error: the node answered a request with an error (its code and message)."""

from __future__ import annotations

__all__ = ["ClientError"]


class ClientError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
