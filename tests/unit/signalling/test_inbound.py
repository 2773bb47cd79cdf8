"""One guarded read per client message: each malformed input gets its documented code."""

from __future__ import annotations

import json
import random

import pytest

from media.ids import Kind
from signalling import protocol as p
from signalling.errors import SignalCode
from signalling.inbound import MAX_DEPTH, Refusal, read, too_deep

LIMIT = 64 * 1024


def refused(text: str) -> Refusal:
    result = read(text, max_bytes=LIMIT)
    assert isinstance(result, Refusal), result
    return result


def test_a_valid_message_reads_as_its_model() -> None:
    assert read('{"type": "mute", "id": "m1", "kind": "video", "muted": true}',
                max_bytes=LIMIT) == p.Mute(id="m1", kind=Kind.VIDEO, muted=True)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 2_000, 10_000])
def test_deep_nesting_under_the_size_limit_is_bad_json_not_a_recursion_error(depth: int) -> None:
    # issue 19, defects 1 and 3: 2,000 nested arrays crashed the handler or answered internal
    for text in ("[" * depth + "]" * depth,
                 '{"type": "ping", "id": "d1", "x": ' + "[" * depth + "]" * depth + "}",
                 '{"a":' * depth + "1" + "}" * depth):
        refusal = refused(text)
        assert refusal.error.code is SignalCode.BAD_JSON, text[:40]


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert not too_deep('{"sdp": "' + "[" * 100 + '"}', MAX_DEPTH)
    assert not too_deep('{"sdp": "\\"' + "{" * 100 + '"}', MAX_DEPTH)
    assert too_deep('{"sdp": "x", "y": ' + "[" * 17 + "]" * 17 + "}", MAX_DEPTH)


def test_a_lone_surrogate_id_is_refused_and_not_echoed() -> None:
    # issue 19, defect 2: the error reply repeated the id and could not be serialised
    refusal = refused('{"type": "ping", "id": "\\ud800"}')
    assert refusal.error.code is SignalCode.BAD_JSON and refusal.request_id is None
    assert refused('{"type": "publish", "id": "p1", "sdp": "v=0\\udfff"}').request_id is None
    # a surrogate pair is a real character: it reads (and is refused by the id grammar)
    pair = refused('{"type": "ping", "id": "\\ud83d\\ude00"}')
    assert pair.error.code is SignalCode.INVALID_MESSAGE and pair.request_id is None


@pytest.mark.parametrize("kind", ['["ping"]', '{"t": "ping"}', "1", "null", "true", '"PING"'])
def test_a_type_that_is_not_a_known_string_is_unknown_type(kind: str) -> None:
    # issue 19, defect 3: a list or object `type` raised TypeError (unhashable): internal
    refusal = refused(f'{{"type": {kind}, "id": "g1"}}')
    assert (refusal.error.code, refusal.request_id) == (SignalCode.UNKNOWN_TYPE, "g1")


@pytest.mark.parametrize(
    "message",
    [
        {"type": "join", "id": "j1", "v": "1", "token": "t"},  # a string is not a number
        {"type": "join", "id": "j1", "v": True, "token": "t"},  # a boolean is not a number
        {"type": "join", "id": "j1", "v": 1.0, "token": "t"},
        {"type": "join", "id": "j1", "v": 1, "token": 5},
        {"type": "mute", "id": "m1", "kind": "video", "muted": 1},  # a number is not a bool
        {"type": "mute", "id": "m1", "kind": "video", "muted": "true"},
        {"type": "mute", "id": "m1", "kind": "screen", "muted": True},
        {"type": "answer", "id": "a1", "downlink": "../d1", "sdp": "v=0"},
        {"type": "publish", "id": "p1", "sdp": ""},
        {"type": "publish", "id": "p1", "sdp": "x" * (32 * 1024 + 1)},
        {"type": "ping", "id": "p1", "extra": 1},
        {"type": "ping"},
    ],
)
def test_mistyped_fields_are_invalid_message_with_the_id_echoed(message: dict[str, object]) -> None:
    refusal = refused(json.dumps(message))
    assert refusal.error.code is SignalCode.INVALID_MESSAGE, refusal
    assert refusal.request_id == message.get("id")


@pytest.mark.parametrize("rid", ["", "x" * 65, "a b", "a\n", "../x", "é", 7, None, ["r"]])
def test_request_ids_outside_the_grammar_are_refused_and_not_echoed(rid: object) -> None:
    refusal = refused(json.dumps({"type": "ping", "id": rid}))
    assert (refusal.error.code, refusal.request_id) == (SignalCode.INVALID_MESSAGE, None)


@pytest.mark.parametrize("text", ["{not json", "", '{"type": "ping", "id": NaN}',
                                  '{"type": "ping", "id": "a", "n": ' + "9" * 5000 + "}",
                                  '{"type": "ping", "id": Infinity}'])
def test_text_that_is_not_strict_json_is_bad_json(text: str) -> None:
    assert refused(text).error.code is SignalCode.BAD_JSON


def test_a_message_over_the_limit_is_too_large_counting_utf8_bytes() -> None:
    assert refused("x" * (LIMIT + 1)).error.code is SignalCode.MESSAGE_TOO_LARGE
    wide = json.dumps({"type": "publish", "id": "p", "sdp": "é" * (LIMIT // 2)}, ensure_ascii=False)
    assert len(wide) < LIMIT and refused(wide).error.code is SignalCode.MESSAGE_TOO_LARGE


def test_no_input_raises() -> None:
    rng = random.Random(19)
    alphabet = '{}[]":,0123456789.eE+-truefalsnl \\u"typeidping\ud800'
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        result = read(text, max_bytes=LIMIT)
        assert isinstance(result, Refusal | p.Ping)
