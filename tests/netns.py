"""A real network link for tests: `qos.gate.netns` (the gate's P7 cuts the same link)."""

from qos.gate.netns import HOLDER, Link

__all__ = ["HOLDER", "Link"]
