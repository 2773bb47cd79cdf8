// When to reconnect, how long to wait and when to give up: the client side of
// docs/continuity.md. Pure: no DOM, no timers, no clock (callers pass `now`). The numbers
// are the node's client contract, read from the page config the node writes into the page
// (signalling/pages.py, `signalling.protocol.ClientContract`); this file keeps no copy.

import { CLOSE } from './signalling.js';

/** Join errors after which joining again cannot help. */
export const FINAL_JOIN_ERRORS = new Set([
  'bad_token', 'token_expired', 'wrong_room', 'room_not_found', 'room_closed', 'room_full',
  'unsupported_version',
]);

/** Why the node closed the socket, if rejoining cannot help; null to reconnect. After a
 * `move` (4308: the node drains) and a `wrong_node` (4307) the next socket opens on the
 * room's node (signalling.js keeps where), with the resume token: both reconnect. */
export function finalReason(code, closingReason) {
  if (code === CLOSE.MOVED || code === CLOSE.WRONG_NODE) return null;
  if (closingReason === 'replaced' || code === CLOSE.REPLACED) return 'replaced';
  if (closingReason === 'room_closed' || code === CLOSE.ROOM_CLOSED || code === CLOSE.NOT_FOUND) {
    return 'room_closed';
  }
  if (code === CLOSE.AUTH) return 'bad_token';
  if (code === CLOSE.FORBIDDEN) return 'wrong_room';
  if (code === CLOSE.ROOM_FULL) return 'room_full';
  if (code === CLOSE.NORMAL || code === CLOSE.PROTOCOL) return 'lost';
  return null;
}

function number(value, name) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`page config: reconnect.${name} is not a number`);
  }
  return value;
}

/** The node's client contract (page config `reconnect`, in seconds), in milliseconds. */
export class ReconnectPolicy {
  constructor(contract) {
    const delays = contract?.retry_delays_s;
    if (!Array.isArray(delays) || delays.length === 0) {
      throw new TypeError('page config: reconnect.retry_delays_s is not a list of seconds');
    }
    const ms = (name) => 1000 * number(contract[name], name);
    this.retryDelaysMs = Object.freeze(delays.map((s) => 1000 * number(s, 'retry_delays_s')));
    this.jitter = number(contract.retry_jitter, 'retry_jitter');
    this.attemptTimeoutMs = ms('attempt_timeout_s');
    this.giveUpAfterMs = ms('give_up_after_s');
    this.stallAfterMs = ms('stall_after_s');
    this.watchEveryMs = ms('watch_every_s');
    this.peerGraceMs = ms('peer_grace_s');
    Object.freeze(this);
  }

  /** Wait before retry number `attempt` (0 = the first), for `random` in [0, 1): the
   * jitter spreads clients out so that a restarted node is not hit by all of them at once. */
  retryDelay(attempt, random) {
    const base = this.retryDelaysMs[Math.min(attempt, this.retryDelaysMs.length - 1)];
    return base * (1 - this.jitter + this.jitter * random);
  }

  /** Like LiveKit's `nextRetryDelayInMs`: the wait before retry `attempt` after retrying
   * for `elapsedMs`, or null to give up (past the node's seat grace period). */
  nextRetryDelay(attempt, elapsedMs, random) {
    return elapsedMs > this.giveUpAfterMs ? null : this.retryDelay(attempt, random);
  }
}

/**
 * The stall rule: a connected peer connection whose transport received no byte at all for
 * longer than `stallAfterMs` is dead (the node sends RTCP at least every 1.5 s, even when no
 * media flows). Keys are opaque (the page uses its RTCPeerConnections).
 */
export class StallRule {
  #seen = new Map(); // key -> {bytes, changedAt}

  constructor(stallAfterMs) {
    this.stallAfterMs = stallAfterMs;
  }

  /** Record `bytes` received so far on `key` at `now` (ms); true if it is stalled. */
  stalled(key, bytes, now) {
    const seen = this.#seen.get(key);
    if (seen === undefined || bytes !== seen.bytes) {
      this.#seen.set(key, { bytes, changedAt: now });
      return false;
    }
    return now - seen.changedAt > this.stallAfterMs;
  }

  forget(key) {
    this.#seen.delete(key);
  }

  clear() {
    this.#seen.clear();
  }
}

/** After the link came back, how long kept peer connections get to be connected again
 * before the page rebuilds them (they normally are within a round trip). */
export const LINK_BACK_WAIT_MS = 1000;

/**
 * The link came back after `offline` (the page kept its socket and peer connections):
 * 'kept' when every peer connection is connected again, otherwise 'wait', but 'rebuild'
 * at once when one is closed, or failed (Chromium gives a connection up after ~15 s
 * without an answer) unless `asked`: the node was asked to check them (`ping {ice}`), and
 * a failed connection that answers the node's check comes back (the node's own side gives
 * up after ~30 s). `states`: their `connectionState`s.
 */
export function linkBack(states, asked = false) {
  if (states.some((s) => s === 'closed' || (s === 'failed' && !asked))) return 'rebuild';
  return states.every((s) => s === 'connected') ? 'kept' : 'wait';
}
