"""Load shedding: learners' videos go first, the tutor's video and audio never."""

from __future__ import annotations

from media.shedding import LoadShedding, sheds


def test_learners_videos_to_learners_go_first_then_to_the_tutor_and_the_tutors_never() -> None:
    assert not sheds(0, publisher_is_tutor=False, subscriber_is_tutor=False)
    assert sheds(1, publisher_is_tutor=False, subscriber_is_tutor=False)
    assert not sheds(1, publisher_is_tutor=False, subscriber_is_tutor=True)
    assert sheds(2, publisher_is_tutor=False, subscriber_is_tutor=True)
    for level in (0, 1, 2):
        assert not sheds(level, publisher_is_tutor=True, subscriber_is_tutor=False)


def test_the_level_climbs_one_step_at_a_time_and_comes_down_slower() -> None:
    shed = LoadShedding(step_s=5.0)
    assert shed.update(0.0, overloaded=True) == 1
    assert shed.update(4.0, overloaded=True) is None  # give level 1 time to help
    assert shed.update(5.0, overloaded=True) == 2
    assert shed.update(30.0, overloaded=True) is None  # the most it sheds
    assert shed.update(31.0, overloaded=False) is None
    assert shed.update(40.0, overloaded=False) is None  # calm for 9 s < 10 s
    assert shed.update(41.0, overloaded=False) == 1
    assert shed.update(50.0, overloaded=False) is None
    assert shed.update(51.0, overloaded=False) == 0
    assert shed.level == 0


def test_overload_again_while_coming_down_stops_the_descent() -> None:
    shed = LoadShedding(step_s=1.0)
    shed.update(0.0, overloaded=True)
    shed.update(1.0, overloaded=True)
    assert shed.level == 2
    assert shed.update(3.5, overloaded=False) is None  # calm since 3.5
    assert shed.update(4.0, overloaded=True) is None  # back: stays at 2
    assert shed.update(5.0, overloaded=False) is None
    assert shed.update(7.0, overloaded=False) == 1
