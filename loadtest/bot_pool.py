"""The locust side of the classroom bots: one bot process per room (and per few seats).

Runs inside a locust process, under gevent (locust patches `subprocess` and sockets, so a
pipe read only blocks its own greenlet). A `BotPool` starts `loadtest.classroom_bot`
processes as seats need them, at most `seats_per_bot` seats each, sends them commands and
hands each event line to the seat's handler from a reader greenlet per process. Every
process is stopped by the pool (stdin closed, then SIGTERM, then SIGKILL), and dies with
its locust process (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import gevent
from gevent.event import Event
from gevent.lock import Semaphore

from .servers import ROOT, _die_with_parent, python

Handler = Callable[[dict[str, Any]], None]
READY_TIMEOUT_S = 60.0  # a bot encodes its clips before it is ready


class BotProcess:
    def __init__(self, name: str, cmd: list[str], log: Path | None,
                 on_cost: Handler | None = None) -> None:
        self.name = name
        self.on_cost = on_cost
        self.handlers: dict[str, Handler] = {}
        self.seats = 0
        self.ready = Event()
        self.writing = Semaphore()  # one command line at a time from the users' greenlets
        out: IO[bytes] | None = open(log, "ab") if log is not None else None
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out, cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_die_with_parent,
            )
        finally:
            if out is not None:
                out.close()
        self.reader = gevent.spawn(self._read)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("ev") == "ready":
                self.ready.set()
                continue
            if event.get("ev") == "cost" and self.on_cost is not None:
                self.on_cost(event)
                continue
            handler = self.handlers.get(str(event.get("seat")))
            if handler is not None:
                try:
                    handler(event)
                except Exception:  # a handler's bug must not stop the other seats' events
                    import logging

                    logging.getLogger(__name__).exception("classroom bot event handler")
        self.ready.set()  # exited: nobody waits for it

    def wait_ready(self) -> bool:
        """Wait until the bot has its clips (bounded); False if it is not running."""
        return bool(self.ready.wait(READY_TIMEOUT_S)) and self.proc.poll() is None

    def send(self, command: dict[str, Any]) -> None:
        if not self.wait_ready():
            raise ConnectionError(f"classroom bot {self.name} is not running")
        assert self.proc.stdin is not None
        with self.writing:
            self.proc.stdin.write(json.dumps(command).encode() + b"\n")
            self.proc.stdin.flush()

    def stop(self, grace: float = 8.0) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        for action in (None, self.proc.terminate, self.proc.kill):
            if action is not None:
                with contextlib.suppress(ProcessLookupError):
                    action()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
                break
        self.reader.kill(block=False)


class BotPool:
    def __init__(self, url: str, bot_args: list[str], seats_per_bot: int = 8,
                 log_dir: str = "", on_cost: Handler | None = None) -> None:
        self.url = url
        self.bot_args = bot_args
        self.seats_per_bot = seats_per_bot
        self.log_dir = Path(log_dir) if log_dir else None
        self.on_cost = on_cost
        self.bots: dict[str, list[BotProcess]] = {}
        self._seat_bot: dict[str, BotProcess] = {}

    def bot_for(self, room: str, seat: str, handler: Handler) -> BotProcess:
        """The bot that runs `seat` (the same one again for a seat it already has)."""
        bot = self._seat_bot.get(seat)
        if bot is None:
            bots = self.bots.setdefault(room, [])
            bot = next((b for b in bots if b.seats < self.seats_per_bot
                        and b.proc.poll() is None), None)
            if bot is None:
                name = f"{room}-{len(bots)}-{os.getpid()}"
                log = self.log_dir / f"bot-{name}.log" if self.log_dir else None
                if self.log_dir:
                    self.log_dir.mkdir(parents=True, exist_ok=True)
                cmd = [python(), "-m", "loadtest.classroom_bot", "--url", self.url,
                       *self.bot_args]
                bot = BotProcess(name, cmd, log, self.on_cost)
                bots.append(bot)
            bot.seats += 1
            self._seat_bot[seat] = bot
        bot.handlers[seat] = handler
        return bot

    def stop(self) -> None:
        every = [bot for bots in self.bots.values() for bot in bots]
        gevent.joinall([gevent.spawn(bot.stop) for bot in every], timeout=30)
        self.bots.clear()
        self._seat_bot.clear()
