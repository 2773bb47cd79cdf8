"""Property tests of the one guarded read: any text in, a message or a documented refusal out."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from media.ids import valid_id
from signalling import protocol as p
from signalling.errors import SignalCode
from signalling.inbound import Refusal, read

PARSE_CODES = {SignalCode.BAD_JSON, SignalCode.UNKNOWN_TYPE, SignalCode.INVALID_MESSAGE,
               SignalCode.MESSAGE_TOO_LARGE}

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
fields = st.dictionaries(st.sampled_from(["type", "id", "v", "token", "sdp", "downlink", "kind",
                                          "muted", "x"]), json_values, max_size=6)


def check(text: str) -> None:
    result = read(text, max_bytes=4096)
    if isinstance(result, Refusal):
        assert result.error.code in PARSE_CODES
        assert result.request_id is None or valid_id(result.request_id)
        p.Error(id=result.request_id, code=result.error.code,
                message=result.error.message).model_dump_json()  # always serialisable
    else:
        assert valid_id(result.id)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_reads_or_is_refused_with_a_parse_code(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None)
@given(fields, st.sampled_from(sorted(p.CLIENT_TYPES)))
def test_any_object_with_a_known_type_reads_or_is_refused(
    message: dict[str, Any], kind: str
) -> None:
    check(json.dumps({"type": kind, **message}))
    check(json.dumps({**message, "type": kind}))
