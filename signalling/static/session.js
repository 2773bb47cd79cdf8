// A live session: one WebSocket, one publish connection, one downlink per remote publisher,
// and a tile per participant. After a lost connection it joins again with the resume token
// of its last `joined` (the node holds the seat meanwhile and gives it back), publishes the
// same local stream again and re-applies its mute state. When to give up, how long to wait
// and what counts as a stall follow the client contract of docs/continuity.md.

import { acceptOffer, publish } from './media.js';
import { QualityMonitor } from './quality.js';
import { PROTOCOL_VERSION, Signalling, SignallingError, socketUrl } from './signalling.js';
import { LevelMeter } from './speaking.js';
import { Announcer, Tile, byId, setButton } from './ui.js';

// Join errors after which joining again cannot help.
const FINAL_CODES = new Set([
  'bad_token', 'token_expired', 'wrong_room', 'room_not_found', 'room_closed', 'room_full',
  'unsupported_version',
]);
const RETRY_DELAYS_MS = [100, 200, 400, 500]; // then 500 ms, each scaled by [0.7, 1]
const ATTEMPT_TIMEOUT_MS = 3000; // to open the socket, and to get `joined`
const GIVE_UP_AFTER_MS = 60000; // the node holds a seat this long (LIVEROOM_RECONNECT_GRACE_S)
const STALL_AFTER_MS = 2000; // no packet on a connected peer connection this long: rebuild
const WATCH_EVERY_MS = 500;
const PEER_GRACE_MS = 5000; // a peer connection 'disconnected' this long is rebuilt

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function retryDelay(attempt) {
  const base = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)];
  return base * (0.7 + 0.3 * Math.random()); // jitter: a restarted node is not hit at once
}

/** Why the node closed the socket, if rejoining cannot help; null to reconnect. */
function finalReason(code, closingReason) {
  if (closingReason === 'replaced' || code === 4409) return 'replaced';
  if (closingReason === 'room_closed' || code === 4410 || code === 4004) return 'room_closed';
  if (code === 4001) return 'bad_token';
  if (code === 4003) return 'wrong_room';
  if (code === 4009) return 'room_full';
  if (code === 1000 || code === 4000) return 'lost';
  return null;
}

/** Bytes received so far on a peer connection's transport (RTP, RTCP, STUN). */
async function bytesReceived(pc) {
  const report = await pc.getStats();
  let bytes = 0;
  for (const stat of report.values()) {
    if (stat.type === 'transport') bytes += stat.bytesReceived ?? 0;
  }
  return bytes;
}

class Participant {
  constructor(info, tile, local) {
    this.identity = info.identity;
    this.name = info.name || info.identity;
    this.role = info.role;
    this.local = local;
    this.tile = tile;
    this.publications = new Map(); // kind -> {id, muted}
    this.downlink = null; // the current downlink carrying this publisher's tracks
    this.meter = null;
    this.peerTrouble = false; // one of its peer connections dropped
    this.nodeReconnecting = false; // the node holds its seat (participant_reconnecting)
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
}

export class Session extends EventTarget {
  #problems = new Set(); // peer connections that dropped: 'uplink', 'downlink:<id>'
  #peerTimers = new Map();
  #published = false; // published at least once (so a publish now is a re-publish)
  #watchdog = null;
  #watching = false;
  #received = new Map(); // pc -> {bytes, changedAt}: when it last received anything

  constructor({ token, claims, stream, iceServers }) {
    super();
    this.token = token;
    this.claims = claims;
    this.stream = stream; // the local MediaStream, or null (watch and listen)
    this.iceServers = iceServers;
    this.state = 'idle'; // idle | joining | live | reconnecting | ended
    this.signalling = null;
    this.resumeToken = null; // from `joined`: takes the seat back after a lost connection
    this.me = null;
    this.participants = new Map();
    this.downlinks = new Map();
    this.uplink = null; // {pc, monitor}
    this.muted = { audio: false, video: false };
    this.recording = false;
    this.list = byId('tiles');
    this.announcer = new Announcer(byId('announcer'));
    this.alerter = new Announcer(byId('alerter'));
  }

