"""`liveroom drain`: ask a node to drain (`POST /v1/node/drain`), optionally wait until it
has exited. docs/operations.md, "Blue/green"."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from .settings import Settings

POLL_S = 0.5
EXIT_GRACE_S = 30.0  # --wait: how long past the deadline the node may take to exit


def _call(method: str, url: str, api_key: str, body: dict[str, Any] | None = None,
          timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _line(status: dict[str, Any]) -> str:
    return (f"node {status.get('node')}: {status.get('state')}, {status.get('rooms')} rooms "
            f"left, {status.get('moved')} moved, {status.get('cut')} cut")


def drain(settings: Settings, url: str | None, deadline_s: float | None, wait: bool) -> int:
    """0 once the node drains (with `wait`: once it has exited), 1 if it refused or did
    not exit in time, 2 if it could not be reached."""
    base = (url or settings.base_url()).rstrip("/")
    api_key = settings.api_key or settings.resolved_api_key()
    body = {} if deadline_s is None else {"deadline_s": deadline_s}
    try:
        status, reply = _call("POST", f"{base}/v1/node/drain", api_key, body)
    except (OSError, ValueError) as exc:
        print(f"liveroom: cannot reach {base}: {exc}", file=sys.stderr)
        return 2
    if status != 202:
        print(f"liveroom: {base} refused the drain ({status}): "
              f"{reply.get('error', reply)}", file=sys.stderr)
        return 1
    print(f"draining {base}; " + _line(reply))
    if not wait:
        return 0
    started = time.monotonic()
    bound = started + float(reply.get("deadline_s") or 0.0) + EXIT_GRACE_S
    while time.monotonic() < bound:
        time.sleep(POLL_S)
        try:
            _, reply = _call("GET", f"{base}/v1/node", api_key, timeout=2.0)
        except (OSError, ValueError):  # it stopped listening: it has exited (or is exiting)
            print(f"{base} has stopped listening (it exits), "
                  f"{time.monotonic() - started:.1f} s after the drain")
            return 0
        print(_line(reply))
    print(f"liveroom: {base} still answers {bound - started:.0f} s after the drain",
          file=sys.stderr)
    return 1
