"""Who may be recorded (sans-IO): the room's policy, the participant's role and consent.

A learner is a child: their tracks are recorded only with a guardian's consent claim in
their join token, and their video only if the room's policy keeps learner video. The
tutor's tracks may be recorded under the room's policy without a claim. Observers and
reviewers are never recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from media.ids import Kind, Role


class Policy(StrEnum):
    OFF = "off"
    AUDIO = "audio"
    AUDIO_VIDEO = "audio_video"


@dataclass(frozen=True, slots=True)
class RoomPolicy:
    mode: Policy = Policy.OFF
    learner_video: bool = True  # False: a learner's video is never recorded


class Reason(StrEnum):
    RECORDED = "recorded"
    POLICY_OFF = "policy_off"
    AUDIO_ONLY = "policy_audio_only"
    NO_CONSENT = "no_guardian_consent"
    LEARNER_VIDEO_EXCLUDED = "learner_video_excluded"
    NOT_A_PUBLISHER_ROLE = "role_not_recorded"


@dataclass(frozen=True, slots=True)
class Decision:
    record: bool
    reason: Reason


def decide(policy: RoomPolicy, role: Role, kind: Kind, guardian_consent: bool) -> Decision:
    """Whether one participant's track of `kind` is recorded, and why (for the timeline)."""
    if policy.mode is Policy.OFF:
        return Decision(False, Reason.POLICY_OFF)
    if role not in (Role.TUTOR, Role.LEARNER):
        return Decision(False, Reason.NOT_A_PUBLISHER_ROLE)
    if role is Role.LEARNER and not guardian_consent:
        return Decision(False, Reason.NO_CONSENT)
    if kind is Kind.VIDEO and policy.mode is Policy.AUDIO:
        return Decision(False, Reason.AUDIO_ONLY)
    if kind is Kind.VIDEO and role is Role.LEARNER and not policy.learner_video:
        return Decision(False, Reason.LEARNER_VIDEO_EXCLUDED)
    return Decision(True, Reason.RECORDED)
