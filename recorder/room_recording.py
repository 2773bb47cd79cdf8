"""RoomRecording: one room's recording session, from start to finalize.

The node tells it who joined (role, guardian consent) and hands it every Feed that opens;
it decides by `consent.decide` which publications are recorded and attaches a
`RecordingSink` to those. A participant's track continues across re-publishes (a new
Feed, a new SSRC): the track is keyed by (pseudonym, kind).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from media.feed import Feed
from media.ids import Kind, Role

from .clock import SenderClock
from .consent import Decision, RoomPolicy, decide
from .counters import RecorderCounters
from .ids import TrackKey, file_safe
from .session import SessionFiles
from .sink import RecordingSink
from .track import TrackRecorder

log = structlog.get_logger(__name__)

END_TIMEOUT_S = 20.0


@dataclass
class Member:
    role: Role
    consent: bool
    tracks: set[Kind] = field(default_factory=set)


class RoomRecording:
    def __init__(
        self, files: SessionFiles, room: str, policy: RoomPolicy, start: float,
        clock: Callable[[], float], counters: RecorderCounters, *, segment_s: float,
        queue_packets: int,
    ) -> None:
        self.files = files
        self.session = files.session
        self.room = room
        self.policy = policy
        self.start = start
        self.clock = clock
        self.counters = counters
        self.segment_s = segment_s
        self.queue_packets = queue_packets
        self.loop = asyncio.get_running_loop()
        self.members: dict[str, Member] = {}
        self.tracks: dict[TrackKey, TrackRecorder] = {}
        self.sinks: dict[TrackKey, tuple[Feed, RecordingSink]] = {}
        self._senders: dict[str, SenderClock] = {}
        self.away: set[str] = set()  # seats held (reconnecting), as put on the timeline
        self.stopped = False

    def at(self) -> float:
        return round(self.clock() - self.start, 3)

    # --- participants -----------------------------------------------------------------

    def joined(self, identity: str, role: Role, consent: bool) -> None:
        previous = self.members.get(identity)
        self.members[identity] = Member(role, consent, previous.tracks if previous else set())
        if previous is None:
            self.files.event("participant_joined", participant=file_safe(identity),
                             role=role.value, consent=consent, at=self.at())
        elif previous.consent == consent:
            self.away.discard(identity)
            self.files.event("participant_resumed", participant=file_safe(identity),
                             at=self.at())  # a reconnect, a reload: the seat given back
        else:
            self.files.event("consent_changed", participant=file_safe(identity),
                             consent=consent, at=self.at())
            if not consent:
                self._stop_participant(identity)

    def quality(self, identity: str, level: str, score: float | None) -> None:
        """A participant's live connection quality moved to another level (qos.live)."""
        self.files.event("quality", participant=file_safe(identity), quality=level,
                         score=None if score is None else round(score, 2), at=self.at())

    def reconnecting(self, identity: str, since: float) -> None:
        """The participant's seat is held since `since` (the node's clock): its connection
        or its media went quiet. Its `participant_resumed` ends the phase."""
        if identity in self.members and identity not in self.away:
            self.away.add(identity)
            self.files.event("participant_reconnecting", participant=file_safe(identity),
                             at=round(max(0.0, since - self.start), 3))

    def present(self, identity: str) -> None:
        """The participant is active again without a new join (its media came back)."""
        if identity in self.away:
            self.away.discard(identity)
            self.files.event("participant_resumed", participant=file_safe(identity),
                             at=self.at())

    def left(self, identity: str) -> None:
        self.away.discard(identity)
        if identity in self.members:
            self.files.event("participant_left", participant=file_safe(identity), at=self.at())

    def recorded(self) -> list[str]:
        """Pseudonyms whose tracks are recorded now."""
        return sorted({key.participant for key in self.sinks})

    # --- feeds ------------------------------------------------------------------------

    def decision(self, identity: str, kind: Kind) -> Decision | None:
        member = self.members.get(identity)
        if member is None:
            return None
        return decide(self.policy, member.role, kind, member.consent)

    def feed_opened(self, feed: Feed) -> bool:
        """Attach a sink to `feed` if its owner's track of this kind may be recorded."""
        if self.stopped:
            return False
        decision = self.decision(feed.owner, feed.kind)
        key = TrackKey(feed.owner, feed.kind)
        if decision is None or not decision.record:
            self.files.event("track_not_recorded", participant=file_safe(feed.owner),
                             kind=feed.kind.value, at=self.at(),
                             reason=decision.reason.value if decision else "unknown")
            return False
        track = self.tracks.get(key)
        if track is None:
            track = self.tracks[key] = TrackRecorder(
                self.files, key, self._senders.setdefault(feed.owner, SenderClock()),
                lambda: self._ask_keyframe(key), segment_s=self.segment_s,
                queue_packets=self.queue_packets)
            self.files.event("track_started", track=key.name, kind=key.kind.value,
                             participant=file_safe(key.participant), at=self.at())
        old = self.sinks.pop(key, None)
        if old is not None:
            old[0].remove(old[1])
        sink = RecordingSink(track, self.start, self.clock, self.loop, self.counters)
        feed.add(sink)
        self.sinks[key] = (feed, sink)
        return True

    def _ask_keyframe(self, key: TrackKey) -> None:
        entry = self.sinks.get(key)
        if entry is not None:
            entry[1].request_keyframe_threadsafe()

    def _stop_participant(self, identity: str) -> None:
        for key in [k for k in self.sinks if k.participant == identity]:
            feed, sink = self.sinks.pop(key)
            feed.remove(sink)

    # --- stop -------------------------------------------------------------------------

    async def stop(self) -> dict[str, dict[str, object]]:
        """Stop recording: end every track, wait for the muxing threads, finalize."""
        if self.stopped:
            return {}
        self.stopped = True
        for feed, sink in self.sinks.values():
            feed.remove(sink)
        self.sinks.clear()
        at = self.at()
        self.files.event("recording_stopped", at=at)
        for track in self.tracks.values():
            await asyncio.to_thread(track.end, at)
        for track in self.tracks.values():
            await asyncio.to_thread(track.join, END_TIMEOUT_S)
        try:
            results = await asyncio.to_thread(self.files.finalize) if self.tracks else {}
        except Exception:
            log.exception("recording_finalize_failed", session=self.session)
            results = {}
        if not self.tracks:
            self.files.update(status="finalized")
        self.files.close()
        log.info("recording_finalized", session=self.session, room=self.room,
                 tracks=len(results))
        return results
