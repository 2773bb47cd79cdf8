"""Admission control (sans-IO), and the node's use of it (no event loop, no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from media.ids import Identity, Role, RoomId
from media.peer import PeerConfig
from media.room import Grants
from signalling.admission import Admission, AdmissionLimits, NodeOverloaded
from signalling.errors import SignalCode
from signalling.node import Node
from signalling.settings import Settings


def feed(admission: Admission, start: float, end: float, lag: float, cpu: float) -> list[bool]:
    changes = []
    t = start
    while t <= end + 1e-9:
        change = admission.observe(t, lag, cpu)
        if change is not None:
            changes.append(change)
        t += 0.25
    return changes


def test_a_spike_is_not_overload_but_a_sustained_lag_is_and_it_ends_with_the_load() -> None:
    a = Admission(AdmissionLimits(max_loop_lag_s=0.1, max_cpu_cores=0.85, window_s=5.0))
    assert feed(a, 0.0, 4.75, lag=0.5, cpu=0.1) == []  # under a whole window: a spike
    assert feed(a, 5.0, 5.0, lag=0.5, cpu=0.1) == [True]
    assert a.overloaded and a.reason is not None and "lag" in a.reason
    with pytest.raises(NodeOverloaded) as refused:
        a.check()
    assert refused.value.code is SignalCode.NODE_OVERLOADED
    assert refused.value.retry_after_s == 5.0
    assert a.refusals == 1
    # load ends: refused until the window's mean is back under the limit, then admitted
    changes = feed(a, 5.25, 15.0, lag=0.0, cpu=0.1)
    assert changes == [False]
    assert not a.overloaded
    a.check()


def test_cpu_above_its_limit_over_the_window_is_overload_too_and_zero_turns_a_limit_off() -> None:
    a = Admission(AdmissionLimits(max_loop_lag_s=0.1, max_cpu_cores=0.85, window_s=2.0))
    assert feed(a, 0.0, 3.0, lag=0.0, cpu=0.95) == [True]
    assert a.reason is not None and "CPU" in a.reason
    off = Admission(AdmissionLimits(max_loop_lag_s=0.0, max_cpu_cores=0.0, window_s=2.0))
    assert feed(off, 0.0, 10.0, lag=5.0, cpu=2.0) == []


def test_an_overloaded_node_refuses_new_rooms_and_newcomers_but_not_a_seated_participant(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, token_secret="s" * 32, api_key="k",
                        admission_window_s=1.0)
    node = Node(settings, PeerConfig(), clock=lambda: 0.0)
    hub = node.create_room(RoomId("room-a"))
    hub.room.join(Identity("seated"), "", Role.LEARNER, Grants(), 0.0)
    feed(node.admission, 0.0, 1.0, lag=1.0, cpu=0.0)
    assert node.admission.overloaded
    assert node.hub_for_join(RoomId("room-a"), Identity("seated")) is hub
    with pytest.raises(NodeOverloaded):
        node.hub_for_join(RoomId("room-a"), Identity("newcomer"))
    with pytest.raises(NodeOverloaded):
        node.hub_for_join(RoomId("room-b"), Identity("seated"))
    with pytest.raises(NodeOverloaded):
        node.create_room(RoomId("room-c"))
    assert set(node.hubs) == {"room-a"}
