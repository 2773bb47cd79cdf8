"""One identifier grammar for room ids, identities, downlink and request ids."""

from __future__ import annotations

import pytest

from media.ids import check_id, valid_id, valid_publication_id


@pytest.mark.parametrize("value", ["lesson-1", "tutor-7", "learner-3", "a", "A_b-9", "x" * 64])
def test_ids_in_use_today_are_valid(value: str) -> None:
    assert valid_id(value) and check_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "..", "../x", "a/b", "a\\b", "a\x00b", "a b", "a\n", "\na", "é", "\ud800", "x" * 65,
     "x" * 1000, "a.b", "a:b", 7, None, b"abc"],
)
def test_ids_with_path_tricks_or_out_of_grammar_are_refused(value: object) -> None:
    # issue 19, defect 6: join accepted `../x`, `..`, `a/b`, `a\x00b`, unicode, 65+ chars
    assert not valid_id(value)
    with pytest.raises(ValueError) as refused:
        check_id(value, "room id")
    assert "room id" in str(refused.value)


def test_publication_ids_are_an_identity_and_a_kind() -> None:
    assert valid_publication_id("tutor-7:video") and valid_publication_id("a:audio")
    assert not valid_publication_id("tutor-7:screen") and not valid_publication_id("../a:video")
