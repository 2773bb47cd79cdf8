"""The review composite's decisions, without files: the grid, the tile order, which frame a
tile shows at an output instant, audio alignment and mixing, the canvas."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from recorder.render_grid import (
    AudioLane,
    Canvas,
    Cell,
    Seat,
    TileFeed,
    fit,
    grid,
    mix,
    output_frames,
    seats_of,
    tile_order,
)


def test_one_tile_fills_the_picture_and_two_sit_side_by_side_centred() -> None:
    assert grid(1, 640, 480) == [Cell(0, 0, 640, 480)]
    assert grid(2, 640, 480) == [Cell(0, 120, 320, 240), Cell(320, 120, 320, 240)]
    assert grid(4, 640, 480) == [Cell(0, 0, 320, 240), Cell(320, 0, 320, 240),
                                 Cell(0, 240, 320, 240), Cell(320, 240, 320, 240)]
    assert grid(0, 640, 480) == []


@pytest.mark.parametrize("count", range(1, 10))
def test_tiles_never_overlap_stay_inside_and_keep_4_3(count: int) -> None:
    cells = grid(count, 640, 480)
    assert len(cells) == count
    taken = np.zeros((480, 640), dtype=np.int32)
    for c in cells:
        assert c.x >= 0 and c.y >= 0 and c.x + c.width <= 640 and c.y + c.height <= 480
        assert all(v % 4 == 0 for v in (c.x, c.y, c.width, c.height))
        assert abs(c.width / c.height - 4 / 3) < 0.05
        taken[c.y:c.y + c.height, c.x:c.x + c.width] += 1
    assert taken.max() == 1


def test_a_short_last_row_is_centred() -> None:
    cells = grid(3, 640, 480)
    assert cells[2] == Cell(160, 240, 320, 240)


def test_a_picture_keeps_its_aspect_in_its_tile() -> None:
    cell = Cell(320, 120, 320, 240)
    assert fit(640, 480, cell) == cell  # 4:3 fills it
    assert fit(1280, 720, cell) == Cell(320, 150, 320, 180)  # 16:9: bands above and below
    assert fit(480, 640, cell) == Cell(390, 120, 180, 240)  # portrait: bands at the sides
    for w, h in ((1280, 720), (480, 640), (636, 478), (2, 2), (4000, 30)):
        inner = fit(w, h, cell)
        assert all(v % 2 == 0 for v in (inner.x, inner.y, inner.width, inner.height))
        assert cell.x <= inner.x and inner.x + inner.width <= cell.x + cell.width
        assert cell.y <= inner.y and inner.y + inner.height <= cell.y + cell.height
    assert fit(0, 0, cell) == cell


def test_tutors_come_first_then_learners_by_join_order() -> None:
    timeline = [
        {"event": "recording_started", "at": 0.0},
        {"event": "participant_joined", "participant": "l2", "role": "learner", "at": 0.1},
        {"event": "participant_joined", "participant": "t1", "role": "tutor", "at": 0.2},
        {"event": "participant_left", "participant": "l2", "at": 3.0},
        {"event": "participant_joined", "participant": "l1", "role": "learner", "at": 4.0},
        {"event": "participant_joined", "participant": "l2", "role": "learner", "at": 5.0},
        {"event": "participant_joined", "participant": "o1", "role": "observer", "at": 6.0},
    ]
    seats = seats_of(timeline)
    assert seats == [Seat("l2", "learner", 0), Seat("t1", "tutor", 1),
                     Seat("l1", "learner", 2), Seat("o1", "observer", 3)]
    assert tile_order(seats) == ["t1", "l2", "l1", "o1"]


def test_a_tile_shows_its_latest_frame_at_or_before_each_instant() -> None:
    feed = TileFeed(iter([(1.0, "a"), (1.033, "b"), (1.066, "c"), (1.1, "d")]))
    assert feed.at(0.0) is None  # before the participant's video: black
    assert feed.at(0.999) is None
    assert feed.at(1.0) == "a"
    assert feed.at(1.01) == "a"
    assert feed.at(1.07) == "c"  # "b" came and went between two output instants
    assert feed.at(1.5) == "d"
    assert feed.consumed == 4
    assert feed.changes == 3


def test_a_tile_reads_at_most_one_frame_ahead() -> None:
    taken: list[float] = []

    def frames() -> Iterator[tuple[float, int]]:
        for i in range(1000):
            taken.append(i / 30)
            yield i / 30, i

    feed = TileFeed(frames())
    assert feed.at(0.5) == 15
    assert len(taken) == 17  # frames 0..15 and the one after, to know 15 is the latest


def test_a_tile_holds_its_last_frame_through_a_short_gap_then_goes_black() -> None:
    feed = TileFeed(iter([(1.0, "a"), (5.0, "b")]), hold_s=1.0)
    assert feed.at(1.9) == "a"  # a freeze: the last frame stays
    assert feed.at(2.5) is None  # a mute or an absence: black
    assert feed.at(5.0) == "b"
    assert feed.at(6.0) == "b"
    assert feed.at(6.2) is None  # after the track ended
    assert feed.changes == 2


def test_audio_chunks_land_on_their_sample_and_silence_fills_what_is_missing() -> None:
    lane = AudioLane()
    lane.add(100, np.full(960, 0.5, dtype=np.float32))  # 100 samples in: not joined
    first = lane.take(960)
    assert (first[:100] == 0).all() and (first[100:] == 0.5).all()
    second = lane.take(960)
    assert (second[:100] == 0.5).all() and (second[100:] == 0).all()


def test_audio_chunks_a_millisecond_off_continue_the_lane_and_overlaps_are_dropped() -> None:
    lane = AudioLane()
    lane.add(0, np.full(960, 0.1, dtype=np.float32))
    lane.add(960 + 30, np.full(960, 0.2, dtype=np.float32))  # pts rounded to 1 ms: joined
    lane.add(1920 - 500, np.full(960, 0.3, dtype=np.float32))  # overlaps by 500: trimmed
    assert lane.end == 1920 + 460
    out = lane.take(2380)
    assert (out[:960] == np.float32(0.1)).all()
    assert (out[960:1920] == np.float32(0.2)).all()
    assert (out[1920:] == np.float32(0.3)).all()


def test_a_late_joiners_audio_waits_without_filling_memory() -> None:
    lane = AudioLane()
    lane.add(48000 * 3600, np.full(960, 0.5, dtype=np.float32))  # an hour in
    assert lane.end == 48000 * 3600 + 960
    assert not lane.take(960).any()
    assert sum(len(s) for _, s in lane._chunks) == 960


def test_audio_already_handed_out_is_not_played_again() -> None:
    lane = AudioLane()
    lane.take(960)
    lane.add(0, np.full(960, 0.5, dtype=np.float32))  # came too late: dropped
    lane.add(960, np.full(960, 0.25, dtype=np.float32))
    assert (lane.take(960) == np.float32(0.25)).all()


def test_the_mix_sums_voices_and_clips_instead_of_wrapping() -> None:
    a = np.full(4, 0.5, dtype=np.float32)
    b = np.array([0.25, 0.7, -0.5, -2.0], dtype=np.float32)
    assert mix([a], 4).tolist() == a.tolist()
    assert mix([a, b], 4).tolist() == [0.75, 1.0, 0.0, -1.0]
    assert mix([], 4).tolist() == [0.0] * 4
    assert mix([np.ones(2, dtype=np.float32)], 4).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_the_canvas_pastes_and_blanks_tiles_in_all_three_planes() -> None:
    canvas = Canvas.black(16, 8)
    cell = Cell(8, 4, 8, 4)
    canvas.paste(cell, np.full((4, 8), 200, np.uint8), np.full((2, 4), 90, np.uint8),
                 np.full((2, 4), 160, np.uint8))
    packed = canvas.packed()
    assert packed.shape == (12, 16)
    assert (canvas.y[4:, 8:] == 200).all() and (canvas.y[:4] == 16).all()
    assert (canvas.u[2:, 4:] == 90).all() and (canvas.v[2:, 4:] == 160).all()
    assert (canvas.u[:2] == 128).all()
    canvas.blank(cell)
    assert (canvas.y == 16).all() and (canvas.u == 128).all() and (canvas.v == 128).all()


def test_the_output_has_one_frame_per_period_up_to_the_sessions_end() -> None:
    assert output_frames(12.069, 15) == 182
    assert output_frames(2.0, 15) == 30
    assert output_frames(0.0, 15) == 1
