"""RoomMedia: the media adapter of one Room (peer connections, feeds, downlinks).

The Room (sans-IO) says who is in the room and what they publish; RoomMedia makes the
peer connections agree with it. `reconcile()` compares the downlinks that should exist
(every publisher's tracks to every subscriber) with those that do, and returns the offers
to send and the downlinks closed, for the signalling layer to deliver.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from aiortc import RTCPeerConnection, RTCSessionDescription

from .consent import check_consent_now, guard_consent
from .counters import ForwardingCounters
from .downlink import DownTrack, ForwardingSender
from .errors import ErrorCode, MediaError
from .fallback import Change, StreamView, VideoBudget
from .feed import Feed
from .feedback import take_downlink_feedback
from .ids import DownlinkId, Identity, Kind, PublicationId, RoomId
from .peer import PeerConfig, announce, restrict_codecs
from .room import Room
from .shedding import sheds
from .starvation import LoopLag
from .udp import prioritise_reads

log = structlog.get_logger(__name__)

QUIET_S = 1.0  # a Feed without a packet for this long is not judged by the fallback


@dataclass
class Downlink:
    """The peer connection carrying one publisher's tracks to one subscriber."""

    id: DownlinkId
    subscriber: Identity
    publisher: Identity
    pc: RTCPeerConnection
    tracks: dict[Kind, DownTrack] = field(default_factory=dict)
    answered: bool = False

    @property
    def kinds(self) -> frozenset[Kind]:
        return frozenset(self.tracks)


@dataclass(frozen=True)
class DownlinkOffer:
    downlink: DownlinkId
    subscriber: Identity
    publisher: Identity
    sdp: str
    publications: dict[str, PublicationId]  # mid -> publication


@dataclass(frozen=True)
class DownlinkClosed:
    downlink: DownlinkId
    subscriber: Identity
    publisher: Identity


