"""Classroom load test: rooms of one tutor and N learners, for locust.

    locust -f loadtest/locustfile.py --headless -H http://127.0.0.1:8080 \\
        --rooms 4 --learners 4 --ramp 20 --lesson 120 --csv out/run --html out/run.html

Each locust user is one participant (`Tutor`, `Learner`). It takes a seat from the master
(`loadtest.classroom.SeatPlan`, over locust's messages, so a run with `--processes` or
`--master`/`--worker` still fills each room with one tutor and N learners), asks the node
for a join token (`POST /v1/tokens`; the tutor also `POST /v1/rooms`) as ordinary locust
HTTP requests, and has a classroom bot process join with it (`loadtest.bot_pool`: aiortc
stays out of gevent). The bots' events become locust requests (`events.request.fire`):

| type | name | response time |
|---|---|---|
| `join` | `tutor` / `learner` | token to first frame (first offer to it if nobody published yet) |
| `signal` | `joined` | join command to the node's `joined` |
| `first_frame` | `subscription` | each subscription: offer to first frame |
| `reconnect` | `ttmr` | after a network drop: network back to the first frame |
| `reload` | `tutor` / `learner` | a reload's new token to its first frame |
| `bot` | `millicores_per_seat` | a bot process's CPU per seat it runs, per window |
| `quality` | `loss_pct <room>`, `jitter_ms …`, `freezes …`, `mos …` | the value, per seat |

Failures carry the error code (`ClassroomError('room_full')`, `gave_up`, `no_first_frame`).
`ClassroomShape` fills every seat over `--ramp` seconds and ends the run at `--lesson`;
chaos waves (`--waves`, from `--chaos-at`, every `--wave-every` s) make a share of the
learners drop their network for `--drop-seconds` (`--drop-share`), reload
(`--reload-share`) or leave for good (`--leave-share`). docs/load-testing.md.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import gevent
from gevent.event import AsyncResult
from locust import HttpUser, LoadTestShape, between, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from loadtest.bot_pool import BotPool, BotProcess
from loadtest.classroom import Action, Chaos, ClassroomPlan, Seat, SeatPlan

CLAIM_TIMEOUT_S = 30.0


class ClassroomError(Exception):
    """A bot or node error, by code (the failure rows group by it)."""


def _options(parser: Any) -> None:
    group = parser  # locust's own add_argument (is_secret); a group would not take it
    group.add_argument("--rooms", type=int, default=2, env_var="LIVEROOM_LOAD_ROOMS")
    group.add_argument("--learners", type=int, default=4, env_var="LIVEROOM_LOAD_LEARNERS",
                       help="learners per room (each room has one tutor)")
    group.add_argument("--ramp", type=float, default=10.0, help="seconds to fill every seat")
    group.add_argument("--lesson", type=float, default=60.0,
                       help="seconds of the whole run, ramp included")
    group.add_argument("--api-key", default="", env_var="LIVEROOM_API_KEY", is_secret=True)
    group.add_argument("--room-prefix", default="class")
    group.add_argument("--drop-share", type=float, default=0.0)
    group.add_argument("--drop-seconds", type=float, default=10.0)
    group.add_argument("--reload-share", type=float, default=0.0)
    group.add_argument("--leave-share", type=float, default=0.0)
    group.add_argument("--chaos-at", type=float, default=-1.0,
                       help="seconds from the start to the first wave (default: ramp + 10)")
    group.add_argument("--waves", type=int, default=1)
    group.add_argument("--wave-every", type=float, default=20.0)
    group.add_argument("--learner-video", default="true", choices=["true", "false"])
    group.add_argument("--feedback", default="false", choices=["true", "false"],
                       help="bots hand media to aiortc's receivers (RTCP like a browser's)")
    group.add_argument("--ice-address", default="127.0.0.1",
                       help="pin the bots' ICE host candidates ('' for every interface)")
    group.add_argument("--seats-per-bot", type=int, default=8)
    group.add_argument("--quality-every", type=float, default=5.0)
    group.add_argument("--bot-log-dir", default="")


def _plan(options: Any) -> ClassroomPlan:
    return ClassroomPlan(options.rooms, options.learners, options.ramp, options.lesson,
                         options.room_prefix)


def _chaos(options: Any) -> Chaos:
    first = options.chaos_at if options.chaos_at >= 0 else options.ramp + 10.0
    return Chaos(options.rooms * options.learners, options.drop_share, options.reload_share,
                 options.leave_share, first, options.waves, options.wave_every)


class Classroom:
    """This process's share of the run: seat claims, the bot pool, the start time."""

    def __init__(self) -> None:
        self.plan: SeatPlan | None = None  # on the master (or a local runner)
        self.pending: dict[str, AsyncResult] = {}
        self.ids = itertools.count()
        self.pool: BotPool | None = None
        self.started = time.monotonic()

    def bot_pool(self, env: Environment) -> BotPool:
        if self.pool is None:  # made in the process that uses it (after --processes forks)
            o = env.parsed_options
            assert o is not None
            args = ["--ice-address", o.ice_address, "--quality-every", str(o.quality_every),
                    "--learner-video" if o.learner_video == "true" else "--no-learner-video",
                    "--feedback" if o.feedback == "true" else "--no-feedback"]
            assert env.host

            def on_cost(event: dict[str, Any]) -> None:  # a bot process's CPU per seat
                env.events.request.fire(  # type: ignore[no-untyped-call]
                    request_type="bot", name="millicores_per_seat",
                    response_time=1000.0 * event["cores"] / event["seats"],
                    response_length=0, exception=None, context={})

            self.pool = BotPool(env.host, args, o.seats_per_bot, o.bot_log_dir, on_cost)
        return self.pool

    def claim(self, env: Environment, role: str) -> Seat | None:
        assert env.runner is not None
        request = f"{os.getpid()}-{next(self.ids)}"
        result = self.pending[request] = AsyncResult()
        env.runner.send_message("classroom_claim", {"req": request, "role": role})
        try:
            seat = result.get(timeout=CLAIM_TIMEOUT_S)
        except gevent.Timeout:
            seat = None
        finally:
            self.pending.pop(request, None)
        return Seat(**seat) if seat else None


