"""The `liveroom` command: serve a node, mint join tokens."""

from __future__ import annotations

import argparse
import sys

from aiohttp import web

from media.ids import Role

from .app import create_app
from .logs import configure
from .settings import Settings
from .tokens import mint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liveroom", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run a node (settings from LIVEROOM_* variables)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--dev", action="store_true",
                       help="development: loopback ICE, print demo join links")

    token = commands.add_parser("token", help="mint a join token")
    token.add_argument("--room", required=True)
    token.add_argument("--identity", required=True)
    token.add_argument("--role", choices=[r.value for r in Role], default=Role.LEARNER.value)
    token.add_argument("--name", default="")
    token.add_argument("--ttl", type=int, help="seconds (default: LIVEROOM_TOKEN_TTL_S)")

    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", getattr(args, "host", None)),
                                   ("port", getattr(args, "port", None))) if v is not None}
    if getattr(args, "dev", False):
        overrides["dev"] = True
    settings = Settings(**overrides)

    if args.command == "token":
        print(mint(settings.resolved_secret(), room=args.room, identity=args.identity,
                   role=Role(args.role), name=args.name, ttl_s=args.ttl or settings.token_ttl_s))
        return 0

    configure(json=settings.log_json)
    if settings.dev and not settings.ice_host_addresses:
        settings.ice_host_addresses = ["127.0.0.1"]
    app = create_app(settings)
    if settings.dev:
        _print_demo_links(settings)
    # on_shutdown (app._tell_everyone) may take half the bound; aiohttp waits for the
    # handlers twice this, the cleanup an eighth: the process exits within the bound
    web.run_app(app, host=settings.host, port=settings.port, print=None,
                shutdown_timeout=settings.shutdown_timeout_s / 8,
                loop=__import__("uvloop").new_event_loop() if settings.uvloop else None)
    return 0


def _print_demo_links(settings: Settings) -> None:
    secret = settings.resolved_secret()
    base = settings.base_url()
    for identity, role in (("tutor-1", Role.TUTOR), ("learner-1", Role.LEARNER)):
        token = mint(secret, room="demo", identity=identity, role=role, name=identity,
                     ttl_s=settings.token_ttl_s)
        print(f"{role:8} {base}/join?token={token}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
