// What the browser knows at once about its link and its tab, for the session (issue 17):
// `offline` (the link went: say so now, hold the connections), `online` (see whether they
// came back; cut the current retry wait short), and the tab going away (pagehide, not into
// the back-forward cache: tell the node).

export class BrowserSignals {
  #wake = null; // ends the current wait() early
  #onOffline;
  #onOnline;
  #onPageHide;

  constructor({ onOffline, onOnline, onPageHide }) {
    this.#onOffline = () => onOffline();
    this.#onOnline = () => { this.#wake?.(); onOnline(); };
    this.#onPageHide = (event) => { if (!event.persisted) onPageHide(); };
  }

  attach() {
    window.addEventListener('offline', this.#onOffline);
    window.addEventListener('online', this.#onOnline);
    window.addEventListener('pagehide', this.#onPageHide);
  }

  detach() {
    window.removeEventListener('offline', this.#onOffline);
    window.removeEventListener('online', this.#onOnline);
    window.removeEventListener('pagehide', this.#onPageHide);
  }

  /** Wait `ms`, or until the browser says it is online again. */
  wait(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}