CLASS = Classroom()


def _init(environment: Environment, **_: Any) -> None:
    options, runner = environment.parsed_options, environment.runner
    if options is None or runner is None:
        return
    plan = _plan(options)
    Tutor.fixed_count, Learner.fixed_count = plan.rooms, plan.rooms * plan.learners
    if not isinstance(runner, WorkerRunner):
        CLASS.plan = SeatPlan(plan)

        def on_claim(environment: Environment, msg: Any, **_: Any) -> None:
            assert CLASS.plan is not None
            seat = CLASS.plan.claim(msg.data["role"])
            reply = {"req": msg.data["req"], "seat": seat.__dict__ if seat else None}
            environment.runner.send_message("classroom_seat", reply, client_id=msg.node_id)  # type: ignore[union-attr]

        def on_release(environment: Environment, msg: Any, **_: Any) -> None:
            assert CLASS.plan is not None
            CLASS.plan.release(msg.data["identity"])

        runner.register_message("classroom_claim", on_claim)
        runner.register_message("classroom_release", on_release)
    if not isinstance(runner, MasterRunner):
        def on_seat(environment: Environment, msg: Any, **_: Any) -> None:
            waiting = CLASS.pending.get(msg.data["req"])
            if waiting is not None:
                waiting.set(msg.data["seat"])

        runner.register_message("classroom_seat", on_seat)


def _started(environment: Environment, **_: Any) -> None:
    CLASS.started = time.monotonic()
    if CLASS.plan is not None:
        CLASS.plan.taken.clear()


def _stopped(environment: Environment, **_: Any) -> None:
    if CLASS.pool is not None:
        CLASS.pool.stop()
        CLASS.pool = None


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_started)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_stopped)  # type: ignore[no-untyped-call]


class ClassroomShape(LoadTestShape):
    """Every seat filled over the ramp, held until the lesson ends (chaos inside users)."""

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        run_time: float = self.get_run_time()  # type: ignore[no-untyped-call]
        return _plan(self.runner.environment.parsed_options).tick(run_time)


