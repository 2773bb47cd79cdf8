// This page's peer connections: the uplink that publishes the local stream, one downlink
// per remote publisher, and the watchdog that finds a dead one. No DOM: it tells the page
// what happened through the callbacks it was built with.

import { StallRule, linkBack } from './continuity.js';
import { acceptOffer, publish } from './media.js';
import { QualityMonitor } from './quality.js';

/** Bytes received so far on a peer connection's transport (RTP, RTCP, STUN). */
async function bytesReceived(pc) {
  const report = await pc.getStats();
  let bytes = 0;
  for (const stat of report.values()) {
    if (stat.type === 'transport') bytes += stat.bytesReceived ?? 0;
  }
  return bytes;
}

/**
 * `owner` below is the participant a peer connection carries (the local one for the
 * uplink; a downlink's publisher, whose `downlink` it keeps current): it is handed back in
 * the callbacks, which are
 * - `isLive()`: whether the session is live (the watchdog checks only then);
 * - `onProblem(owner, first)`: a peer connection dropped (`first`: nothing else had);
 * - `onRecovered(owner)`: it is connected again;
 * - `onChange()`: the set of troubled peer connections may have changed;
 * - `onLost()`: a peer connection is dead: rebuild everything;
 * - `onQuality(owner, rating)`: a connection quality rating (quality.js);
 * - `onAudioTrack(owner, track)`: the owner's current downlink received its audio track;
 * - `onDownlinkClosed(owner)`: the owner's current downlink was closed, for any reason.
 */
export class Peers {
  #problems = new Set(); // peer connections that dropped: 'uplink', 'downlink:<id>'
  #peerTimers = new Map();
  #watchdog = null;
  #watching = false;
  #held = false; // offline: kept as they are until the link is back (linkBack)

  constructor({ iceServers, policy, ...callbacks }) {
    this.iceServers = iceServers;
    this.policy = policy; // a ReconnectPolicy (continuity.js)
    this.on = callbacks;
    this.uplink = null; // {pc, monitor}
    this.downlinks = new Map(); // id -> {id, publisher, owner, pc, stream, monitor}
    this.stalls = new StallRule(policy.stallAfterMs);
  }

  /** Offline: the peer connections are kept, unwatched, until `linkBack`. */
  get held() {
    return this.#held;
  }

