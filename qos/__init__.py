"""Quality of service: metrics, MOS, freeze detection, scoring and the end-to-end probe.

The core modules (``units``, ``window``, ``mos``, ``freeze``, ``score``, ``stamp``,
``probe_source``, ``probe``) are pure: time is passed in, results are returned, and they
import no asyncio, aiortc or aiohttp. ``probe_tracks`` is the aiortc adapter.
"""
