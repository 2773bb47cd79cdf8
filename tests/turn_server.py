"""A real coturn (`turnserver`, Debian's package; `scripts/setup --test` installs it) on a
free loopback port, with the TURN REST API's shared secret (`use-auth-secret`), relaying
only on 127.0.0.1 to loopback peers (the node under test)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port
from tests.redis_server import stop_process

SECRET = "turn-test-secret"


class TurnServer:
    def __init__(self, log_dir: Path) -> None:
        binary = shutil.which("turnserver")
        assert binary, "coturn is not installed (scripts/setup --test installs it)"
        self.binary = binary
        self.port = free_port()
        self.log = log_dir / "turnserver.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def tcp_url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=tcp"

    def start(self, timeout_s: float = 10.0) -> None:
        relay_low = free_port()
        self.process = subprocess.Popen(
            [self.binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
             f"--listening-port={self.port}", "--use-auth-secret",
             f"--static-auth-secret={SECRET}", "--realm=liveroom.test", "--fingerprint",
             "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli",
             "--no-multicast-peers", f"--min-port={relay_low}",
             f"--max-port={min(relay_low + 50, 65535)}", "--simple-log",
             f"--log-file={self.log}", "--verbose"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not self._listening():
            assert self.process.poll() is None, f"turnserver exited {self.process.returncode}"
            assert time.monotonic() < deadline, f"turnserver not listening after {timeout_s} s"
            time.sleep(0.05)

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def log_text(self) -> str:
        logs = sorted(self.log.parent.glob("turnserver*.log"))
        return "\n".join(p.read_text(errors="replace") for p in logs)

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process)
