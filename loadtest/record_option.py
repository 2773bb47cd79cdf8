"""`--record` for the forwarding benchmark: its option and the node's environment (used by
loadtest/forwarding.py and loadtest/recording.py, which imports the benchmark)."""

from __future__ import annotations

import argparse

RECORDING_ENV = {"LIVEROOM_RECORDING_POLICY": "audio_video",
                 "LIVEROOM_RECORDING_AUTO_START": "true"}


def add_option(parser: argparse.ArgumentParser) -> None:
    """`--record` for the forwarding benchmark."""
    parser.add_argument("--record", action="store_true",
                        help="Liveroom nodes record every room (the publisher, a tutor, is "
                        "recorded; docs/recording.md); see also python -m loadtest.recording")


def server_env(opts: argparse.Namespace | None) -> dict[str, str]:
    """The node's extra environment for these options."""
    return dict(RECORDING_ENV) if opts is not None and getattr(opts, "record", False) else {}
