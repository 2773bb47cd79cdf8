"""The impairment's link model (pure, time passed in) and its socket adapter (fake sockets)."""

from __future__ import annotations

import asyncio
import itertools
import random
from types import SimpleNamespace
from typing import Any

import pytest

from qos.impairment import (
    Drop,
    GilbertElliott,
    Impairment,
    LinkModel,
    LinkProfile,
    TokenBucket,
)

RTP = bytes([0x80, 0x60]) + bytes(98)  # first byte 128: SRTP
STUN = bytes([0x00, 0x01]) + bytes(18)  # first byte 0: STUN


def decisions(profile: LinkProfile, seed: int, n: int, gap: float = 0.01,
              size: int = 100) -> list[float | Drop]:
    model = LinkModel(profile, random.Random(seed))
    return [model.decide(i * gap, size) for i in range(n)]


# --- profiles -------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    dict(loss=1.5), dict(burst_loss=1.0), dict(mean_burst=0.5), dict(delay_ms=-1),
    dict(rate_kbps=0), dict(queue_packets=0), dict(reorder=-0.1),
])
def test_a_link_profile_refuses_impossible_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LinkProfile(**bad)


def test_the_same_seed_gives_the_same_decisions_and_another_seed_does_not() -> None:
    profile = LinkProfile(delay_ms=50, jitter_ms=10, loss=0.05, burst_loss=0.02, mean_burst=3,
                          rate_kbps=500, reorder=0.01)
    assert decisions(profile, 7, 2000) == decisions(profile, 7, 2000)
    assert decisions(profile, 7, 2000) != decisions(profile, 8, 2000)


# --- loss -----------------------------------------------------------------------------------

def test_random_loss_drops_the_given_share() -> None:
    out = decisions(LinkProfile(loss=0.05), 1, 40_000)
    lost = sum(1 for d in out if d is Drop.LOSS) / len(out)
    assert lost == pytest.approx(0.05, abs=0.005)


def bursts(lost: list[bool]) -> list[int]:
    return [len(list(g)) for k, g in itertools.groupby(lost) if k]


def test_gilbert_elliott_gives_the_loss_rate_and_the_mean_burst_length() -> None:
    model = GilbertElliott(0.02, 3.0, random.Random(3))
    lost = [model.lost() for _ in range(300_000)]
    assert sum(lost) / len(lost) == pytest.approx(0.02, rel=0.1)
    runs = bursts(lost)
    assert sum(runs) / len(runs) == pytest.approx(3.0, rel=0.1)
    # random loss of the same rate has bursts of about 1/(1 - p) ≈ 1.02
    rng = random.Random(3)
    plain = bursts([rng.random() < 0.02 for _ in range(300_000)])
    assert sum(plain) / len(plain) < 1.1


def test_burst_loss_through_the_link_model_is_reported_as_burst() -> None:
    out = decisions(LinkProfile(burst_loss=0.02, mean_burst=3), 5, 100_000)
    assert sum(1 for d in out if d is Drop.BURST) / len(out) == pytest.approx(0.02, rel=0.15)
    assert not any(d is Drop.LOSS for d in out)


# --- rate limit -----------------------------------------------------------------------------

def test_a_token_bucket_caps_throughput_and_never_queues_more_than_its_limit() -> None:
    bucket = TokenBucket(500_000 / 8, depth=1500, queue_limit=32)
    dropped = 0
    admitted: list[tuple[float, float]] = []
    for i in range(10_000):  # 1 Mbit/s offered for 10 s: 1000 datagrams of 125 B per second
        now = i / 1000
        assert bucket.queued(now) <= 32
        t = bucket.admit(now, 125)
        if t is None:
            dropped += 1
        else:
            admitted.append((now, t))
    departures = [t for _, t in admitted]
    assert departures == sorted(departures)
    kbps = len(admitted) * 125 * 8 / departures[-1] / 1000
    assert kbps == pytest.approx(500, rel=0.02)
    assert dropped / 10_000 == pytest.approx(0.5, abs=0.02)
    # a full queue: 32 datagrams of 125 B at 500 kbit/s wait 64 ms at most
    assert max(t - now for now, t in admitted) <= 0.064 + 1e-9


def test_traffic_under_the_rate_passes_without_loss_or_waiting() -> None:
    out = decisions(LinkProfile(rate_kbps=500), 1, 1000, gap=0.01, size=500)  # 400 kbit/s
    assert all(isinstance(d, float) for d in out)
    assert max(d - i * 0.01 for i, d in enumerate(out) if isinstance(d, float)) < 0.001


def test_the_150_kbps_profile_delivers_150_kbps_of_a_500_kbps_stream() -> None:
    out = decisions(LinkProfile(rate_kbps=150, queue_packets=32), 1, 5000, gap=0.02,
                    size=1250)  # 50 datagrams/s of 1250 B = 500 kbit/s for 100 s
    delivered = [d for d in out if isinstance(d, float)]
    assert sum(1 for d in out if d is Drop.QUEUE) > 0.6 * len(out)
    kbps = len(delivered) * 1250 * 8 / delivered[-1] / 1000
    assert kbps == pytest.approx(150, rel=0.03)


# --- delay, jitter, reordering ----------------------------------------------------------------

def test_a_fixed_delay_delays_every_datagram_by_exactly_that() -> None:
    out = decisions(LinkProfile(delay_ms=50), 1, 500)
    assert all(d == pytest.approx(i * 0.01 + 0.05) for i, d in enumerate(out))


def test_jitter_stays_within_bounds_and_keeps_the_order() -> None:
    out = decisions(LinkProfile(delay_ms=150, jitter_ms=30), 2, 5000, gap=0.005)
    delays = [d - i * 0.005 for i, d in enumerate(out) if isinstance(d, float)]
    assert min(delays) >= 0.120 - 1e-9 and max(delays) <= 0.180 + 1e-9
    assert max(delays) - min(delays) > 0.04  # it does vary
    assert out == sorted(out)  # type: ignore[type-var]


