"""The talk-time detector, fed levels and times by hand (no loop, no packets)."""

from __future__ import annotations

import pytest

from media.talk import FRAME_S, TalkDetector, share

LOUD, QUIET, SILENT = 10, 70, 127


def feed(d: TalkDetector, pattern: list[int], start: float = 0.0) -> float:
    """One level per 20 ms frame from `start`; returns the time after the last."""
    t = start
    for level in pattern:
        d.on_level(level, t)
        t += FRAME_S
    return t


def test_a_beep_of_five_frames_is_100_ms_of_talk() -> None:
    d = TalkDetector(hangover_s=0.5)
    end = feed(d, [SILENT] * 10 + [LOUD] * 5 + [SILENT] * 40)
    (span,) = d.take()
    assert span.start == pytest.approx(0.2) and span.end == pytest.approx(0.3)
    assert d.talk_s(end) == pytest.approx(0.1)
    assert not d.speaking


def test_pauses_shorter_than_the_hangover_are_bridged_without_adding_time() -> None:
    d = TalkDetector(hangover_s=0.3)
    feed(d, [LOUD] * 5 + [SILENT] * 10 + [LOUD] * 5 + [SILENT] * 30)
    (span,) = d.take()
    assert span.start == 0.0 and span.end == pytest.approx(0.4)


def test_a_pause_longer_than_the_hangover_splits_the_span() -> None:
    d = TalkDetector(hangover_s=0.3)
    feed(d, [LOUD] * 5 + [SILENT] * 20 + [LOUD] * 5 + [SILENT] * 30)
    spans = d.take()
    assert [round(s.duration, 3) for s in spans] == [0.1, 0.1]
    assert d.spans == 2 and d.closed_s == pytest.approx(0.2)


def test_a_loud_packet_after_a_long_silence_closes_the_old_span_first() -> None:
    d = TalkDetector(hangover_s=0.3)
    d.on_level(LOUD, 0.0)
    d.on_level(LOUD, 2.0)  # no packet between (DTX, a gap): two spans, not one of 2 s
    assert [s.duration for s in d.take()] == [pytest.approx(FRAME_S)]
    assert d.speaking and d.talk_s(2.0) == pytest.approx(FRAME_S)


def test_levels_under_the_threshold_are_silence() -> None:
    d = TalkDetector(threshold=50)
    feed(d, [QUIET] * 50)
    d.poll(10.0)
    assert d.talk_s(10.0) == 0.0 and d.take() == []
    feed(d, [50] * 3, start=20.0)  # at the threshold: voiced
    d.stop()
    assert d.closed_s == pytest.approx(0.06)


def test_the_open_span_counts_until_now_and_poll_closes_it_after_the_hangover() -> None:
    d = TalkDetector(hangover_s=0.5)
    feed(d, [LOUD] * 10)  # 0.0 .. 0.18
    assert d.talk_s(0.1) == pytest.approx(0.1)
    assert d.talk_s(5.0) == pytest.approx(0.2)  # capped at the last voiced frame
    d.poll(0.5)
    assert d.speaking  # within the hangover
    d.poll(0.7)
    assert not d.speaking and d.closed_s == pytest.approx(0.2)


def test_stop_closes_at_once_and_is_idempotent() -> None:
    d = TalkDetector()
    feed(d, [LOUD] * 3)
    d.stop()
    d.stop()
    assert d.spans == 1 and d.closed_s == pytest.approx(0.06)


def test_a_scripted_share_is_measured_exactly() -> None:
    tutor, learner = TalkDetector(), TalkDetector()
    # one second per round for a minute: the tutor speaks 300 ms, the learner 100 ms
    for second in range(60):
        feed(tutor, [LOUD] * 15 + [SILENT] * 35, start=float(second))
        feed(learner, [LOUD] * 5 + [SILENT] * 45, start=float(second))
    tutor.stop()
    learner.stop()
    talk = {"t": tutor.closed_s, "l": learner.closed_s}
    assert talk["t"] == pytest.approx(18.0) and talk["l"] == pytest.approx(6.0)
    assert share(talk, {"t"}) == pytest.approx(0.75)
    assert share({"t": 0.0}, {"t"}) is None


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        TalkDetector(threshold=128)
    with pytest.raises(ValueError):
        TalkDetector(hangover_s=-1)


def test_pending_spans_are_bounded() -> None:
    d = TalkDetector(hangover_s=0.0)
    for i in range(10_050):
        d.on_level(LOUD, i * 1.0)
    d.stop()
    assert len(d.take()) == 10_000 and d.spans == 10_050


def test_the_open_part_counts_from_since() -> None:
    d = TalkDetector()
    feed(d, [LOUD] * 10, start=1.0)  # 1.0 .. 1.2
    assert d.open_s(1.2, since=0.0) == pytest.approx(0.2)
    assert d.open_s(1.2, since=1.1) == pytest.approx(0.1)
    d.stop()
    assert d.open_s(1.2, since=0.0) == 0.0


def test_the_open_span_can_be_read_without_closing_it() -> None:
    d = TalkDetector()
    assert d.open_span(1.0) is None
    feed(d, [LOUD] * 10, start=1.0)
    span = d.open_span(1.1)
    assert span is not None and span.start == 1.0 and span.end == pytest.approx(1.1)
    assert d.speaking and d.take() == []
