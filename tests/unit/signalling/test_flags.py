"""Feature flags (signalling/flags.py): rules in order, percentage rollouts by a stable hash
of flag and room, the settings as defaults; the rollout claims of the join token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import jwt
import pytest
from pydantic import ValidationError

from media.ids import Role, RoomId
from signalling.errors import SignalError
from signalling.flags import (
    FLAG_NAMES,
    Audience,
    FlagBook,
    FlagFile,
    FlagsError,
    RoomFlags,
    load_flag_file,
    stable_bucket,
)
from signalling.settings import Settings, describe_errors
from signalling.tokens import TokenClaims, TokenGrants, mint, resume_token, verify

SECRET = "unit-secret-0123456789abcdef0123"
ROOMS = [RoomId(f"lesson-{i}") for i in range(1000)]
COHORT_A, COHORT_B = Audience(cohort="pilot-a"), Audience(cohort="pilot-b")


SETTINGS = RoomFlags()


def book(flags: Mapping[str, object], version: str = "v7",
         settings: RoomFlags = SETTINGS) -> FlagBook:
    return FlagBook(FlagFile.model_validate({"version": version, "flags": flags}), settings)


HALF_OF_A = {"audio_only_fallback": {"default": True, "rules": [
    {"cohort": "pilot-a", "percent": 50, "value": False}]}}


def test_a_flag_at_50_percent_of_a_cohort_splits_its_rooms_by_hash_and_no_other() -> None:
    flags = book(HALF_OF_A)
    off = [r for r in ROOMS if not flags.evaluate(r, COHORT_A).audio_only_fallback]
    assert 450 <= len(off) <= 550, len(off)
    assert all(flags.evaluate(r, COHORT_B).audio_only_fallback for r in ROOMS)
    assert all(flags.evaluate(r).audio_only_fallback for r in ROOMS)  # no cohort claim
    # only the flag named: the other keeps its setting in every room
    assert all(flags.evaluate(r, COHORT_A).shed_video for r in ROOMS)
    # the rooms that are off are those whose bucket for this flag is below 5000
    assert off == [r for r in ROOMS if stable_bucket("audio_only_fallback", r) < 5000]


def test_the_same_room_gets_the_same_flags_on_every_evaluation_and_every_node() -> None:
    node_a, node_b = book(HALF_OF_A), book(json.loads(json.dumps(HALF_OF_A)))
    first = [node_a.evaluate(r, COHORT_A) for r in ROOMS]
    assert [node_a.evaluate(r, COHORT_A) for r in ROOMS] == first
    assert [node_b.evaluate(r, COHORT_A) for r in ROOMS] == first


def test_the_bucket_is_the_same_in_another_process_whatever_its_hash_seed() -> None:
    """Python's own hash() is salted per process; the flags' is sha256 and is not."""
    here = [stable_bucket("shed_video", r) for r in ROOMS[:50]]
    code = ("from signalling.flags import stable_bucket; "
            "print([stable_bucket('shed_video', f'lesson-{i}') for i in range(50)])")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=60, check=True).stdout
    assert json.loads(there) == here
    assert all(0 <= b < 10_000 for b in here) and len(set(here)) > 40


def test_each_flag_has_its_own_split() -> None:
    both = {name: {"rules": [{"percent": 50, "value": False}]} for name in FLAG_NAMES}
    flags = book(both)
    values = [flags.evaluate(r) for r in ROOMS]
    same = sum(1 for v in values if v.audio_only_fallback == v.shed_video)
    assert 400 <= same <= 600, same  # independent halves, not the same rooms


def test_rules_match_in_order_and_every_condition_a_rule_names_must_hold() -> None:
    flags = book({"shed_video": {"default": True, "rules": [
        {"cohort": "pilot-a", "channel": "school", "value": False},
        {"segment": "early-readers", "value": False},
        {"cohort": "pilot-a", "value": True},
        {"cohort": "pilot-a", "percent": 100, "value": False},
    ]}})
    room = ROOMS[0]
    assert not flags.evaluate(room, Audience("pilot-a", None, "school")).shed_video
    assert flags.evaluate(room, Audience("pilot-a", None, "home")).shed_video  # rule 3 first
    assert not flags.evaluate(room, Audience("pilot-b", "early-readers", "school")).shed_video
    assert flags.evaluate(room, Audience("pilot-b", "older", "school")).shed_video  # default


def test_percent_0_matches_no_room_and_100_every_room() -> None:
    never = book({"shed_video": {"rules": [{"percent": 0, "value": False}]}})
    always = book({"shed_video": {"rules": [{"percent": 100, "value": False}]}})
    assert all(never.evaluate(r).shed_video for r in ROOMS)
    assert not any(always.evaluate(r).shed_video for r in ROOMS)


def test_without_a_file_or_a_default_the_settings_decide() -> None:
    settings = RoomFlags(audio_only_fallback=False, shed_video=False)
    none = FlagBook(None, settings)
    assert none.evaluate(ROOMS[0], COHORT_A) == settings
    assert none.version is None and not none.defines("shed_video")
    no_default = book({"shed_video": {"rules": [{"cohort": "x", "value": True}]}},
                      settings=settings)
    assert no_default.evaluate(ROOMS[0], COHORT_A) == RoomFlags("v7", False, False)
    assert no_default.evaluate(ROOMS[0], Audience(cohort="x")).shed_video
    defaulted = book({"shed_video": {"default": True}}, settings=settings)
    assert defaulted.evaluate(ROOMS[0]).shed_video


def test_every_flag_is_a_boolean_setting_of_the_same_name() -> None:
    for name in FLAG_NAMES:
        assert Settings.model_fields[name].annotation is bool, name


def test_a_node_without_flags_runs_as_its_settings_say(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, shed_video=False)
    flags = FlagBook.from_settings(settings).evaluate(ROOMS[0], COHORT_A)
    assert flags == RoomFlags(version=None, audio_only_fallback=True, shed_video=False)


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "flags.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_a_flags_file_is_read_with_its_version(tmp_path: Path) -> None:
    path = write(tmp_path, {"version": "2026-12-01", "flags": HALF_OF_A})
    settings = Settings(data_dir=tmp_path, flags_file=str(path))
    flags = FlagBook.from_settings(settings)
    assert flags.version == "2026-12-01"
    assert flags.evaluate(ROOMS[0], COHORT_B).version == "2026-12-01"


@pytest.mark.parametrize(("content", "says"), [
    ("{not json", "flags file"),
    ({"flags": {}}, "flags file version: Field required"),
    ({"version": "v 1", "flags": {}}, "flags file version"),
    ({"version": "v1", "flags": {"shed_vidoe": {}}}, "unknown flag 'shed_vidoe'"),
    ({"version": "v1", "flags": {"shed_video": {"rules": [{"percent": "50", "value": True}]}}},
     "flags file flags.shed_video.rules.0.percent"),
    ({"version": "v1", "flags": {"shed_video": {"rules": [{"percent": 101, "value": True}]}}},
     "less than or equal to 100"),
    ({"version": "v1", "flags": {"shed_video": {"rules": [{"cohort": "a"}]}}}, "value"),
    ({"version": "v1", "flags": {"shed_video": {"rules": [{"cohort": "a/b", "value": 1}]}}},
     "cohort"),
    ({"version": "v1", "flags": {"shed_video": {"default": "yes"}}}, "default"),
])
def test_a_bad_flags_file_is_refused_in_one_line(tmp_path: Path, content: object,
                                                 says: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(FlagsError) as error:
        load_flag_file(path)
    assert says in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ValidationError) as invalid:
        Settings(data_dir=tmp_path, flags_file=str(path))
    [line] = describe_errors(invalid.value, {})
    assert line.startswith(f"LIVEROOM_FLAGS_FILE={path}: ") and says in line


def test_a_missing_flags_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FlagsError, match="cannot read the flags file"):
        load_flag_file(tmp_path / "absent.json")


# --- the rollout claims of the join token ----------------------------------------------


def test_the_rollout_claims_go_into_the_token_and_its_resume_token() -> None:
    audience = Audience(cohort="pilot-a", segment="early-readers", channel="school")
    token = mint(SECRET, room="r1", identity="learner-1", role=Role.LEARNER,
                 audience=audience)
    claims = verify(SECRET, token, room="r1")
    assert claims.audience() == audience
    resumed = verify(SECRET, resume_token(SECRET, claims, 600))
    assert resumed.audience() == audience and resumed.typ == "resume"
    plain = verify(SECRET, mint(SECRET, room="r1", identity="l", role=Role.LEARNER))
    assert plain.audience() == Audience()


@pytest.mark.parametrize("bad", ["", "two words", "x" * 65, "ünicode", 7])
def test_a_rollout_claim_outside_the_id_grammar_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        mint(SECRET, room="r1", identity="l", role=Role.LEARNER,
             audience=Audience(cohort=bad))  # type: ignore[arg-type]
    now = int(time.time())
    claims = TokenClaims(sub="l", room="r1", role=Role.LEARNER, exp=now + 600, iat=now,
                         grants=TokenGrants(publish=True, subscribe=True))
    payload = {**claims.model_dump(mode="json"), "segment": bad, "iss": "liveroom"}
    with pytest.raises(SignalError, match="segment"):
        verify(SECRET, jwt.encode(payload, SECRET, "HS256"))
