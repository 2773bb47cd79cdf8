"""LoopLag: the node's own starvation, from a timer's lateness (no event loop)."""

from __future__ import annotations

import socket

import pytest

from media.starvation import LoopLag
from media.udp import receive_queue


def test_a_timer_on_time_is_no_starvation_and_silence_counts_from_the_last_packet() -> None:
    lag = LoopLag(threshold_s=0.2)
    assert lag.observe(due=10.0, ran=10.01) == pytest.approx(0.01)
    assert lag.starved_until is None
    assert not lag.starved_since(0.0)
    assert lag.quiet_from(9.0) == 9.0


def test_a_late_timer_marks_a_starved_spell_and_silence_counts_from_its_end() -> None:
    lag = LoopLag(threshold_s=0.2)
    assert lag.observe(due=10.0, ran=13.0) == 3.0
    assert lag.starved_until == 13.0
    assert lag.starved_since(12.0) and not lag.starved_since(13.5)
    assert lag.quiet_from(9.9) == 13.0  # the client's packet before the block
    assert lag.quiet_from(13.2) == 13.2  # heard after the node ran again
    assert lag.observe(due=13.25, ran=13.24) == 0.0  # early: never negative
    assert lag.starved_until == 13.0


def test_other_evidence_of_starvation_only_moves_the_end_forward() -> None:
    lag = LoopLag()
    lag.starved(5.0)
    lag.starved(4.0)
    assert lag.starved_until == 5.0 and lag.spells == 2


def test_a_socket_not_read_shows_its_backlog() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        empty = receive_queue(rx)
        assert empty is not None and empty.queued_bytes == 0 and empty.drops == 0
        for _ in range(10):
            tx.sendto(b"x" * 1000, rx.getsockname())
        full = receive_queue(rx)
        assert full is not None and full.queued_bytes >= 10_000
    assert receive_queue(None) is None
