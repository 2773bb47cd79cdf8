"""The client's error: the node answered a request with an error (its code and message)."""

from __future__ import annotations

from media.errors import CodedError

__all__ = ["ClientError"]


class ClientError(CodedError):
    """The node's `error` reply: `code` as docs/protocol.md lists it, and the retry advice
    it gave (`retry_after_s`, with `node_overloaded`), or where to go (`url`, with
    `wrong_node`)."""

    def __init__(self, code: str, message: str, retry_after_s: float | None = None,
                 url: str | None = None) -> None:
        super().__init__(code, message)
        self.retry_after_s = retry_after_s
        self.url = url
