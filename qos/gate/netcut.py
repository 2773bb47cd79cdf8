"""P7 with a real link cut: the subject learner's sockets in a network namespace of its own.

The gate runs every client in its own process, so the subject cannot simply be started in
another namespace. Instead its sockets are made there: a socket belongs to the namespace of
the thread that created it, so one worker thread enters the namespace of a holder process
(`netns.Link`, joined to the gate's namespace by a veth pair) and creates the subject's
sockets, which the gate's event loop then uses like any other. The subject's WebSocket dials
through `socket_factory` (aiohttp's connector), its ICE sockets through the loop's
`create_datagram_endpoint` while `active(cut)` is the current context (the subject's
tasks inherit it), and its ICE host candidate is the veth address. The outage is
`ip link set down` of the veth: the kernel, TCP and ICE see it, as a user's machine would.

Needs root (namespaces, veth); `LinkCut.usable()` says why not otherwise, and the gate
falls back to the in-process impairment and says so in its report.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aioice.ice

from .netns import HOLDER, Link

__all__ = ["LinkCut", "active", "install"]

CLONE_NEWNET = 0x40000000
_ACTIVE: contextvars.ContextVar[LinkCut | None] = contextvars.ContextVar(
    "liveroom_gate_link_cut", default=None)


class LinkCut:
    """A namespace behind a veth pair, and sockets made in it (`start`, then `close`)."""

    def __init__(self) -> None:
        self.link = Link([sys.executable, "-c", HOLDER])
        self._fd: int | None = None
        self._pool: ThreadPoolExecutor | None = None

    @staticmethod
    def usable() -> str | None:
        """None if a real cut can be made here, else why not."""
        if os.geteuid() != 0:
            return "not root: a real link cut needs namespaces and a veth pair"
        missing = [tool for tool in ("ip", "unshare", "nsenter") if shutil.which(tool) is None]
        if missing:
            return f"missing {', '.join(missing)}"
        return None

    @property
    def node_address(self) -> str:
        """The node's end of the veth (the subject reaches the node here)."""
        return self.link.host_address

    @property
    def subject_address(self) -> str:
        return self.link.child_address

    async def start(self) -> None:
        await self.link.start()
        assert self.link.process is not None
        self._fd = os.open(f"/proc/{self.link.process.pid}/ns/net", os.O_RDONLY)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="gate-netns",
                                        initializer=self._enter)
        self.make_socket(socket.AF_INET, socket.SOCK_DGRAM).close()  # fails here if setns does

    def _enter(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(self._fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the subject's namespace failed")

    def make_socket(self, family: int, type_: int, proto: int = 0) -> socket.socket:
        """A socket of the subject's namespace (made by the thread that is in it)."""
        assert self._pool is not None, "start() first"
        return self._pool.submit(socket.socket, family, type_, proto).result(timeout=5)

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """For aiohttp's `TCPConnector(socket_factory=...)` (aiohappyeyeballs' addrinfo)."""
        family, type_, proto = addr_info[0], addr_info[1], addr_info[2]
        return self.make_socket(family, type_, proto)

    def cut(self) -> float:
        return self.link.cut()

    def restore(self) -> float:
        return self.link.restore()

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        await self.link.close()


@contextlib.contextmanager
def active(cut: LinkCut) -> Iterator[None]:
    """Within this context (and the tasks started in it) ICE sockets go to `cut`'s side."""
    token = _ACTIVE.set(cut)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def install(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Route the ICE sockets of an `active` context into its namespace, with the veth
    address as the only host candidate; returns the undo."""
    create = loop.create_datagram_endpoint
    host_addresses = aioice.ice.get_host_addresses

    async def create_datagram_endpoint(protocol_factory: Any, local_addr: Any = None,
                                       *args: Any, **kwargs: Any) -> Any:
        cut = _ACTIVE.get()
        if cut is None or local_addr is None or args or kwargs.get("sock") is not None:
            return await create(protocol_factory, local_addr, *args, **kwargs)
        family = socket.AF_INET6 if ":" in local_addr[0] else socket.AF_INET
        sock = cut.make_socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(local_addr)
        except OSError:
            sock.close()
            raise
        return await create(protocol_factory, sock=sock)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        cut = _ACTIVE.get()
        if cut is None:
            return host_addresses(use_ipv4, use_ipv6)
        return [cut.subject_address] if use_ipv4 else []

    loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign]
    aioice.ice.get_host_addresses = get_host_addresses

    def undo() -> None:
        loop.create_datagram_endpoint = create  # type: ignore[method-assign]
        aioice.ice.get_host_addresses = host_addresses

    return undo
