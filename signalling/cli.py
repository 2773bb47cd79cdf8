"""The `liveroom` command: serve a node, mint join tokens, check the machine, show settings,
list and render recorded sessions.

Every setting is a LIVEROOM_* environment variable (docs/operations.md); `liveroom settings`
shows the effective ones.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys

from aiohttp import web
from pydantic import ValidationError

from media.ids import Role

from . import doctor, drain_cli
from .app import create_app
from .drain import DRAIN
from .logs import configure
from .render_cli import render
from .sessions_cli import list_sessions, review_token
from .settings import Settings, describe_errors, effective_settings
from .tokens import mint

SETTINGS_HINT = ("Every setting is a LIVEROOM_* environment variable: see docs/operations.md, "
                 "or `liveroom settings` for the effective values.")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveroom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run a node", description="Run a node: HTTP "
                                "API, WebSocket signalling, the browser pages and the SFU.",
                                epilog=SETTINGS_HINT)
    serve.add_argument("--host", help="address to listen on (LIVEROOM_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int,
                       help="port to listen on, 1-65535 (LIVEROOM_PORT, default 8080)")
    serve.add_argument("--dev", action="store_true",
                       help="development: ICE on 127.0.0.1 only, print a tutor's and a "
                            "learner's join link for room 'demo' (LIVEROOM_DEV)")

    token = commands.add_parser("token", help="mint a join token", epilog=SETTINGS_HINT,
                                description="Print a join token signed with this node's "
                                "secret (LIVEROOM_TOKEN_SECRET, or the one in the data dir).")
    token.add_argument("--room", help="room id: letters, digits, '-' and '_', up to 64 "
                       "(required unless --session)")
    token.add_argument("--session", help="a reviewer token for this recorded session "
                       "(role reviewer, docs/review.md); --ttl at most 4 h, default 30 min")
    token.add_argument("--identity", required=True,
                       help="the participant's pseudonym, same grammar as --room (never a "
                            "real name: learners are children)")
    token.add_argument("--role", choices=[r.value for r in Role], default=Role.LEARNER.value,
                       help="what the participant may do (default: learner)")
    token.add_argument("--name", default="",
                       help="display name the others see (default: the identity)")
    token.add_argument("--ttl", type=int,
                       help="lifetime in seconds (default: LIVEROOM_TOKEN_TTL_S)")

    commands.add_parser("doctor", help="check what a node needs on this machine",
                        epilog=SETTINGS_HINT, description="Check the listener port, ICE "
                        "addresses, data directory, clock and aiortc, in plain words.")
    commands.add_parser("settings", help="show the effective settings (secrets masked)",
                        epilog=SETTINGS_HINT)
    sessions = commands.add_parser("sessions", help="list the recorded sessions",
                                   epilog=SETTINGS_HINT, description="The recorded sessions "
                                   "in the data dir: duration, participants, talk time.")
    sessions.add_argument("--json", action="store_true", help="one JSON summary a line")
    rendering = commands.add_parser(
        "render", help="write a recorded session as one video file", epilog=SETTINGS_HINT,
        description="One WebM or MP4 of a finalized session: the videos in a grid, the "
        "audio mixed, on the session clock (docs/review.md). It holds the lesson decrypted: "
        "share it only as the platform's policy allows.")
    rendering.add_argument("session", help="the session id (`liveroom sessions`)")
    rendering.add_argument("--out", help="the file to write (default: SESSION.FORMAT here)")
    rendering.add_argument("--format", choices=("webm", "mp4"), default="webm",
                           help="webm: VP8 + Opus (default); mp4: H.264 + AAC")
    rendering.add_argument("--timeout", type=float, help="give up after this many seconds "
                           "(default: 60 + twice the session's length)")
    drain = commands.add_parser("drain", help="drain a node (blue/green): its rooms move",
                                epilog=SETTINGS_HINT, description="Ask a node to drain: it "
                                "takes no new rooms, moves its rooms to other nodes of the "
                                "cluster (participants keep their seats) and exits when empty "
                                "or at the deadline (docs/operations.md).")
    drain.add_argument("--url", help="the node's base URL (default: this machine's node, "
                       "LIVEROOM_PUBLIC_URL or http://LIVEROOM_HOST:LIVEROOM_PORT)")
    drain.add_argument("--deadline", type=float, metavar="S", help="seconds until the rooms "
                       "left are closed and the node exits (LIVEROOM_DRAIN_DEADLINE_S)")
    drain.add_argument("--wait", action="store_true", help="wait until the node has exited")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    overrides = {k: v for k, v in (("host", getattr(args, "host", None)),
                                   ("port", getattr(args, "port", None))) if v is not None}
    if getattr(args, "dev", False):
        overrides["dev"] = True
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for line in describe_errors(exc, overrides):
            print(f"liveroom: {line}", file=sys.stderr)
        return 2

    if args.command == "token" and args.session:
        return review_token(settings, args.session, args.identity, args.ttl)
    if args.command == "token":
        if not args.room:
            print("liveroom: token needs --room (or --session for a reviewer)",
                  file=sys.stderr)
            return 2
        print(mint(settings.resolved_secret(), room=args.room, identity=args.identity,
                   role=Role(args.role), name=args.name, ttl_s=args.ttl or settings.token_ttl_s))
        return 0
    if args.command == "settings":
        for name, value in effective_settings(settings):
            print(f"{name}={value}")
        return 0
    if args.command == "sessions":
        return list_sessions(settings, as_json=args.json)
    if args.command == "render":
        return render(settings, args.session, out=args.out, fmt=args.format,
                      timeout=args.timeout)
    if args.command == "drain":
        return drain_cli.drain(settings, args.url, args.deadline, args.wait)
    if args.command == "doctor":
        return doctor.report(doctor.run(settings))
    return serve(settings)


def serve(settings: Settings) -> int:
    configure(json=settings.log_json)
    if settings.dev and not settings.ice_host_addresses:
        settings.ice_host_addresses = ["127.0.0.1"]
    # bind first: the node says `node_ready` (and prints join links) only once it listens
    try:
        listener = _listen(settings.host, settings.port)
    except OSError as exc:
        print(f"liveroom: cannot listen on {settings.host}:{settings.port}: "
              f"{exc.strerror or exc} (LIVEROOM_HOST, LIVEROOM_PORT)", file=sys.stderr)
        return 2
    app = create_app(settings)
    # a drain started by the admin API ends the process as SIGTERM would
    app[DRAIN].on_drained.append(lambda: signal.raise_signal(signal.SIGTERM))
    if settings.dev:
        _print_demo_links(settings)
    # on_shutdown (app._tell_everyone) may take half the bound; aiohttp waits for the
    # handlers twice this, the cleanup an eighth: the process exits within the bound
    web.run_app(app, sock=listener, print=None,
                shutdown_timeout=settings.shutdown_timeout_s / 8,
                loop=__import__("uvloop").new_event_loop() if settings.uvloop else None)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (as aiohttp's own site would open it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _print_demo_links(settings: Settings) -> None:
    secret = settings.resolved_secret()
    base = settings.base_url()
    for identity, role in (("tutor-1", Role.TUTOR), ("learner-1", Role.LEARNER)):
        token = mint(secret, room="demo", identity=identity, role=role, name=identity,
                     ttl_s=settings.token_ttl_s)
        print(f"{role:8} {base}/join?token={token}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
