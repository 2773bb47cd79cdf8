"""A real network link (tests, and the gate's P7 with `--outage link`): a child process in a
network namespace of its own, joined to the caller's namespace by a veth pair that the
caller can cut (`ip link set down`).

The child is started as `unshare -n -- <command>` (no named `ip netns` state is left
behind: the namespace dies with the child). The host end of the veth stays in the test's
namespace, the other end is moved into the child's. Both get link-local addresses
(169.254.N.1 and 169.254.N.2 in a /30 of their own), so packets never leave the two
namespaces. Needs root (the suite runs as root in its own namespace, scripts/test).

With `router=True` the cut is one hop away from the child (a home router losing its
uplink): a second namespace (the router) sits between them, the child's veth goes to the
router and the router's uplink veth to the test's namespace; `cut()` takes the uplink down,
so the child's own interface keeps its carrier and its addresses (the child's software sees
no link change at all). Addresses: the uplink 169.254.N.1 (host) / .2 (router), the
child's side .5 (router) / .6 (child), routed both ways through the router.

The child talks JSON lines: it writes one object per line on stdout (`{"event": ...}`) and
reads commands as JSON lines on stdin. Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

_SUBNETS = itertools.count(os.getpid() % 200 + 10)  # one /30 per link in this process


def _ip(*args: str, netns_pid: int | None = None) -> None:
    command = ["ip", *args]
    if netns_pid is not None:
        command = ["nsenter", "-t", str(netns_pid), "-n", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")


HOLDER = (  # a process that only holds a namespace until told to exit
    "import json, sys, time\n"
    "print(json.dumps({'event': 'started', 't': time.monotonic()}), flush=True)\n"
    "for line in sys.stdin:\n"
    "    if 'exit' in line: break\n"
)


class Link:
    """One child in its own namespace and the veth pair to it.

    `start()` spawns the child and wires the link; `cut()` / `restore()` set the host end
    down / up; `close()` ends the child and deletes the veth (idempotent, safe after a
    failed start)."""

    def __init__(self, command: Sequence[str], env: dict[str, str] | None = None,
                 router: bool = False, wired: bool = True) -> None:
        n = next(_SUBNETS) % 250 + 1
        self.host_address = f"169.254.{n}.1"
        self.child_address = f"169.254.{n}.6" if router else f"169.254.{n}.2"
        self._n = n
        self.router: Link | None = (
            Link([sys.executable, "-c", HOLDER], wired=False) if router else None)
        self._wired = wired  # False: only the namespace (the router's; wired by its child)
        tag = f"{os.getpid() % 10000}x{n}"
        self.host_end = f"lrh{tag}"[:15]
        self.child_end = f"lrc{tag}"[:15]
        self.command = list(command)
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[dict[str, Any]] = []  # everything the child said, in order
        self.stderr: list[str] = []
        self.cut_at: float | None = None
        self.restored_at: float | None = None
        self._changed = asyncio.Event()
        self._readers: list[asyncio.Task[None]] = []
        self._veth = False

    async def start(self, timeout: float = 20.0) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "unshare", "-n", "--", *self.command, env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._readers = [asyncio.ensure_future(self._read_stdout()),
                         asyncio.ensure_future(self._read_stderr())]
        # the child says "started" once it runs inside its new namespace
        await self.wait_for(lambda line: line.get("event") == "started", timeout)
        pid = self.process.pid
        if not self._wired:
            return
        if self.router is None:
            self._wire(self.host_end, None, self.host_address, self.child_end, pid,
                       self.child_address)
            return
        await self.router.start(timeout)
        assert self.router.process is not None
        hop = self.router.process.pid
        n = self._n
        # the router's uplink to the test's namespace (the end that is cut), then the
        # child's link to the router, both routed through it
        self._wire(self.host_end, None, self.host_address, f"{self.host_end}u", hop,
                   f"169.254.{n}.2")
        self._wire(f"{self.host_end}l", hop, f"169.254.{n}.5", self.child_end, pid,
                   self.child_address)
        self._route_to_child()
        _ip("route", "add", f"169.254.{n}.0/30", "via", f"169.254.{n}.5", netns_pid=pid)
        _sysctl_forwarding(hop)

    def _route_to_child(self) -> None:
        """Through the router (set down, the uplink lost its static route)."""
        n = self._n
        _ip("route", "replace", f"169.254.{n}.4/30", "via", f"169.254.{n}.2")

    def _wire(self, near: str, near_pid: int | None, near_address: str, far: str,
              far_pid: int, far_address: str) -> None:
        """A veth pair `near` (in `near_pid`'s namespace, None: this one) - `far` (moved
        into `far_pid`'s), each end with its /30 address and up."""
        _ip("link", "add", near, "type", "veth", "peer", "name", far, netns_pid=near_pid)
        if near_pid is None:
            self._veth = True
        _ip("link", "set", far, "netns", str(far_pid), netns_pid=near_pid)
        _ip("addr", "add", f"{near_address}/30", "dev", near, netns_pid=near_pid)
        _ip("link", "set", near, "up", netns_pid=near_pid)
        _ip("link", "set", "lo", "up", netns_pid=far_pid)
        _ip("addr", "add", f"{far_address}/30", "dev", far, netns_pid=far_pid)
        _ip("link", "set", far, "up", netns_pid=far_pid)

    def cut(self) -> float:
        """Take the link down (both ends lose carrier; with a router, its uplink: the
        child's link keeps its carrier); return when, on the monotonic clock (the same
        clock as the child's: CLOCK_MONOTONIC is system-wide)."""
        _ip("link", "set", self.host_end, "down")
        self.cut_at = time.monotonic()
        return self.cut_at

    def restore(self) -> float:
        _ip("link", "set", self.host_end, "up")
        self.restored_at = time.monotonic()
        if self.router is not None:
            self._route_to_child()
        return self.restored_at

    async def send(self, **command: Any) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await asyncio.wait_for(self.process.stdin.drain(), 5)

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
        after: int = 0,
    ) -> dict[str, Any]:
        """The first line (from index `after`) that matches; fails if the child exits."""
        async with asyncio.timeout(timeout):
            while True:
                for line in self.lines[after:]:
                    if predicate(line):
                        return line
                if self.process is not None and self.process.returncode is not None:
                    raise RuntimeError(f"child exited {self.process.returncode}: "
                                       + "".join(self.stderr[-20:]))
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.2)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == name]

    async def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for raw in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(raw))
                self._changed.set()
        self._changed.set()

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for raw in self.process.stderr:
            self.stderr.append(raw.decode(errors="replace"))
            del self.stderr[:-200]

    async def close(self, timeout: float = 5.0) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(Exception):
                await self.send(cmd="exit")
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
                await asyncio.wait_for(process.wait(), timeout)
        for reader in self._readers:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._readers = []
        if self._veth:  # the child end died with the namespace; the host end may remain
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _ip("link", "del", self.host_end)
            self._veth = False
        if self.router is not None:
            await self.router.close(timeout)


def _sysctl_forwarding(pid: int) -> None:
    """Let the namespace of `pid` forward IPv4 (a router)."""
    command = ["nsenter", "-t", str(pid), "-n", "--", "sysctl", "-q", "-w",
               "net.ipv4.ip_forward=1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
