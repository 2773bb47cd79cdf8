"""`liveroom doctor`: what a node needs on this machine, checked, in plain words.

Checks the listener port, the ICE host addresses and who can reach them, the data dir and
its secrets, the clock, recording storage, and the aiortc internals. The Redis directory
(LIVEROOM_REDIS_URL) has no check here yet: `/readyz` reports it unreachable.

Each check returns a `Finding` (ok, warn or fail, and one sentence a new operator can act
on). Nothing here sends a packet: addresses are checked by binding, not by talking.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from .settings import Settings


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str
    text: str

    def line(self) -> str:
        return f"{self.level.value:4} {self.check}: {self.text}"


def check_listener(settings: Settings) -> Finding:
    """The HTTP/WebSocket port can be bound on the configured host."""
    where = f"{settings.host}:{settings.port}"
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            cause = {
                errno.EADDRINUSE: "the port is in use by another process",
                errno.EADDRNOTAVAIL: "this machine has no such address",
                errno.EACCES: "ports below 1024 need privileges",
            }.get(exc.errno or 0, exc.strerror or str(exc))
            return Finding(Level.FAIL, "listener",
                           f"cannot listen on {where}: {cause} (LIVEROOM_HOST, LIVEROOM_PORT)")
    return Finding(Level.OK, "listener", f"{where} is free")


def _bindable_udp(address: str) -> str | None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def check_ice_addresses(settings: Settings) -> list[Finding]:
    """The addresses ICE will offer: each on this machine, and reachable by the clients."""
    import aioice.ice

    addresses = list(settings.ice_host_addresses) or aioice.ice.get_host_addresses(
        use_ipv4=True, use_ipv6=True)
    if not addresses:
        return [Finding(Level.FAIL, "ice", "no address to offer ICE candidates on: this "
                        "machine has no interface but loopback; set LIVEROOM_ICE_HOST_ADDRESSES")]
    found = []
    for address in addresses:
        problem = _bindable_udp(address)
        if problem:
            found.append(Finding(Level.FAIL, "ice", f"{address} cannot take UDP ({problem}): "
                                 "fix LIVEROOM_ICE_HOST_ADDRESSES"))
    usable = [a for a in addresses if not _bindable_udp(a)]
    scopes = {a: ipaddress.ip_address(a.split("%")[0]) for a in usable}
    public = [a for a, ip in scopes.items() if ip.is_global]
    if usable and settings.announced_address:
        found.append(Finding(Level.OK, "ice", f"candidates on {', '.join(usable)}, announced "
                             f"as {settings.announced_address}"))
    elif usable and not public:
        reach = "this machine only" if all(ip.is_loopback for ip in scopes.values()) else (
            "this private network only")
        found.append(Finding(Level.WARN, "ice", f"candidates on {', '.join(usable)} reach "
                             f"{reach}: for clients elsewhere set LIVEROOM_ANNOUNCED_ADDRESS "
                             "(1:1 NAT) or LIVEROOM_ICE_SERVERS (TURN)"))
    elif usable:
        found.append(Finding(Level.OK, "ice", f"candidates on {', '.join(usable)}"))
    return found


def check_data_dir(settings: Settings) -> list[Finding]:
    """The data directory is writable; the secrets in it are private to this user."""
    path = settings.data_dir
    if path.exists() and not os.access(path, os.W_OK):
        return [Finding(Level.FAIL, "data", f"{path} is not writable (LIVEROOM_DATA_DIR)")]
    if not path.exists() and not os.access(_existing_parent(path), os.W_OK):
        return [Finding(Level.FAIL, "data", f"{path} cannot be created (LIVEROOM_DATA_DIR)")]
    found = [Finding(Level.OK, "data", f"{path.resolve()} is writable")]
    for name, setting in (("token-secret", "LIVEROOM_TOKEN_SECRET"),
                          ("api-key", "LIVEROOM_API_KEY")):
        secret = path / name
        if secret.exists() and stat.S_IMODE(secret.stat().st_mode) & 0o077:
            found.append(Finding(Level.FAIL, "data", f"{secret} is readable by others: "
                                 f"chmod 600 it (or set {setting})"))
    free = shutil.disk_usage(_existing_parent(path)).free
    if free < 1 << 30:
        found.append(Finding(Level.WARN, "data", f"only {free >> 20} MiB free under {path}"))
    return found


def _existing_parent(path: Path) -> Path:
    path = path.resolve()
    while not path.exists():
        path = path.parent
    return path


def check_clock(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> Finding:
    """Join tokens carry expiry times: a clock far off refuses good links."""
    if shutil.which("timedatectl") is None:
        return Finding(Level.WARN, "clock", "cannot tell whether the clock is synchronised "
                       "(no timedatectl); tokens expire by it, keep it in sync (NTP)")
    try:
        out = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                  capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError) as exc:
        return Finding(Level.WARN, "clock", f"timedatectl failed ({exc})")
    if out.stdout.strip() == "yes":
        return Finding(Level.OK, "clock", "synchronised (NTP)")
    return Finding(Level.WARN, "clock", "not synchronised: tokens expire by this clock, "
                   "enable NTP (timedatectl set-ntp true)")


async def check_aiortc() -> Finding:
    from media.aiortc_compat import AiortcCompatError, self_check

    try:
        await self_check()
    except AiortcCompatError as exc:
        return Finding(Level.FAIL, "aiortc", f"{exc}: reinstall with scripts/setup")
    return Finding(Level.OK, "aiortc", "the internals the SFU forwards through are present")


def check_recording_storage(settings: Settings) -> Finding:
    """Where recordings go: the data dir (checked above) or an S3 bucket, configured."""
    recording = settings.recording
    if recording.storage != "s3":
        return Finding(Level.OK, "recording", f"policy {recording.policy.value}, stored in the "
                       "data dir")
    missing = [name for name, value in (("LIVEROOM_RECORDING_S3_ENDPOINT", recording.s3_endpoint),
                                        ("LIVEROOM_RECORDING_S3_BUCKET", recording.s3_bucket))
               if not value]
    if missing:
        return Finding(Level.FAIL, "recording", f"storage is s3 but {' and '.join(missing)} "
                       "is not set")
    if not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
        return Finding(Level.WARN, "recording", "storage is s3 and AWS_ACCESS_KEY_ID / "
                       "AWS_SECRET_ACCESS_KEY are not set: credentials must come from elsewhere "
                       "(a profile or an instance role)")
    return Finding(Level.OK, "recording", f"s3 bucket {recording.s3_bucket} at "
                   f"{recording.s3_endpoint} (not contacted: the node checks it when it uploads)")


async def check_redis(settings: Settings) -> Finding:
    """The room directory: embedded (one node), or a Redis that answers PING in time."""
    if not settings.redis_url:
        return Finding(Level.OK, "directory", "embedded (one node, no Redis)")
    import redis.asyncio as aioredis

    where = settings.redis_url.rpartition("@")[2]  # never print a password
    client = aioredis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout_s,
                               socket_connect_timeout=settings.redis_timeout_s)
    try:
        await client.ping()
    except Exception as exc:  # connection refused, timeout, auth: said in words below
        return Finding(Level.FAIL, "directory", f"Redis at {where} does not answer "
                       f"({type(exc).__name__}: {exc}) (LIVEROOM_REDIS_URL)")
    finally:
        await client.aclose()
    return Finding(Level.OK, "directory", f"Redis at {where} answers")


def run(settings: Settings) -> list[Finding]:
    findings = [check_listener(settings), *check_ice_addresses(settings),
                *check_data_dir(settings), check_clock(), check_recording_storage(settings)]

    async def checks() -> list[Finding]:
        return [await check_redis(settings), await check_aiortc()]

    findings.extend(asyncio.run(checks()))
    return findings


def report(findings: list[Finding]) -> int:
    for finding in findings:
        print(finding.line())
    failed = sum(f.level is Level.FAIL for f in findings)
    print(f"{failed} problem(s) found" if failed else "nothing wrong found")
    return 1 if failed else 0
