// Who is in the room and what they publish, from the node's `joined` and events. Pure: no
// DOM. The page hangs its view (`tile`, `meter`) and its downlink on each participant.

export class Participant {
  constructor(info, local) {
    this.identity = info.identity;
    this.name = info.name || info.identity;
    this.role = info.role;
    this.local = local;
    this.publications = new Map(); // kind -> {id, muted}
    this.peerTrouble = false; // one of this page's peer connections to it dropped
    this.nodeReconnecting = false; // the node holds its seat (participant_reconnecting)
    this.tile = null; // set by the page
    this.meter = null; // set by the page: its speaking indicator
    this.downlink = null; // the current downlink carrying this publisher's tracks
    this.update(info);
  }

  update(info) {
    this.nodeReconnecting = info.presence === 'reconnecting';
    this.setPublications(info.publications ?? []);
  }

  setPublications(list) {
    this.publications = new Map(list.map((p) => [p.kind, { id: p.id, muted: p.muted }]));
  }

  /** The kinds that should be flowing from this publisher right now. */
  liveKinds() {
    return new Set([...this.publications].filter(([, p]) => !p.muted).map(([kind]) => kind));
  }

  /** Shown as reconnecting: the node says so, or a peer connection to it dropped. */
  get reconnecting() {
    return this.peerTrouble || this.nodeReconnecting;
  }
}

export class Roster {
  constructor() {
    this.participants = new Map(); // identity -> Participant
    this.me = null; // this page's identity, from `joined`
  }

  get local() {
    return this.participants.get(this.me) ?? null;
  }

  get size() {
    return this.participants.size;
  }

  get(identity) {
    return this.participants.get(identity);
  }

  values() {
    return this.participants.values();
  }

  /** Take this page's identity from `joined`; return the identities it no longer lists. */
  join(joined) {
    this.me = joined.participant.identity;
    const present = new Set(joined.room.participants.map((p) => p.identity));
    return [...this.participants.keys()].filter((identity) => !present.has(identity));
  }

  /** Add or update a participant from its info: {participant, created}. */
  upsert(info) {
    const known = this.participants.get(info.identity);
    if (known !== undefined) {
      known.update(info);
      return { participant: known, created: false };
    }
    const participant = new Participant(info, info.identity === this.me);
    this.participants.set(info.identity, participant);
    return { participant, created: true };
  }

  remove(identity) {
    this.participants.delete(identity);
  }

  clear() {
    this.participants.clear();
  }

  /** Apply track_published / track_unpublished / track_muted: its owner, or null. */
  applyPublication(message) {
    const publication = message.publication;
    const participant = this.participants.get(publication?.owner);
    if (participant === undefined) return null;
    if (message.type === 'track_unpublished') {
      participant.publications.delete(publication.kind);
    } else {
      participant.publications.set(publication.kind, { id: publication.id, muted: publication.muted });
    }
    return participant;
  }

  /** Apply participant_reconnecting / participant_resumed: the participant if it changed. */
  applyPresence(message) {
    const identity = message.identity ?? message.participant?.identity;
    const participant = this.participants.get(identity);
    if (participant === undefined) return null;
    const reconnecting = message.type === 'participant_reconnecting';
    if (participant.nodeReconnecting === reconnecting) return null;
    participant.nodeReconnecting = reconnecting;
    return participant;
  }
}
