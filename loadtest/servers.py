"""The servers under test (a Liveroom node, Janus) and the bot processes, as child processes.

Every child is started by this module and stopped by it (stdin closed, then SIGTERM, then
SIGKILL), also when the benchmark fails or is interrupted. Janus runs in a network
namespace of its own (`unshare -n`) whose only other interface is a veth pair created
inside that namespace: Janus skips loopback interfaces when it gathers ICE candidates,
so it gets a link-local address on the veth, and its bots join the same namespace
(`nsenter`). Nothing is configured in the machine's own namespace; the namespace and its
veth pair disappear when Janus exits.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
JANUS_TEMPLATES = Path(__file__).resolve().parent / "janus"
JANUS_LIBS = Path("/usr/lib/x86_64-linux-gnu/janus")
JANUS_VETH = ("lrbj0", "lrbj1")
JANUS_ADDRESS = "169.254.77.1"  # inside Janus's private namespace only
JANUS_PORT = 8088


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the benchmark process dies."""
    import ctypes
    import signal

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _open_log(path: Path) -> Any:
    return open(path, "ab")  # handed to the child; the parent closes it after spawning


async def _spawn(*cmd: str, log: Path, **kw: Any) -> asyncio.subprocess.Process:
    """Start a child whose stderr (and stdout, unless piped) goes to `log`."""
    out = _open_log(log)
    try:
        kw.setdefault("stdout", out)
        return await asyncio.create_subprocess_exec(
            *cmd, stderr=out if kw["stdout"] is not out else asyncio.subprocess.STDOUT,
            preexec_fn=_die_with_parent, **kw,
        )
    finally:
        out.close()


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def janus_available() -> bool:
    return shutil.which("janus") is not None and (JANUS_LIBS / "plugins").is_dir()


class Child:
    """A child process with its output going to a log file (or parsed, for bots)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.pid = proc.pid

    async def stop(self, grace: float = 5.0) -> None:
        proc = self.proc
        if proc.returncode is not None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), grace)


class Bot(Child):
    """A bot process; keeps its JSON report lines (bounded)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        super().__init__(name, proc)
        self.reports: collections.deque[dict[str, Any]] = collections.deque(maxlen=4000)
        self.up = False
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            with contextlib.suppress(ValueError):
                report = json.loads(line)
                if report.get("up"):
                    self.up = True
                else:
                    self.reports.append(report)

    @property
    def last(self) -> dict[str, Any] | None:
        return self.reports[-1] if self.reports else None

    def at(self, t: float) -> dict[str, Any] | None:
        """The first report made at or after monotonic time `t`."""
        for report in self.reports:
            if report["t"] >= t:
                return report
        return None

    def before(self, t: float) -> dict[str, Any] | None:
        """The last report made at or before `t`."""
        found = None
        for report in self.reports:
            if report["t"] <= t:
                found = report
        return found

    async def stop(self, grace: float = 8.0) -> None:
        await super().stop(grace)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@dataclass
class Server:
    """A running server under test and how bots reach it."""

    setup: str
    child: Child
    url: str
    ice_address: str
    bot_prefix: list[str] = field(default_factory=list)  # e.g. nsenter into Janus's namespace
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.child.pid

    async def stop(self) -> None:
        await self.child.stop(grace=8.0)

    async def start_bot(self, name: str, args: list[str]) -> Bot:
        cmd = [*self.bot_prefix, python(), "-m", "loadtest.bot", "--setup", self.setup,
               "--url", self.url, "--ice-address", self.ice_address, *args]
        proc = await _spawn(
            *cmd, log=self._log_dir() / f"{name}.log", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, cwd=ROOT,
            env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
        )
        return Bot(name, proc)

    def _log_dir(self) -> Path:
        return Path(self.env["LIVEROOM_BENCH_LOGS"])