def test_reordering_only_when_asked_for() -> None:
    out = decisions(LinkProfile(delay_ms=20, reorder=0.05, reorder_ms=30), 4, 5000)
    times = [d for d in out if isinstance(d, float)]
    overtaken = sum(1 for a, b in itertools.pairwise(times) if b < a)
    assert 150 < overtaken < 350  # about 5% of 5000


def test_the_stages_add_up_loss_then_queue_then_delay() -> None:
    profile = LinkProfile(delay_ms=50, loss=0.5, rate_kbps=800)
    model = LinkModel(profile, random.Random(9))
    out = [model.decide(i * 0.01, 100) for i in range(2000)]
    assert model.dropped[Drop.LOSS] == sum(1 for d in out if d is Drop.LOSS)
    assert model.passed == sum(1 for d in out if isinstance(d, float))
    assert all(d >= i * 0.01 + 0.05 for i, d in enumerate(out) if isinstance(d, float))


# --- the socket adapter -----------------------------------------------------------------------

class FakeProtocol:
    def __init__(self) -> None:
        self.received: list[tuple[bytes, float]] = []
        self.sent: list[tuple[bytes, float]] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append((data, asyncio.get_running_loop().time()))

    async def send_data(self, data: bytes, addr: Any) -> None:
        self.sent.append((data, asyncio.get_running_loop().time()))


def fake_pc(protocol: FakeProtocol) -> Any:
    connection = SimpleNamespace(_protocols=[protocol])
    ice = SimpleNamespace(iceGatherer=SimpleNamespace(_connection=connection))
    receiver = SimpleNamespace(transport=SimpleNamespace(transport=ice))
    return SimpleNamespace(getTransceivers=lambda: [SimpleNamespace(receiver=receiver)])


async def test_delayed_media_is_delivered_later_and_stun_at_once() -> None:
    protocol = FakeProtocol()
    link = LinkProfile(delay_ms=40)
    impairment = Impairment(seed=1, inbound=link, outbound=link)
    impairment.apply(fake_pc(protocol))
    loop = asyncio.get_running_loop()
    start = loop.time()
    protocol.datagram_received(RTP, None)
    protocol.datagram_received(STUN, None)
    await protocol.send_data(RTP, None)
    await protocol.send_data(STUN, None)
    assert [d for d, _ in protocol.received] == [STUN]
    assert [d for d, _ in protocol.sent] == [STUN]
    assert impairment.held("in") == impairment.held("out") == 1
    await asyncio.sleep(0.1)
    assert [d for d, _ in protocol.received] == [STUN, RTP]
    assert [d for d, _ in protocol.sent] == [STUN, RTP]
    assert protocol.received[1][1] - start >= 0.035
    assert impairment.held("in") == impairment.held("out") == 0
    assert (impairment.passed_in, impairment.passed_out) == (1, 1)


async def test_random_profiles_drop_only_media() -> None:
    protocol = FakeProtocol()
    impairment = Impairment(seed=1, inbound=LinkProfile(loss=0.999),
                            outbound=LinkProfile(loss=0.999))
    impairment.apply(fake_pc(protocol))
    for _ in range(20):
        protocol.datagram_received(RTP, None)
        protocol.datagram_received(STUN, None)
    assert [d for d, _ in protocol.received] == [STUN] * 20
    assert impairment.dropped_in == 20


async def test_an_outage_drops_everything_also_what_was_already_on_its_way() -> None:
    protocol = FakeProtocol()
    impairment = Impairment(seed=1, inbound=LinkProfile(delay_ms=50))
    impairment.apply(fake_pc(protocol))
    protocol.datagram_received(RTP, None)  # in flight when the cut starts
    impairment.cut(0.2)
    assert impairment.outage()
    protocol.datagram_received(STUN, None)
    await protocol.send_data(STUN, None)
    await asyncio.sleep(0.1)
    assert protocol.received == [] and protocol.sent == []
    assert impairment.dropped_in == 2 and impairment.dropped_out == 1
    await asyncio.sleep(0.15)
    assert not impairment.outage()
    protocol.datagram_received(STUN, None)
    assert [d for d, _ in protocol.received] == [STUN]


async def test_held_back_datagrams_are_bounded() -> None:
    protocol = FakeProtocol()
    impairment = Impairment(seed=1, inbound=LinkProfile(delay_ms=1000), max_in_flight=5)
    impairment.apply(fake_pc(protocol))
    for _ in range(8):
        protocol.datagram_received(RTP, None)
    assert impairment.held("in") == 5
    assert impairment.overflow == 3 and impairment.dropped_in == 3


async def test_an_address_change_kills_the_old_sockets_for_good() -> None:
    old, new = FakeProtocol(), FakeProtocol()
    impairment = Impairment(seed=1)
    impairment.apply(fake_pc(old))
    impairment.change_address()
    impairment.apply(fake_pc(new))
    old.datagram_received(STUN, None)
    new.datagram_received(STUN, None)
    assert old.received == [] and len(new.received) == 1


def test_the_old_loss_options_keep_their_seeded_sequence() -> None:
    """loss_in/loss_out draw from the impairment's own generator, as before link profiles."""
    a, b = Impairment(loss_in=0.3, seed=11), Impairment(loss_in=0.3, seed=11)
    assert [a._drop(0.3) for _ in range(100)] == [b._drop(0.3) for _ in range(100)]
    rng = random.Random(11)
    assert [a._drop(0.3) for _ in range(50)] == [rng.random() < 0.3 for _ in range(150)][100:]