  get localParticipant() {
    return this.participants.get(this.me) ?? null;
  }

  localTrack(kind) {
    return this.stream?.getTracks().find((t) => t.kind === kind && t.readyState === 'live') ?? null;
  }

  // --- lifecycle -----------------------------------------------------------------------

  /** Join and publish; rejects with a SignallingError (e.g. code 'room_full'). */
  async start() {
    this.state = 'joining';
    try {
      await this.#connect();
    } catch (error) {
      this.#teardown();
      this.list.replaceChildren();
      this.participants.clear();
      this.state = 'idle';
      throw error;
    }
    this.state = 'live';
    this.#renderControls();
    this.#watchdog = setInterval(() => this.#watchTransports(), WATCH_EVERY_MS);
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
      await signalling.open(ATTEMPT_TIMEOUT_MS);
      const joined = await signalling.request({
        type: 'join', v: PROTOCOL_VERSION, token: this.resumeToken ?? this.token,
      }, ATTEMPT_TIMEOUT_MS);
      this.resumeToken = joined.resume_token ?? null;
      this.#applyRoom(joined);
      if (this.claims.canPublish && this.stream !== null && this.stream.getTracks().length > 0) {
        await this.#publish();
      }
    } catch (error) {
      if (this.signalling === signalling) this.signalling = null;
      signalling.close();
      throw error;
    }
  }

  async #publish() {
    const me = this.localParticipant;
    let pc;
    try {
      ({ pc } = await publish(this.signalling, this.stream, this.iceServers));
    } catch (error) {
      if (error instanceof SignallingError && error.code === 'disconnected') throw error;
      console.warn('publish failed', error);
      this.alerter.say('Your camera and microphone could not be sent. Others cannot see or hear you.');
      return;
    }
    this.uplink = {
      pc,
      monitor: new QualityMonitor(pc, {
        direction: 'uplink',
        onRating: (rating) => this.#onQuality(me, rating),
      }).start(),
    };
    pc.addEventListener('connectionstatechange', () => this.#onPeerState('uplink', pc, me));
    // The node starts new publications unmuted. After a reconnect, say the state of both
    // kinds: the node's forwarding may still be paused from before the connection dropped.
    const republished = this.#published;
    this.#published = true;
    for (const kind of ['audio', 'video']) {
      if (this.localTrack(kind) && (this.muted[kind] || republished)) {
        await this.#sendMute(kind, this.muted[kind]);
      }
    }
  }