class Participant(HttpUser):
    abstract = True
    role = "learner"
    wait_time = between(0.5, 1.0)

    def on_start(self) -> None:
        self.seat: Seat | None = None
        self.bot: BotProcess | None = None
        self.token_at = 0.0
        self.reloading = False
        self.gone = False
        self.options = self.environment.parsed_options
        self.waves = _chaos(self.options).wave_times()
        seat = CLASS.claim(self.environment, self.role)
        if seat is None:
            raise StopUser()
        self.seat = seat
        if self.role == "tutor":
            room = {"id": seat.room, "max_participants": min(64, 1 + self.options.learners)}
            with self.client.post("/v1/rooms", json=room, headers=self._auth(),
                                  name="/v1/rooms", catch_response=True) as response:
                if response.status_code in (201, 409):  # 409: it is there already
                    response.success()
        self.bot = CLASS.bot_pool(self.environment).bot_for(seat.room, seat.identity,
                                                            self._on_event)
        if not self.bot.wait_ready():  # the token's clock starts once the bot can use it
            self._fire("join", self.role, 0.0, "bot_not_ready")
            return
        token = self._token()
        if token is None:
            return
        self._send({"cmd": "join", "room": seat.room, "role": self.role, "token": token})

    @task
    def lesson(self) -> None:
        if self.seat is None or self.bot is None or self.gone or not self.waves or (
                not self.token_at):
            return
        elapsed = time.monotonic() - CLASS.started
        if elapsed < self.waves[0]:
            return
        self.waves.pop(0)
        action = _chaos(self.options).action(self.seat.rank) if self.role == "learner" else (
            Action.NONE)
        if action is Action.DROP:
            self._send({"cmd": "drop", "seconds": self.options.drop_seconds})
        elif action is Action.RELOAD:
            token = self._token()
            if token is not None:
                self.reloading = True
                self._send({"cmd": "reload", "token": token})
        elif action is Action.LEAVE:
            self.gone = True
            self._send({"cmd": "leave"})

    def on_stop(self) -> None:
        if self.seat is None:
            return
        if self.bot is not None and self.token_at and not self.gone:
            self.gone = True
            try:
                self._send({"cmd": "leave"})
            except ConnectionError:
                pass
        assert self.environment.runner is not None
        self.environment.runner.send_message("classroom_release",
                                             {"identity": self.seat.identity})

    # --- plumbing --------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.options.api_key}"}

    def _token(self) -> str | None:
        assert self.seat is not None
        body = {"room": self.seat.room, "identity": self.seat.identity, "role": self.role}
        with self.client.post("/v1/tokens", json=body, headers=self._auth(),
                              name="/v1/tokens", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"status {response.status_code}")
                return None
            self.token_at = time.monotonic()
            return str(response.json()["token"])

    def _send(self, command: dict[str, Any]) -> None:
        assert self.bot is not None and self.seat is not None
        self.bot.send({**command, "seat": self.seat.identity})

    def _fire(self, kind: str, name: str, ms: float, error: str | None = None) -> None:
        self.environment.events.request.fire(
            request_type=kind, name=name, response_time=ms, response_length=0,
            exception=ClassroomError(error) if error else None, context={},
        )

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("ev")
        if kind == "joined":
            self._fire("signal", "joined", event["ms"])
        elif kind == "first_frame":
            self._fire("first_frame", "subscription", event["ms"])
            if "join_ms" in event:
                # from the token (the locust clock: HTTP reply to this event), or from the
                # first offer when the room had no publisher yet (the bot's figure)
                latency = event["join_ms"]
                if event.get("join_from") == "token":
                    latency = (time.monotonic() - self.token_at) * 1000
                self._fire("reload" if self.reloading else "join", self.role, latency)
                self.reloading = False
        elif kind == "reconnected":
            self._fire("reconnect", "ttmr", event["ttmr_ms"],
                       None if event.get("resumed") else "seat_lost")
        elif kind == "reloaded" and not event.get("resumed"):
            self._fire("reload", self.role, 0.0, "seat_lost")
        elif kind == "quality":
            room = event.get("room", "")
            for field, value in (("loss_pct", event["loss"]), ("jitter_ms", event["jitter_ms"]),
                                 ("freezes", event["freezes"]), ("mos", event["mos"])):
                self._fire("quality", f"{field} {room}", float(value))
        elif kind == "error":
            op = str(event.get("op", "bot"))
            name = "subscription" if op == "first_frame" else self.role
            self._fire(op, name, 0.0, str(event.get("code", "error")))


class Tutor(Participant):
    role = "tutor"
    fixed_count = 1


class Learner(Participant):
    role = "learner"
    fixed_count = 4