class RoomMedia:
    def __init__(
        self,
        room_id: RoomId,
        peer_config: PeerConfig,
        counters: ForwardingCounters,
        clock: Callable[[], float],
        lag: LoopLag | None = None,
    ) -> None:
        self.room_id = room_id
        self.lag = lag  # the node's starvation: ICE consent does not blame peers for it
        self.peer_config = peer_config
        self.counters = counters
        self.clock = clock
        self.feeds: dict[PublicationId, Feed] = {}
        self.uplinks: dict[Identity, RTCPeerConnection] = {}
        self.downlinks: dict[DownlinkId, Downlink] = {}
        self._ids = itertools.count(1)
        self._budgets: dict[Identity, VideoBudget] = {}  # audio-only fallback, per subscriber
        self.feed_opened: list[Callable[[Feed], None]] = []  # e.g. the recorder's hook

    # --- publishing -------------------------------------------------------------------

    async def publish(self, identity: Identity, kinds: list[Kind], offer: str) -> str:
        """Answer a publisher's offer; its tracks feed the Feeds of its publications."""
        pc = self.peer_config.new_peer_connection()
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            if self.lag is not None:
                guard_consent(pc, self.lag, self.clock)
            for transceiver in pc.getTransceivers():
                restrict_codecs(transceiver)
                transceiver.direction = "recvonly"
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
            prioritise_reads(pc)  # the publisher's packets before subscribers' RTCP
        except MediaError:
            await pc.close()
            raise
        except Exception as exc:
            await pc.close()
            raise MediaError(ErrorCode.BAD_SDP, f"offer rejected: {exc}") from exc
        old = self.uplinks.pop(identity, None)
        self.uplinks[identity] = pc
        for transceiver in pc.getTransceivers():
            kind = Kind(transceiver.kind)
            publication_id = PublicationId(f"{identity}:{kind}")
            feed = self.feeds.get(publication_id)
            opened = feed is None
            if feed is None:
                feed = Feed(publication_id, identity, kind, self.counters, self.clock)
                self.feeds[publication_id] = feed
            feed.attach(transceiver.receiver)
            feed.restart_sinks()
            if opened:
                for observe in self.feed_opened:
                    observe(feed)
        for publication_id in [p for p in self.feeds if p.startswith(f"{identity}:")]:
            if Kind(publication_id.rsplit(":", 1)[1]) not in kinds:
                self._drop_feed(publication_id)
        if old is not None:
            await old.close()
        log.info("uplink_opened", room=self.room_id, participant=identity, kinds=kinds)
        return announce(pc.localDescription.sdp, self.peer_config.announced_address)

    async def unpublish(self, identity: Identity) -> None:
        for publication_id in [p for p in self.feeds if p.startswith(f"{identity}:")]:
            self._drop_feed(publication_id)
        pc = self.uplinks.pop(identity, None)
        if pc is not None:
            await pc.close()

    def set_muted(self, publication_id: PublicationId, muted: bool) -> None:
        feed = self.feeds.get(publication_id)
        if feed is not None:
            feed.set_muted(muted)

    def _drop_feed(self, publication_id: PublicationId) -> None:
        feed = self.feeds.pop(publication_id)
        for sink in list(feed.sinks):
            feed.remove(sink)

    def _feed_of(self, downlink: Downlink, kind: Kind) -> Feed | None:
        """The Feed that the downlink's track of this kind is attached to, if any."""
        track = downlink.tracks.get(kind)
        feed = self.feeds.get(PublicationId(f"{downlink.publisher}:{kind}"))
        attached = track is not None and feed is not None and track.upstream is feed
        return feed if attached else None

    # --- subscribing ------------------------------------------------------------------

    async def reconcile(self, room: Room) -> tuple[list[DownlinkOffer], list[DownlinkClosed]]:
        wanted: dict[tuple[Identity, Identity], frozenset[Kind]] = {}
        for participant in room:
            for source in room.publishers_for(participant.identity):
                wanted[(participant.identity, source.identity)] = frozenset(source.publications)
        closed: list[DownlinkClosed] = []
        have: dict[tuple[Identity, Identity], Downlink] = {}
        for downlink in list(self.downlinks.values()):
            key = (downlink.subscriber, downlink.publisher)
            if wanted.get(key) != downlink.kinds:
                closed.append(await self.close_downlink(downlink.id))
            else:
                have[key] = downlink
        offers = []
        for key, kinds in wanted.items():
            if key not in have:
                offers.append(await self._open_downlink(key[0], key[1], kinds))
        return offers, closed

    def check_fallback(self, now: float, is_tutor: Callable[[Identity], bool]) -> None:
        """Run each subscriber's `VideoBudget` (media/fallback.py) over its videos."""
        by_subscriber: dict[Identity, list[StreamView]] = {}
        feeds: dict[DownTrack, Feed] = {}
        for downlink in self.downlinks.values():
            track = downlink.tracks.get(Kind.VIDEO)
            feed = self._feed_of(downlink, Kind.VIDEO)
            if track is None or track.fallback is None or feed is None:
                continue
            feeds[track] = feed
            # a quiet source (its publisher's link is down) says nothing of this link: its
            # last rate and the subscriber's last estimate are stale
            quiet = feed.last_packet_at is None or now - feed.last_packet_at > QUIET_S
            rate = 0.0 if feed.muted or quiet else feed.video_bps
            by_subscriber.setdefault(downlink.subscriber, []).append(
                StreamView(track, is_tutor(downlink.publisher), rate, track.fallback))
        for subscriber, streams in by_subscriber.items():
            budget = self._budgets.setdefault(subscriber, VideoBudget())
            for key, change in budget.check(streams, now):
                if not isinstance(key, DownTrack):
                    continue
                down = key
                down.apply_pause()
                feed = feeds[down]
                if change is Change.PAUSE:
                    self.counters.video_fallbacks += 1
                    feed.drop_estimate(down, now)
                log.info("subscriber_video_" + ("paused" if change is Change.PAUSE else
                                                "resumed"),
                         room=self.room_id, subscriber=subscriber,
                         publication=feed.publication_id, reason="bandwidth",
                         video_kbps=round(feed.video_bps / 1000),
                         retry_s=down.fallback.retry if down.fallback else None)
        for gone in [s for s in self._budgets if s not in by_subscriber]:
            del self._budgets[gone]

    def shed_videos(self, level: int, is_tutor: Callable[[Identity], bool]) -> int:
        """Pause or resume videos for the node's load-shedding `level` (media/shedding.py);
        returns how many changed."""
        changed = 0
        for downlink in self.downlinks.values():
            track = downlink.tracks.get(Kind.VIDEO)
            if track is None:
                continue
            shed = sheds(level, is_tutor(downlink.publisher), is_tutor(downlink.subscriber))
            if track.shed != shed:
                track.shed = shed
                track.apply_pause()
                changed += 1
        return changed

    def subscriptions(self) -> list[DownTrack]:
        """Every DownTrack forwarding a publication now (attached to its Feed)."""
        return [
            track for downlink in self.downlinks.values()
            for kind, track in downlink.tracks.items() if self._feed_of(downlink, kind)
        ]

    def video_paused(self) -> dict[DownlinkId, tuple[Identity, Identity, bool]]:
        """Per downlink with video: (subscriber, publisher, paused by the audio-only
        fallback)."""
        return {
            downlink.id: (downlink.subscriber, downlink.publisher, track.starved)
            for downlink in self.downlinks.values()
            if (track := downlink.tracks.get(Kind.VIDEO)) is not None
        }

    async def _open_downlink(
        self, subscriber: Identity, publisher: Identity, kinds: frozenset[Kind]
    ) -> DownlinkOffer:
        downlink_id = DownlinkId(f"d{next(self._ids)}")
        pc = self.peer_config.new_peer_connection()
        downlink = Downlink(downlink_id, subscriber, publisher, pc)
        for kind in sorted(kinds):  # audio before video, a stable m-line order
            transceiver = pc.addTransceiver(kind, direction="sendonly")
            restrict_codecs(transceiver)
            sender = ForwardingSender(kind, transceiver.receiver.transport, self.counters)
            sender._stream_id = transceiver.sender._stream_id
            transceiver._RTCRtpTransceiver__sender = sender  # type: ignore[attr-defined]
            transceiver.receiver._set_rtcp_ssrc(sender._ssrc)
            downlink.tracks[kind] = DownTrack(kind, sender, self.clock)
        if self.lag is not None:
            guard_consent(pc, self.lag, self.clock)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                for down_track in downlink.tracks.values():
                    down_track.ready = True
                    down_track.request_keyframe()

        await pc.setLocalDescription(await pc.createOffer())
        self.downlinks[downlink_id] = downlink
        publications: dict[str, PublicationId] = {}
        for transceiver in pc.getTransceivers():
            publication_id = PublicationId(f"{publisher}:{transceiver.kind}")
            publications[str(transceiver.mid)] = publication_id
            feed = self.feeds.get(publication_id)
            if feed is not None:
                feed.add(downlink.tracks[Kind(transceiver.kind)])
        log.info(
            "downlink_opened", room=self.room_id, downlink=downlink_id,
            subscriber=subscriber, publisher=publisher,
        )
        sdp = announce(pc.localDescription.sdp, self.peer_config.announced_address)
        return DownlinkOffer(downlink_id, subscriber, publisher, sdp, publications)

    async def answer_downlink(self, subscriber: Identity, downlink_id: str, sdp: str) -> None:
        downlink = self.downlinks.get(DownlinkId(downlink_id))
        if downlink is None or downlink.subscriber != subscriber:
            raise MediaError(ErrorCode.UNKNOWN_DOWNLINK, f"no downlink {downlink_id} for you")
        if downlink.answered:
            raise MediaError(ErrorCode.BAD_SDP, f"downlink {downlink_id} is already answered")
        try:
            await downlink.pc.setRemoteDescription(
                RTCSessionDescription(sdp=sdp, type="answer")
            )
        except Exception as exc:
            raise MediaError(ErrorCode.BAD_SDP, f"answer rejected: {exc}") from exc
        downlink.answered = True
        take_downlink_feedback(downlink.tracks.values())  # transports bundled by now

    async def close_downlink(self, downlink_id: DownlinkId) -> DownlinkClosed:
        downlink = self.downlinks.pop(downlink_id)
        for kind, down_track in downlink.tracks.items():
            feed = self._feed_of(downlink, kind)
            if feed is not None:
                feed.remove(down_track)
        await downlink.pc.close()
        return DownlinkClosed(downlink.id, downlink.subscriber, downlink.publisher)

    # --- lifecycle --------------------------------------------------------------------

    async def detach_participant(self, identity: Identity) -> None:
        """Close the participant's own peer connections but keep its Feeds: it is coming
        back on new ones, and its subscribers' streams continue."""
        pc = self.uplinks.pop(identity, None)
        if pc is not None:
            await pc.close()
        for feed in self.feeds.values():
            if feed.owner == identity:
                feed.last_packet_at = None  # quiet until the new uplink sends
        for downlink in list(self.downlinks.values()):
            if downlink.subscriber == identity:
                await self.close_downlink(downlink.id)

    def check_ice(self, identity: Identity) -> int:
        """The participant's link is back: one ICE consent check now on each of its peer
        connections, and a keyframe for each of its video downlinks (what they carried
        meanwhile was lost: its decoders need a new start)."""
        downlinks = [d for d in self.downlinks.values() if d.subscriber == identity]
        for downlink in downlinks:
            video = downlink.tracks.get(Kind.VIDEO)
            if video is not None:
                video.request_keyframe()
        pcs = [self.uplinks.get(identity), *(d.pc for d in downlinks)]
        return sum(check_consent_now(pc) for pc in pcs if pc is not None)

    def uplink_stalled(
        self, identity: Identity, now: float, video_after: float, audio_after: float,
        starved_until: float | None = None,
    ) -> bool:
        """True if the participant publishes, has sent media on its current uplink, and has
        now gone quiet: no video for `video_after` s (or, audio only, no audio for
        `audio_after` s, which allows for Opus DTX). Muted tracks are not watched: a client
        may stop sending them. Silence counts from `starved_until` if that is later than
        the last packet: while the node itself was starved it was not listening
        (media/starvation.py)."""
        floor = starved_until if starved_until is not None else float("-inf")
        feeds = {
            f.kind: f for f in self.feeds.values() if f.owner == identity and not f.muted
        }
        video, audio = feeds.get(Kind.VIDEO), feeds.get(Kind.AUDIO)
        if video is not None and video.last_packet_at is not None:
            return now - max(video.last_packet_at, floor) >= video_after
        if audio is not None and audio.last_packet_at is not None:
            return now - max(audio.last_packet_at, floor) >= audio_after
        return False

    async def remove_participant(self, identity: Identity) -> None:
        """Close what the participant sent and received; downlinks that carried its
        tracks to others are closed (and announced) by the next `reconcile`."""
        await self.unpublish(identity)
        for downlink in list(self.downlinks.values()):
            if downlink.subscriber == identity:
                await self.close_downlink(downlink.id)

    async def close(self) -> None:
        for identity in list(self.uplinks):
            await self.unpublish(identity)
        for downlink_id in list(self.downlinks):
            await self.close_downlink(downlink_id)
        await asyncio.sleep(0)