  #onSocketClose({ code, byUs, closingReason }) {
    if (this.state !== 'live' || byUs) return;
    const final = finalReason(code, closingReason);
    if (final !== null) this.#end(final);
    else this.#reconnect();
  }

  async #reconnect() {
    if (this.state !== 'live') return;
    this.state = 'reconnecting';
    this.#updateBanner();
    this.alerter.say('Connection lost. Reconnecting…');
    const old = this.signalling;
    this.signalling = null;
    old?.close(1000, 'reconnecting');
    this.#closePeers();
    const started = performance.now();
    for (let attempt = 0; ; attempt += 1) {
      await sleep(retryDelay(attempt));
      if (this.state !== 'reconnecting') return;
      try {
        await this.#connect();
      } catch (error) {
        if (this.state !== 'reconnecting') return;
        if (error instanceof SignallingError && FINAL_CODES.has(error.code)) {
          this.#end(error.code);
          return;
        }
        if (performance.now() - started > GIVE_UP_AFTER_MS) {
          this.#end('lost');
          return;
        }
        continue;
      }
      if (this.state !== 'reconnecting') {
        this.signalling?.close();
        return;
      }
      this.state = 'live';
      this.#updateBanner();
      this.alerter.say('Reconnected.');
      this.dispatchEvent(new Event('reconnected'));
      return;
    }
  }

  #end(reason) {
    if (this.state === 'ended') return;
    this.state = 'ended';
    clearInterval(this.#watchdog);
    this.#teardown();
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.#updateBanner();
    this.dispatchEvent(new CustomEvent('ended', { detail: { reason } }));
  }

  #teardown() {
    this.#closePeers();
    for (const participant of this.participants.values()) participant.meter?.stop();
  }

  #closePeers() {
    for (const id of [...this.downlinks.keys()]) this.#closeDownlink(id);
    if (this.uplink !== null) {
      this.uplink.monitor.stop();
      this.uplink.pc.close();
      this.uplink = null;
    }
    for (const timer of this.#peerTimers.values()) clearTimeout(timer);
    this.#peerTimers.clear();
    this.#problems.clear();
    this.#received.clear();
    for (const participant of this.participants.values()) {
      participant.peerTrouble = false;
      this.#renderTile(participant);
    }
  }

  // --- room state ----------------------------------------------------------------------

  #applyRoom(joined) {
    this.me = joined.participant.identity;
    const present = new Set(joined.room.participants.map((p) => p.identity));
    for (const identity of [...this.participants.keys()]) {
      if (!present.has(identity)) this.#removeParticipant(identity);
    }
    for (const info of joined.room.participants) this.#upsertParticipant(info);
  }

  #upsertParticipant(info) {
    let participant = this.participants.get(info.identity);
    if (participant === undefined) {
      const local = info.identity === this.me;
      const tile = new Tile({ identity: info.identity, name: info.name || info.identity,
        role: info.role, local });
      participant = new Participant(info, tile, local);
      this.participants.set(info.identity, participant);
      this.list.append(tile.el);
      this.list.dataset.count = String(this.participants.size);
      if (local) this.#attachLocalMedia(participant);
    } else {
      participant.update(info);
    }
    this.#renderTile(participant);
    return participant;
  }

  #attachLocalMedia(participant) {
    if (this.stream === null) return;
    participant.tile.setStream(this.stream);
    if (this.stream.getAudioTracks().length > 0) {
      participant.meter = new LevelMeter(this.stream, {
        onSpeaking: (speaking) => participant.tile.setSpeaking(speaking),
      });
    }
  }

  #removeParticipant(identity) {
    const participant = this.participants.get(identity);
    if (participant === undefined) return null;
    if (participant.downlink !== null) this.#closeDownlink(participant.downlink.id);
    participant.meter?.stop();
    participant.tile.setStream(null);
    participant.tile.el.remove();
    this.participants.delete(identity);
    this.list.dataset.count = String(this.participants.size);
    return participant;
  }

  #renderTile(participant) {
    const { tile } = participant;
    if (participant.local) {
      const mic = this.localTrack('audio');
      const camera = this.localTrack('video');
      tile.setMic(mic === null ? 'none' : this.muted.audio ? 'off' : 'on');
      tile.setCamera(camera === null ? 'none' : this.muted.video ? 'off' : 'on');
      tile.qualityChip.hidden = mic === null && camera === null; // nothing sent to rate
    } else {
      const audio = participant.publications.get('audio');
      const video = participant.publications.get('video');
      tile.setMic(audio === undefined ? 'none' : audio.muted ? 'off' : 'on');
      tile.setCamera(video === undefined ? 'none' : video.muted ? 'off' : 'on');
      tile.qualityChip.hidden = participant.publications.size === 0;
    }
    tile.setReconnecting(participant.peerTrouble || participant.nodeReconnecting);
  }

  #onEvent(message) {
    switch (message.type) {
      case 'participant_joined': {
        const participant = this.#upsertParticipant(message.participant);
        const role = participant.role === 'tutor' ? ' (tutor)' : '';
        this.announcer.say(`${participant.name}${role} joined.`);
        break;
      }
      case 'participant_left': {
        const participant = this.#removeParticipant(message.identity);
        if (participant !== null && message.reason !== 'replaced') {
          this.announcer.say(`${participant.name} left.`);
        }
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
        this.#closeDownlink(message.downlink);
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
    const publication = message.publication;
    const participant = this.participants.get(publication?.owner);
    if (participant === undefined) return;
    if (message.type === 'track_unpublished') {
      participant.publications.delete(publication.kind);
    } else {
      participant.publications.set(publication.kind, { id: publication.id, muted: publication.muted });
    }
    this.#renderTile(participant);
    if (message.type === 'track_muted') {
      const what = publication.kind === 'audio'
        ? (message.muted ? 'muted their microphone' : 'unmuted their microphone')
        : (message.muted ? 'turned their camera off' : 'turned their camera on');
      this.announcer.say(`${participant.name} ${what}.`);
    }
  }

  #onVideoPaused(message) {
    const participant = this.participants.get(message.publisher);
    if (participant === undefined || participant.local) return;
    if (message.paused && !participant.tile.videoPausedChip.hidden) return;
    participant.tile.setVideoPaused(message.paused);
    if (message.paused) {
      this.announcer.say(`Your connection is too slow for ${participant.name}'s video. `
        + 'You can still hear them.');
    }
  }

  #onParticipantReconnecting(message) {
    const identity = message.identity ?? message.participant?.identity;
    const participant = this.participants.get(identity);
    if (participant === undefined) return;
    const reconnecting = message.type === 'participant_reconnecting';
    if (participant.nodeReconnecting === reconnecting) return;
    participant.nodeReconnecting = reconnecting;
    this.#renderTile(participant);
    this.announcer.say(reconnecting
      ? `${participant.name} has connection problems and is reconnecting.`
      : `${participant.name} is back.`);
  }

  #setRecording(recording, recorded) {
    if (recording && Array.isArray(recorded)) {
      // say in words whether this participant's own camera and microphone are kept
      byId('recording-text').textContent = recorded.includes(this.me)
        ? 'This session is being recorded, including your camera and microphone.'
        : 'This session is being recorded. You are not being recorded.';
    }
    if (this.recording === recording) return;
    this.recording = recording;
    byId('recording-banner').hidden = !recording;
    this.announcer.say(recording
      ? 'Recording started. This session is being recorded.'
      : 'Recording stopped.');
  }

  // --- downlinks -----------------------------------------------------------------------

  #acceptDownlink(offer) {
    const participant = this.participants.get(offer.publisher)
      ?? this.#upsertParticipant({ identity: offer.publisher, name: offer.publisher, role: '' });
    const { pc, stream, answered } = acceptOffer(this.signalling, offer, this.iceServers);
    const downlink = { id: offer.downlink, publisher: offer.publisher, pc, stream, monitor: null };
    this.downlinks.set(downlink.id, downlink);
    if (participant.downlink !== null) this.#closeDownlink(participant.downlink.id);
    participant.downlink = downlink;
    participant.tile.setStream(stream);
    participant.tile.setVideoPaused(false); // a new downlink starts with video
    pc.addEventListener('track', (event) => {
      if (event.track.kind !== 'audio' || participant.downlink !== downlink) return;
      participant.meter?.stop();
      participant.meter = new LevelMeter(new MediaStream([event.track]), {
        onSpeaking: (speaking) => participant.tile.setSpeaking(speaking),
      });
    });
    pc.addEventListener('connectionstatechange', () => {
      this.#onPeerState(`downlink:${downlink.id}`, pc, participant);
    });
    downlink.monitor = new QualityMonitor(pc, {
      direction: 'downlink',
      liveKinds: () => participant.liveKinds(),
      onRating: (rating) => this.#onQuality(participant, rating),
    }).start();
    answered.catch((error) => {
      if (this.downlinks.get(downlink.id) !== downlink) return; // closed meanwhile
      console.warn('downlink failed', downlink.id, error);
      this.#closeDownlink(downlink.id);
    });
  }

  #closeDownlink(id) {
    const downlink = this.downlinks.get(id);
    if (downlink === undefined) return;
    this.downlinks.delete(id);
    this.#received.delete(downlink.pc);
    downlink.monitor?.stop();
    downlink.pc.close();
    this.#peerOk(`downlink:${id}`);
    const participant = this.participants.get(downlink.publisher);
    if (participant?.downlink === downlink) {
      participant.downlink = null;
      participant.meter?.stop();
      participant.meter = null;
      participant.tile.setStream(null);
      participant.tile.setQuality('unknown');
      participant.peerTrouble = false;
      this.#renderTile(participant);
    }
  }

  // --- connection problems and quality -------------------------------------------------

  #onPeerState(key, pc, participant) {
    const state = pc.connectionState;
    if (state === 'connected') {
      this.#peerOk(key);
      if (participant) {
        participant.peerTrouble = false;
        this.#renderTile(participant);
      }
    } else if (state === 'disconnected' || state === 'failed') {
      if (!this.#problems.has(key)) this.alerter.say('Connection problem. Trying to recover…');
      this.#problems.add(key);
      if (participant) {
        participant.peerTrouble = true;
        this.#renderTile(participant);
      }
      if (state === 'failed') this.#reconnect();
      else if (!this.#peerTimers.has(key)) {
        this.#peerTimers.set(key, setTimeout(() => {
          this.#peerTimers.delete(key);
          if (this.#problems.has(key)) this.#reconnect();
        }, PEER_GRACE_MS));
      }
    }
    this.#updateBanner();
  }

  /** A connected peer connection that received nothing for STALL_AFTER_MS is dead: the
   * node sends RTCP at least every 1.5 s even when no media flows. */
  async #watchTransports() {
    if (this.state !== 'live' || this.#watching) return;
    this.#watching = true;
    try {
      await this.#checkTransports();
    } finally {
      this.#watching = false;
    }
  }

  async #checkTransports() {
    const pcs = [this.uplink?.pc, ...[...this.downlinks.values()].map((d) => d.pc)];
    const now = performance.now();
    for (const pc of pcs) {
      if (pc === undefined || pc.connectionState !== 'connected') continue;
      let bytes;
      try {
        bytes = await bytesReceived(pc);
      } catch {
        continue;
      }
      const seen = this.#received.get(pc);
      if (seen === undefined || bytes !== seen.bytes) {
        this.#received.set(pc, { bytes, changedAt: now });
      } else if (now - seen.changedAt > STALL_AFTER_MS && this.state === 'live') {
        console.warn('peer connection stalled: reconnecting');
        this.#reconnect();
        return;
      }
    }
  }

  #peerOk(key) {
    this.#problems.delete(key);
    clearTimeout(this.#peerTimers.get(key));
    this.#peerTimers.delete(key);
    this.#updateBanner();
  }

  #updateBanner() {
    const reconnecting = this.state === 'reconnecting';
    const visible = this.state !== 'ended' && (reconnecting || this.#problems.size > 0);
    byId('reconnecting-banner').hidden = !visible;
    byId('reconnecting-text').textContent = reconnecting
      ? 'Connection lost. Reconnecting…'
      : 'Connection problem. Trying to recover…';
    if (this.state === 'ended') byId('recording-banner').hidden = true;
  }

  #onQuality(participant, rating) {
    if (participant === null || participant.tile.el.dataset.quality === rating) return;
    const before = participant.tile.el.dataset.quality;
    participant.tile.setQuality(rating);
    const whose = participant.local ? 'Your' : `${participant.name}’s`;
    if (rating === 'poor') this.announcer.say(`${whose} connection is poor.`);
    else if (before === 'poor' && rating !== 'unknown') this.announcer.say(`${whose} connection recovered.`);
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
    const track = this.localTrack(kind);
    if (track === null || this.state === 'ended') return;
    track.enabled = !muted; // stop sending at once, whatever the network does
    this.muted[kind] = muted;
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
    const mic = byId('mic-button');
    const camera = byId('camera-button');
    const hasMic = this.localTrack('audio') !== null;
    const hasCamera = this.localTrack('video') !== null;
    setButton(mic, this.muted.audio || !hasMic ? 'micOff' : 'mic',
      !hasMic ? 'No microphone' : this.muted.audio ? 'Unmute microphone' : 'Mute microphone');
    setButton(camera, this.muted.video || !hasCamera ? 'cameraOff' : 'camera',
      !hasCamera ? 'No camera' : this.muted.video ? 'Turn camera on' : 'Turn camera off');
    mic.setAttribute('aria-disabled', String(!hasMic));
    camera.setAttribute('aria-disabled', String(!hasCamera));
    mic.dataset.muted = String(this.muted.audio);
    camera.dataset.off = String(this.muted.video);
    setButton(byId('leave-button'), 'leave', 'Leave session');
  }
}
