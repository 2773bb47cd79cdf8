// The WebSocket protocol v1 (docs/protocol.md): requests carry an `id` that the node's
// reply repeats; everything else the node sends is an event.

export const PROTOCOL_VERSION = 1;

/**
 * WebSocket close codes (docs/protocol.md): the ones this page acts on. A mirror of the
 * node's `signalling.protocol.CloseCode`, by name and value
 * (tests/unit/signalling/test_js_close_codes.py checks it).
 */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  PROTOCOL: 4000,
  AUTH: 4001,
  FORBIDDEN: 4003,
  NOT_FOUND: 4004,
  ROOM_FULL: 4009,
  REPLACED: 4409,
  ROOM_CLOSED: 4410,
  WRONG_NODE: 4307,
  MOVED: 4308,
});

/** `wrong_node` answers a join follows (the cluster redirects once). */
export const MAX_REDIRECTS = 3;

export class SignallingError extends Error {
  constructor(code, message, url = null) {
    super(`${code}: ${message}`);
    this.code = code;
    this.detail = message;
    this.url = url; // with `wrong_node`: the room's socket on the node that hosts it
  }
}

// Where each room's node is, as the nodes told this page (`wrong_node`, `move`): the next
// socket for the room opens there. Forgotten when a socket there cannot open (that node is
// gone): the node that served the page, the entry, then places the room again.
const roomNodes = new Map(); // room id -> socket URL

/** The room's WebSocket URL: on its node if a node said where, else on the node that
 * served this page (which redirects if the room is elsewhere). */
export function socketUrl(room, loc = window.location) {
  const learned = roomNodes.get(room);
  if (learned !== undefined) return learned;
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/v1/rooms/${encodeURIComponent(room)}/ws`;
}

function roomOf(url) {
  const found = /\/v1\/rooms\/([^/]+)\/ws$/.exec(new URL(url).pathname);
  return found === null ? null : decodeURIComponent(found[1]);
}

/**
 * One participant's socket. Dispatches `message` (an event from the node, `detail` is the
 * parsed message) and `close` (`detail`: {code, reason, byUs, closingReason}). A `join`
 * answered `wrong_node` follows the redirect itself (a new socket to the room's node, the
 * same join); a `move` (the node drains) says where the next socket for the room opens.
 */
export class Signalling extends EventTarget {
  #ws = null;
  #pending = new Map();
  #nextId = 1;
  #closedByUs = false;

  constructor(url) {
    super();
    this.url = url;
    this.closingReason = null; // from the node's `closing` event, if it sent one
  }

  get isOpen() {
    return this.#ws !== null && this.#ws.readyState === WebSocket.OPEN;
  }

  open(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.#ws = ws;
      let opened = false;
      const timer = setTimeout(() => {
        reject(new SignallingError('unreachable', 'no answer from the node'));
        ws.close();
      }, timeoutMs);
      ws.addEventListener('open', () => {
        opened = true;
        clearTimeout(timer);
        resolve();
      });
      ws.addEventListener('message', (event) => {
        if (this.#ws === ws) this.#receive(event.data);
      });
      ws.addEventListener('close', (event) => {
        clearTimeout(timer);
        if (!opened) this.#forget(ws.url); // that node is gone: ask the entry next time
        reject(new SignallingError('unreachable', 'the node closed the connection'));
        if (this.#ws === ws) this.#closed(event); // not a socket left for a redirect
      });
    });
  }

  /** Send a request; resolve with the reply, reject with a SignallingError. A `join`
   * follows `wrong_node` (at most MAX_REDIRECTS times). */
  async request(message, timeoutMs = 10000) {
    for (let redirects = 0; ; redirects += 1) {
      try {
        return await this.#send(message, timeoutMs);
      } catch (error) {
        if (message.type !== 'join' || error.code !== 'wrong_node' || !error.url
            || redirects >= MAX_REDIRECTS) throw error;
        const old = this.#ws;
        this.url = error.url;
        roomNodes.set(roomOf(error.url), error.url);
        this.#ws = null; // its close (4307) is the redirect's, not this session's
        old?.close();
        await this.open(timeoutMs);
      }
    }
  }

  #forget(url) {
    const room = roomOf(url);
    if (room !== null && roomNodes.get(room) === url) roomNodes.delete(room);
  }

  #send(message, timeoutMs) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) {
        reject(new SignallingError('disconnected', 'not connected'));
        return;
      }
      const id = `b${this.#nextId++}`;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SignallingError('timeout', `no reply to ${message.type}`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#ws.send(JSON.stringify({ ...message, id }));
    });
  }

  close(code = CLOSE.NORMAL, reason = 'bye') {
    this.#closedByUs = true;
    if (this.#ws !== null && this.#ws.readyState <= WebSocket.OPEN) this.#ws.close(code, reason);
  }

  #receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message === null || typeof message !== 'object' || typeof message.type !== 'string') return;
    const pending = typeof message.id === 'string' ? this.#pending.get(message.id) : undefined;
    if (pending !== undefined) {
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      if (message.type === 'error') {
        pending.reject(new SignallingError(message.code, message.message, message.url ?? null));
      } else pending.resolve(message);
      return;
    }
    if (message.type === 'move') { // the node drains: the room's next socket opens there
      const room = roomOf(this.url);
      if (typeof message.url === 'string') roomNodes.set(room, message.url);
      else roomNodes.delete(room);
    }
    if (message.type === 'closing') this.closingReason = message.reason;
    this.dispatchEvent(new CustomEvent('message', { detail: message }));
  }

  #closed(event) {
    for (const { reject, timer } of this.#pending.values()) {
      clearTimeout(timer);
      reject(new SignallingError('disconnected', `connection closed (${event.code})`));
    }
    this.#pending.clear();
    this.dispatchEvent(new CustomEvent('close', {
      detail: {
        code: event.code, reason: event.reason, byUs: this.#closedByUs,
        closingReason: this.closingReason,
      },
    }));
  }
}