async def start_liveroom(
    work: Path, max_participants: int, uvloop: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """A node as its own process: `liveroom serve` on loopback, ICE pinned to 127.0.0.1."""
    port = free_port()
    secret = secrets.token_urlsafe(24)
    data = work / "liveroom-data"
    data.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "LIVEROOM_HOST": "127.0.0.1",
        "LIVEROOM_PORT": str(port),
        "LIVEROOM_ICE_HOST_ADDRESSES": "127.0.0.1",
        "LIVEROOM_TOKEN_SECRET": secret,
        "LIVEROOM_API_KEY": secrets.token_urlsafe(24),
        "LIVEROOM_DATA_DIR": str(data),
        "LIVEROOM_MAX_PARTICIPANTS": str(max_participants),
        "LIVEROOM_LOG_JSON": "true",
        "PYTHONPATH": str(ROOT),  # this checkout, even if the venv's install is older
    }
    if uvloop:
        env["LIVEROOM_UVLOOP"] = "true"
    env.update(extra_env or {})
    liveroom = ROOT / ".venv" / "bin" / "liveroom"
    cmd = [str(liveroom)] if liveroom.exists() else [python(), "-m", "signalling.cli"]
    proc = await _spawn(*cmd, "serve", log=work / "node.log", stdin=asyncio.subprocess.DEVNULL,
                        cwd=ROOT, env=env)
    server = Server(
        "liveroom", Child("node", proc), f"http://127.0.0.1:{port}", "127.0.0.1",
        env={"LIVEROOM_BENCH_SECRET": secret, "LIVEROOM_BENCH_LOGS": str(work)},
    )
    try:
        await _wait_ready(f"http://127.0.0.1:{port}/readyz", proc, 30.0)
    except BaseException:
        await server.stop()
        raise
    return server


async def _wait_ready(url: str, proc: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"server exited with {proc.returncode} while starting")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def write_janus_config(work: Path) -> Path:
    """Our own config folder: the templates filled in, only VideoRoom and HTTP loaded."""
    configs = work / "janus-conf"
    plugins, transports, empty = work / "janus-plugins", work / "janus-transports", work / "empty"
    for folder in (configs, plugins, transports, empty):
        folder.mkdir(parents=True, exist_ok=True)
    for folder, lib in ((plugins, "plugins/libjanus_videoroom.so"),
                        (transports, "transports/libjanus_http.so")):
        link = folder / Path(lib).name
        if not link.exists():
            link.symlink_to(JANUS_LIBS / lib)
    values = {
        "configs": str(configs), "plugins": str(plugins), "transports": str(transports),
        "empty": str(empty), "interface": JANUS_VETH[0], "port": str(JANUS_PORT),
        "admin_secret": secrets.token_urlsafe(16),
    }
    for template in JANUS_TEMPLATES.glob("*.jcfg"):
        text = template.read_text()
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        (configs / template.name).write_text(text)
    return configs


async def start_janus(work: Path) -> Server:
    configs = write_janus_config(work)
    a, b = JANUS_VETH
    # Runs inside the new namespace only: a veth pair whose both ends live there.
    script = (
        "set -e; ip link set lo up; "
        f"ip link add {a} type veth peer name {b}; "
        f"ip addr add {JANUS_ADDRESS}/30 dev {a}; ip link set {a} up; ip link set {b} up; "
        "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || true; "
        f'exec janus -C "{configs}/janus.jcfg" -F "{configs}"'
    )
    proc = await _spawn("unshare", "-n", "--", "sh", "-c", script, log=work / "janus.log",
                        stdin=asyncio.subprocess.DEVNULL)
    server = Server(
        "janus", Child("janus", proc), f"http://127.0.0.1:{JANUS_PORT}/janus", JANUS_ADDRESS,
        bot_prefix=["nsenter", "-t", str(proc.pid), "-n", "--"],
        env={"LIVEROOM_BENCH_LOGS": str(work)},
    )
    await asyncio.sleep(0.5)
    if proc.returncode is not None:
        raise RuntimeError(f"janus exited with {proc.returncode}; see {work / 'janus.log'}")
    return server
