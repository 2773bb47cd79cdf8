"""The node's NACK decisions for a publisher's video (no event loop)."""

from __future__ import annotations

from media.nacks import GIVE_UP_S, MAX_GAP, MAX_RETRIES, NackList


def test_a_gap_is_nacked_at_once_and_not_again_within_a_round_trip() -> None:
    nacks = NackList()
    nacks.on_packet(10, 0.0)
    nacks.on_packet(13, 0.010)
    assert nacks.due(0.010) == [11, 12]
    nacks.on_packet(14, 0.020)
    nacks.on_packet(16, 0.030)  # a new gap: only the new packet is asked for
    assert nacks.due(0.030) == [15]
    assert nacks.due(0.100) == []  # 90 ms after: within the default 100 ms round trip
    assert nacks.due(0.110) == [11, 12]
    assert 11 in nacks and 14 not in nacks


def test_a_retransmission_ends_the_asking_and_measures_the_round_trip() -> None:
    nacks = NackList()
    nacks.on_packet(1, 0.0)
    nacks.on_packet(3, 0.0)
    assert nacks.due(0.0) == [2]
    nacks.on_packet(2, 0.040)
    assert 2 not in nacks and nacks.due(1.0) == []
    assert 0.09 < nacks.rtt < 0.1  # moved an eighth of the way from 100 ms toward 40 ms


def test_at_most_ten_tries_then_given_up() -> None:
    nacks = NackList()
    nacks.on_packet(1, 0.0)
    nacks.on_packet(3, 0.0)
    tries = sum(len(nacks.due(t / 100)) for t in range(0, 110))  # 1.1 s, every 10 ms
    assert tries == MAX_RETRIES
    assert nacks.given_up == 1 and 2 not in nacks


def test_a_packet_late_by_more_than_a_second_is_given_up() -> None:
    nacks = NackList()
    nacks.rtt = 0.5
    nacks.on_packet(1, 0.0)
    nacks.on_packet(3, 0.0)
    assert nacks.due(0.0) == [2] and nacks.due(0.5) == [2]
    assert nacks.due(GIVE_UP_S + 0.01) == []
    assert 2 not in nacks and nacks.given_up == 1


def test_sequence_numbers_wrap() -> None:
    nacks = NackList()
    nacks.on_packet(65534, 0.0)
    nacks.on_packet(1, 0.0)
    assert nacks.due(0.0) == [65535, 0]


def test_a_huge_jump_starts_over() -> None:
    nacks = NackList()
    nacks.on_packet(1, 0.0)
    nacks.on_packet(3, 0.0)
    nacks.on_packet(3 + MAX_GAP + 1, 0.0)
    assert nacks.due(0.0) == [] and nacks.given_up == 1


def test_reordered_and_duplicate_packets_are_not_losses() -> None:
    nacks = NackList()
    nacks.on_packet(1, 0.0)
    nacks.on_packet(3, 0.0)
    nacks.on_packet(2, 0.001)  # reordered, before any NACK went out
    nacks.on_packet(3, 0.002)
    assert nacks.due(0.002) == [] and nacks.rtt == 0.1
