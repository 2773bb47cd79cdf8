"""Range headers parsed against a body's size."""

from __future__ import annotations

import pytest

from signalling.byte_range import Unsatisfiable, byte_range


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-99", (0, 99)),
    ("bytes=100-", (100, 999)),
    ("bytes=-10", (990, 999)),
    ("bytes=-5000", (0, 999)),
    ("bytes=900-5000", (900, 999)),
    ("bytes=999-999", (999, 999)),
    (None, None), ("", None), ("items=0-1", None), ("bytes=0-1,5-6", None),
    ("bytes=5-1", None), ("bytes=a-b", None), ("bytes=-", None), ("bytes 0-1", None),
    ("bytes=+1-2", None), ("bytes=0x1-2", None),
])
def test_a_range_is_read_against_the_size(header: str | None,
                                           expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_a_range_outside_the_body_is_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        byte_range(header, 1000)
