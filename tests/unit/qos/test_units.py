"""Tests for qos.units: aiortc's raw stats values to milliseconds and fractions."""

from __future__ import annotations

import pytest

from qos.units import (
    OPUS_CLOCK_RATE,
    VIDEO_CLOCK_RATE,
    clock_rate_for,
    fraction_lost,
    jitter_ms,
    rtt_ms,
)


def test_jitter_in_rtp_units_becomes_milliseconds_per_clock_rate() -> None:
    assert jitter_ms(900, VIDEO_CLOCK_RATE) == pytest.approx(10.0)
    assert jitter_ms(480, OPUS_CLOCK_RATE) == pytest.approx(10.0)
    assert jitter_ms(0, OPUS_CLOCK_RATE) == 0.0


def test_jitter_rejects_negative_values_and_bad_clock_rates() -> None:
    with pytest.raises(ValueError):
        jitter_ms(-1, VIDEO_CLOCK_RATE)
    with pytest.raises(ValueError):
        jitter_ms(1, 0)


def test_fraction_lost_is_an_8_bit_fixed_point_fraction() -> None:
    assert fraction_lost(0) == 0.0
    assert fraction_lost(128) == 0.5
    assert fraction_lost(255) == pytest.approx(0.996, abs=1e-3)
    for bad in (-1, 256):
        with pytest.raises(ValueError):
            fraction_lost(bad)


def test_rtt_seconds_become_milliseconds_and_missing_stays_missing() -> None:
    assert rtt_ms(None) is None
    assert rtt_ms(0.123) == pytest.approx(123.0)
    with pytest.raises(ValueError):
        rtt_ms(-0.1)


def test_clock_rate_for_kinds_and_mime_types() -> None:
    assert clock_rate_for("video") == clock_rate_for("video/VP8") == 90_000
    assert clock_rate_for("audio") == clock_rate_for("audio/opus") == 48_000
    with pytest.raises(ValueError):
        clock_rate_for("audio/PCMU")


CORE = ["units", "window", "mos", "freeze", "score", "stamp", "probe_source", "probe"]


@pytest.mark.parametrize("module", CORE)
def test_core_modules_import_no_io_library(module: str) -> None:
    import ast
    from pathlib import Path

    import qos

    tree = ast.parse((Path(qos.__file__).parent / f"{module}.py").read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert not imported & {"asyncio", "aiortc", "aiohttp", "aioice", "socket", "time"}
