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
});

export class SignallingError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
    this.detail = message;
  }
}

/** The room's WebSocket URL on the node that served this page. */
export function socketUrl(room, loc = window.location) {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/v1/rooms/${encodeURIComponent(room)}/ws`;
}

/**
 * One participant's socket. Dispatches `message` (an event from the node, `detail` is the
 * parsed message) and `close` (`detail`: {code, reason, byUs, closingReason}).
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
      const timer = setTimeout(() => {
        reject(new SignallingError('unreachable', 'no answer from the node'));
        ws.close();
      }, timeoutMs);
      ws.addEventListener('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.addEventListener('message', (event) => this.#receive(event.data));
      ws.addEventListener('close', (event) => {
        clearTimeout(timer);
        reject(new SignallingError('unreachable', 'the node closed the connection'));
        this.#closed(event);
      });
    });
  }

  /** Send a request; resolve with the reply, reject with a SignallingError. */
  request(message, timeoutMs = 10000) {
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
      if (message.type === 'error') pending.reject(new SignallingError(message.code, message.message));
      else pending.resolve(message);
      return;
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
