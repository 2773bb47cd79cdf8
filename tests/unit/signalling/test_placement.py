"""Placement with canaries (signalling/directory/placement.py), with no directory: a canary
takes only its share of new rooms, by a stable hash of the room or of the cohort."""

from __future__ import annotations

from media.ids import RoomId
from signalling.directory import NodeId, NodeRecord, NodeState
from signalling.directory.placement import PlacementKey, choose, takes_canary_room


def node(name: str, state: NodeState = NodeState.SERVING, share: float = 0.0,
         by: str = "room", overloaded: bool = False) -> NodeRecord:
    return NodeRecord(id=NodeId(name), url=f"http://{name}.test", state=state,
                      canary_share=share, canary_by=by, overloaded=overloaded)


CANARY = node("canary", NodeState.CANARY, share=0.2)
SERVING = [node(f"s{i}") for i in range(4)]


def place_all(nodes: list[NodeRecord], keys: list[PlacementKey]) -> dict[str, int]:
    """Place every key in turn, counting the rooms each node has got."""
    rooms: dict[str, int] = {n.id: 0 for n in nodes}
    for key in keys:
        chosen = choose(((n, rooms[n.id]) for n in nodes), key)
        assert chosen is not None
        rooms[chosen.id] += 1
    return rooms


def test_a_canary_at_20_percent_gets_20_percent_of_500_rooms_by_their_bucket() -> None:
    keys = [PlacementKey.of(RoomId(f"room-{i}")) for i in range(500)]
    rooms = place_all([CANARY, *SERVING], keys)
    assert 75 <= rooms["canary"] <= 125, rooms
    assert rooms["canary"] == sum(1 for k in keys if k.room < 2000)
    assert max(rooms[s.id] for s in SERVING) - min(rooms[s.id] for s in SERVING) <= 1


def test_by_cohort_a_cohorts_rooms_all_go_one_way() -> None:
    canary = node("canary", NodeState.CANARY, share=0.3, by="cohort")
    cohorts = [f"cohort-{i}" for i in range(40)]
    on_canary = {c for c in cohorts
                 if takes_canary_room(canary, PlacementKey.of(RoomId("any"), c))}
    assert 4 <= len(on_canary) <= 20, on_canary
    for cohort in cohorts:
        for i in range(5):
            chosen = choose([(canary, 0), (SERVING[0], 0)],
                            PlacementKey.of(RoomId(f"{cohort}-room-{i}"), cohort))
            assert chosen is not None
            assert (chosen.id == "canary") == (cohort in on_canary), cohort
    # a room placed with no cohort claim goes by its own id
    key = PlacementKey.of(RoomId("room-x"))
    assert takes_canary_room(canary, key) == (key.room < 3000)


def test_a_canary_at_0_takes_nothing_and_at_1_everything() -> None:
    keys = [PlacementKey.of(RoomId(f"room-{i}")) for i in range(200)]
    assert place_all([node("c", NodeState.CANARY, 0.0), *SERVING], keys)["c"] == 0
    assert place_all([node("c", NodeState.CANARY, 1.0), *SERVING], keys)["c"] == 200


def test_with_no_serving_node_left_a_canary_takes_every_room() -> None:
    draining = node("d", NodeState.DRAINING)
    key = next(k for k in (PlacementKey.of(RoomId(f"r{i}")) for i in range(100))
               if k.room >= 2000)  # outside the canary's share
    assert choose([(CANARY, 0), (SERVING[0], 0)], key) == SERVING[0]
    assert choose([(CANARY, 0), (draining, 0)], key) == CANARY
    assert choose([(draining, 0)], key) is None


def test_an_overloaded_canary_takes_nothing_and_its_rooms_go_to_serving_nodes() -> None:
    overloaded = node("canary", NodeState.CANARY, share=1.0, overloaded=True)
    assert choose([(overloaded, 0), (SERVING[0], 9)], PlacementKey.of(RoomId("r"))) == (
        SERVING[0])
    assert choose([(overloaded, 0)], PlacementKey.of(RoomId("r"))) is None


def test_among_canaries_whose_share_covers_the_room_the_least_loaded_wins() -> None:
    a = node("ca", NodeState.CANARY, share=1.0)
    b = node("cb", NodeState.CANARY, share=1.0)
    key = PlacementKey.of(RoomId("r"))
    assert choose([(a, 3), (b, 1), (SERVING[0], 0)], key) == b
    assert choose([(a, 1), (b, 1), (SERVING[0], 0)], key) == a  # then by id


def test_a_record_from_a_node_before_canaries_reads_as_no_share() -> None:
    raw = ('{"id":"n1","url":"http://n1","state":"serving","load":0.5,"rooms":2,'
           '"version":"1","overloaded":false}')
    record = NodeRecord.from_json(raw)
    assert (record.canary_share, record.canary_by) == (0.0, "room")
    assert NodeRecord.from_json(CANARY.to_json()) == CANARY
