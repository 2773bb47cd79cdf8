// A live session: the glue between the socket (signalling.js), the room model (roster.js),
// this page's camera and microphone (local.js), the peer connections (peers.js), the
// reconnect rules (continuity.js, retry.js) and what the page shows and says (room-view.js).
// A lost connection is rejoined with the last `joined`'s resume token, the same stream
// published again, the mute state re-applied; the numbers are the node's (`policy`).

import { BrowserSignals } from './browser-signals.js';
import { LINK_BACK_WAIT_MS, finalReason } from './continuity.js';
import { LocalMedia } from './local.js';
import { Peers } from './peers.js';
import { retryJoin } from './retry.js';
import { RoomView } from './room-view.js';
import { Roster } from './roster.js';
import { CLOSE, PROTOCOL_VERSION, Signalling, SignallingError, socketUrl } from './signalling.js';

export class Session extends EventTarget {
  #published = false; // published at least once (so a publish now is a re-publish)
  // what the browser knows at once: offline, online, the tab going away
  #browser = new BrowserSignals({
    onOffline: () => this.#hold(true),
    onOnline: () => this.#hold(false),
    onPageHide: () => this.#unload(),
  });

  /** `policy`: the node's reconnect numbers, a ReconnectPolicy (continuity.js). */
  constructor({ token, claims, stream, iceServers, policy }) {
    super();
    this.token = token;
    this.claims = claims;
    this.local = new LocalMedia(stream); // stream: a MediaStream, or null (watch and listen)
    this.policy = policy;
    this.iceServers = iceServers; // the node's STUN servers; TURN ones come with `joined`
    this.state = 'idle'; // idle | joining | live | reconnecting | ended
    this.signalling = null;
    this.resumeToken = null; // from `joined`: takes the seat back after a lost connection
    this.roster = new Roster();
    this.peers = new Peers({
      iceServers,
      policy,
      isLive: () => this.state === 'live',
      onProblem: (owner, first) => this.#onPeerProblem(owner, first),
      onRecovered: (owner) => this.#setPeerTrouble(owner, false),
      onChange: () => this.#updateBanner(),
      onLost: () => this.#reconnect(),
      onQuality: (owner, rating) => this.view.quality(owner, rating),
      onAudioTrack: (owner, track) => this.view.listen(owner, new MediaStream([track])),
      onDownlinkClosed: (owner) => this.#onDownlinkClosed(owner),
    });
    this.view = new RoomView();
    this.recording = false;
  }

  get muted() { return this.local.muted; } // {audio, video}

  get announcer() { return this.view.announcer; }

  get participants() { return this.roster.participants; }

  get localParticipant() { return this.roster.local; }

  get uplink() { return this.peers.uplink; } // {pc, monitor} or null

  // --- lifecycle -----------------------------------------------------------------------

  /** Join and publish; rejects with a SignallingError (e.g. code 'room_full'). */
  async start() {
    this.state = 'joining';
    try {
      await this.#connect();
    } catch (error) {
      this.#teardown();
      this.view.clearTiles();
      this.roster.clear();
      this.state = 'idle';
      throw error;
    }
    this.state = 'live';
    this.#renderControls();
    this.peers.startWatching();
    this.#browser.attach();
  }

  /** The tab is going away (closed, or reloaded: the page cannot tell which): tell the
   * node, which then holds the seat only briefly (docs/protocol.md, `leave`). A reload
   * takes it back at once (main.js); a closed tab is seen as left within seconds. */
  #unload() {
    if (this.state === 'ended') return;
    const signalling = this.signalling;
    this.#end('unload');
    if (signalling?.isOpen) {
      signalling.request({ type: 'leave', unload: true }, 1000).catch(() => {});
    }
  }

  async leave() {
    if (this.state === 'ended') return;
    const signalling = this.signalling;
    this.#end('left');
    if (signalling?.isOpen) {
      try {
        await signalling.request({ type: 'leave' }, 3000);
      } catch {
        // the socket closes below either way
      }
    }
    signalling?.close();
  }

  async #connect() {
    const signalling = new Signalling(socketUrl(this.claims.room));
    this.signalling = signalling;
    signalling.addEventListener('message', (event) => {
      if (this.signalling === signalling) this.#onEvent(event.detail);
    });
    signalling.addEventListener('close', (event) => {
      if (this.signalling === signalling) this.#onSocketClose(event.detail);
    });
    try {
      await signalling.open(this.policy.attemptTimeoutMs);
      const joined = await signalling.request({
        type: 'join', v: PROTOCOL_VERSION, token: this.resumeToken ?? this.token,
      }, this.policy.attemptTimeoutMs);
      this.resumeToken = joined.resume_token ?? null;
      this.peers.iceServers = [...this.iceServers, ...(joined.ice_servers ?? [])]; // + TURN
      this.#applyRoom(joined);
      if (this.claims.canPublish && this.local.publishable) await this.#publish();
    } catch (error) {
      if (this.signalling === signalling) this.signalling = null;
      signalling.close();
      throw error;
    }
  }

  async #publish() {
    try {
      await this.peers.publish(this.signalling, this.local.stream, this.localParticipant);
    } catch (error) {
      if (error instanceof SignallingError && error.code === 'disconnected') throw error;
      console.warn('publish failed', error);
      this.view.alerter.say('Your camera and microphone could not be sent. Others cannot see or hear you.');
      return;
    }
    const republished = this.#published;
    this.#published = true;
    for (const kind of this.local.kindsToAnnounce(republished)) {
      await this.#sendMute(kind, this.local.muted[kind]);
    }
  }

  #onSocketClose({ code, byUs, closingReason }) {
    if (this.state !== 'live' || byUs) return;
    const final = finalReason(code, closingReason);
    if (final !== null) this.#end(final);
    else this.#reconnect();
  }

  /** Offline: say so at once but keep the socket and the peer connections (after a short
   * cut they carry on; new ones could not be made before the link is back anyway).
   * Online: keep what came back, or rebuild (Peers.linkBack, docs/continuity.md). */
  async #hold(offline) {
    if (this.state !== 'live') return;
    if (offline) {
      if (!this.peers.hold()) return;
      this.view.alerter.say('Connection lost. Reconnecting…');
    } else {
      const kept = await this.peers.linkBack(LINK_BACK_WAIT_MS, this.signalling);
      if (kept === null || this.state !== 'live') return;
      if (!kept) return this.#reconnect();
      this.view.alerter.say('Reconnected.');
    }
    this.#markOthers(offline); // their tiles keep the last frame, marked reconnecting
    this.#updateBanner();
  }

  async #reconnect() {
    if (this.state !== 'live') return;
    this.state = 'reconnecting';
    this.#updateBanner();
    this.view.alerter.say('Connection lost. Reconnecting…');
    const old = this.signalling;
    this.signalling = null;
    old?.close(CLOSE.NORMAL, 'reconnecting');
    this.view.freezeFrames(this.roster.values());
    this.#closePeers();
    const outcome = await retryJoin({
      policy: this.policy,
      wait: (ms) => this.#browser.wait(ms), // cut short when the browser is online again
      attempt: () => this.#connect(),
      going: () => this.state === 'reconnecting',
    });
    if (outcome === 'late') this.signalling?.close();
    if (outcome === 'stopped' || outcome === 'late') return;
    if (outcome !== 'joined') {
      this.#end(outcome);
      return;
    }
    this.state = 'live';
    this.#updateBanner();
    this.view.alerter.say('Reconnected.');
    this.dispatchEvent(new Event('reconnected'));
  }

  #end(reason) {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.#browser.detach();
    this.peers.stopWatching();
    this.#teardown();
    this.local.stop();
    this.#updateBanner();
    this.dispatchEvent(new CustomEvent('ended', { detail: { reason } }));
  }

  #teardown() {
    this.#closePeers();
    for (const participant of this.roster.values()) participant.meter?.stop();
  }

  #closePeers() {
    this.peers.close();
    // while reconnecting the others' tiles keep their last frame, marked reconnecting
    // until their new downlink connects
    this.#markOthers(this.state === 'reconnecting');
  }

  #markOthers(trouble) {
    for (const participant of this.roster.values()) {
      participant.peerTrouble = trouble && !participant.local;
      this.#renderTile(participant);
    }
  }

  // --- room state ----------------------------------------------------------------------

  #applyRoom(joined) {
    for (const identity of this.roster.join(joined)) this.#removeParticipant(identity);
    for (const info of joined.room.participants) this.#upsertParticipant(info);
  }

  #upsertParticipant(info) {
    const { participant, created } = this.roster.upsert(info);
    if (created) this.view.addTile(participant, this.local.stream, this.roster.size);
    this.#renderTile(participant);
    return participant;
  }

  #removeParticipant(identity) {
    const participant = this.roster.get(identity);
    if (participant === undefined) return null;
    if (participant.downlink !== null) this.peers.closeDownlink(participant.downlink.id);
    this.roster.remove(identity);
    this.view.removeTile(participant, this.roster.size);
    return participant;
  }

  #renderTile(participant) {
    this.view.renderTile(participant, this.local.state); // the local tile shows our tracks
  }

  #onEvent(message) {
    switch (message.type) {
      case 'participant_joined':
        this.view.joined(this.#upsertParticipant(message.participant));
        break;
      case 'participant_left': {
        const participant = this.#removeParticipant(message.identity);
        if (participant !== null && message.reason !== 'replaced') this.view.left(participant);
        break;
      }
      case 'track_published':
      case 'track_unpublished':
      case 'track_muted':
        this.#onPublication(message);
        break;
      case 'offer':
        this.#acceptDownlink(message);
        break;
      case 'downlink_closed':
        this.peers.closeDownlink(message.downlink);
        break;
      case 'participant_reconnecting':
      case 'participant_resumed':
        this.#onParticipantReconnecting(message);
        break;
      case 'video_paused':
        this.#onVideoPaused(message);
        break;
      case 'recording_started':
      case 'recording_stopped':
        this.#setRecording(message.type === 'recording_started', message.recorded);
        break;
      case 'error':
        console.warn('node error', message.code, message.message);
        break;
      default:
        // A newer node may send events this page does not know: ignore them.
        console.debug('ignoring event', message.type);
    }
  }

  #onPublication(message) {
    const participant = this.roster.applyPublication(message);
    if (participant === null) return;
    this.#renderTile(participant);
    if (message.type === 'track_muted') {
      this.view.trackMuted(participant, message.publication.kind, message.muted);
    }
  }

  #onVideoPaused(message) {
    const participant = this.roster.get(message.publisher);
    if (participant !== undefined && !participant.local) {
      this.view.videoPaused(participant, message.paused);
    }
  }

  #onParticipantReconnecting(message) {
    const participant = this.roster.applyPresence(message);
    if (participant === null) return;
    this.#renderTile(participant);
    this.view.presence(participant);
  }

  #setRecording(recording, recorded) {
    if (recording && Array.isArray(recorded)) {
      this.view.recordingScope(recorded.includes(this.roster.me));
    }
    if (this.recording === recording) return;
    this.recording = recording;
    this.view.recording(recording);
  }

  // --- downlinks -----------------------------------------------------------------------

  #acceptDownlink(offer) {
    const participant = this.roster.get(offer.publisher)
      ?? this.#upsertParticipant({ identity: offer.publisher, name: offer.publisher, role: '' });
    const downlink = this.peers.acceptDownlink(this.signalling, offer, participant);
    this.view.showDownlink(participant, downlink.stream);
  }

  #onDownlinkClosed(participant) {
    if (this.state === 'reconnecting') this.view.freezeDownlink(participant);
    else this.view.dropDownlink(participant);
    participant.peerTrouble = false;
    this.#renderTile(participant);
  }

  // --- connection problems and quality -------------------------------------------------

  #onPeerProblem(owner, first) {
    if (first) this.view.alerter.say('Connection problem. Trying to recover…');
    this.#setPeerTrouble(owner, true);
  }

  #setPeerTrouble(participant, trouble) {
    if (!participant) return;
    participant.peerTrouble = trouble;
    this.#renderTile(participant);
  }

  #updateBanner() {
    this.view.banner(this.peers.held ? 'reconnecting' : this.state, this.peers.troubled);
  }

  // --- local controls ------------------------------------------------------------------

  async setMicMuted(muted) {
    await this.#setMuted('audio', muted);
    this.announcer.say(muted ? 'Your microphone is off.' : 'Your microphone is on.');
  }

  async setCameraOff(off) {
    await this.#setMuted('video', off);
    this.announcer.say(off ? 'Your camera is off.' : 'Your camera is on.');
  }

  async #setMuted(kind, muted) {
    if (this.state === 'ended' || !this.local.setMuted(kind, muted)) return;
    const me = this.localParticipant;
    if (me !== null) this.#renderTile(me);
    this.#renderControls();
    await this.#sendMute(kind, muted);
  }

  async #sendMute(kind, muted) {
    if (this.uplink === null || !this.signalling?.isOpen) return; // re-sent after reconnecting
    try {
      await this.signalling.request({ type: 'mute', kind, muted });
    } catch (error) {
      console.warn('mute failed', error);
    }
  }

  #renderControls() {
    this.view.controls(this.local.state);
  }
}