  /** The browser went offline: keep everything as it is; false if already held. */
  hold() {
    if (this.#held) return false;
    this.#held = true;
    return true;
  }

  /** Some peer connection is `disconnected` or `failed`. */
  get troubled() {
    return this.#problems.size > 0;
  }

  /** Publish `stream`; rejects as media.js `publish` does (then there is no uplink). */
  async publish(signalling, stream, owner) {
    const { pc } = await publish(signalling, stream, this.iceServers);
    this.uplink = {
      pc,
      monitor: new QualityMonitor(pc, {
        direction: 'uplink',
        onRating: (rating) => this.on.onQuality(owner, rating),
      }).start(),
    };
    pc.addEventListener('connectionstatechange', () => this.#onPeerState('uplink', pc, owner));
    return pc;
  }

  /** Answer a node `offer` for `owner`'s tracks: the new downlink, at once, replaces the
   * owner's previous one. */
  acceptDownlink(signalling, offer, owner) {
    const { pc, stream, answered } = acceptOffer(signalling, offer, this.iceServers);
    const downlink = {
      id: offer.downlink, publisher: offer.publisher, owner, pc, stream, monitor: null,
    };
    this.downlinks.set(downlink.id, downlink);
    if (owner.downlink !== null) this.closeDownlink(owner.downlink.id);
    owner.downlink = downlink;
    pc.addEventListener('track', (event) => {
      if (event.track.kind === 'audio' && owner.downlink === downlink) {
        this.on.onAudioTrack(owner, event.track);
      }
    });
    pc.addEventListener('connectionstatechange', () => {
      this.#onPeerState(`downlink:${downlink.id}`, pc, owner);
    });
    downlink.monitor = new QualityMonitor(pc, {
      direction: 'downlink',
      liveKinds: () => owner.liveKinds(),
      onRating: (rating) => this.on.onQuality(owner, rating),
    }).start();
    answered.catch((error) => {
      if (this.downlinks.get(downlink.id) !== downlink) return; // closed meanwhile
      console.warn('downlink failed', downlink.id, error);
      this.closeDownlink(downlink.id);
    });
    return downlink;
  }

  closeDownlink(id) {
    const downlink = this.downlinks.get(id);
    if (downlink === undefined) return;
    this.downlinks.delete(id);
    this.stalls.forget(downlink.pc);
    downlink.monitor?.stop();
    downlink.pc.close();
    this.#peerOk(`downlink:${id}`);
    if (downlink.owner.downlink === downlink) {
      downlink.owner.downlink = null;
      this.on.onDownlinkClosed(downlink.owner);
    }
  }

  /** Close every peer connection (the local stream stays) and forget their troubles. */
  close() {
    for (const id of [...this.downlinks.keys()]) this.closeDownlink(id);
    if (this.uplink !== null) {
      this.uplink.monitor.stop();
      this.uplink.pc.close();
      this.uplink = null;
    }
    for (const timer of this.#peerTimers.values()) clearTimeout(timer);
    this.#peerTimers.clear();
    this.#problems.clear();
    this.stalls.clear();
    this.#held = false;
  }

  /** The link is back after `hold`: resolves true once every peer connection is
   * connected again (kept: the stall clock starts afresh), false as soon as one failed or
   * after `waitMs` (rebuild them), null if nothing was held. Over the kept socket
   * (`signalling`, if still open) the node is asked to check ICE on them at once: a
   * connection the browser gave up comes back when it answers (continuity.js `linkBack`). */
  async linkBack(waitMs, signalling) {
    if (!this.#held) return null;
    const asked = signalling?.isOpen ?? false;
    if (asked) signalling.request({ type: 'ping', ice: true }, waitMs).catch(() => {});
    const end = performance.now() + waitMs;
    for (;;) {
      if (!this.#held) return null; // closed meanwhile
      const pcs = [this.uplink?.pc, ...[...this.downlinks.values()].map((d) => d.pc)];
      const states = pcs.filter((pc) => pc !== undefined).map((pc) => pc.connectionState);
      const verdict = linkBack(states, asked);
      if (verdict !== 'wait' || performance.now() >= end) {
        this.#held = false;
        if (verdict === 'kept') this.stalls.clear();
        return verdict === 'kept';
      }
      await new Promise((resolve) => { setTimeout(resolve, 25); });
    }
  }

  // --- connection problems ---------------------------------------------------------------

  #onPeerState(key, pc, owner) {
    const state = pc.connectionState;
    if (state === 'connected') {
      this.#peerOk(key);
      this.on.onRecovered(owner);
    } else if (state === 'disconnected' || state === 'failed') {
      const first = !this.#problems.has(key);
      this.#problems.add(key);
      this.on.onProblem(owner, first);
      // offline: the session holds everything until the link is back (`linkBack`)
      if (!navigator.onLine) { /* held */ } else if (state === 'failed') this.on.onLost();
      else if (!this.#peerTimers.has(key)) {
        this.#peerTimers.set(key, setTimeout(() => {
          this.#peerTimers.delete(key);
          if (this.#problems.has(key)) this.on.onLost();
        }, this.policy.peerGraceMs));
      }
    }
    this.on.onChange();
  }

  #peerOk(key) {
    this.#problems.delete(key);
    clearTimeout(this.#peerTimers.get(key));
    this.#peerTimers.delete(key);
    this.on.onChange();
  }

  // --- the watchdog ----------------------------------------------------------------------

  /** Check every peer connection for a stall (continuity.js) until `stopWatching`. */
  startWatching() {
    this.stopWatching();
    this.#watchdog = setInterval(() => this.#watch(), this.policy.watchEveryMs);
  }

  stopWatching() {
    clearInterval(this.#watchdog);
    this.#watchdog = null;
  }

  async #watch() {
    if (!this.on.isLive() || this.#held || this.#watching) return;
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
      if (this.stalls.stalled(pc, bytes, now) && this.on.isLive() && !this.#held) {
        console.warn('peer connection stalled: reconnecting');
        this.on.onLost();
        return;
      }
    }
  }
}
