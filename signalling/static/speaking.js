// Speaking indicators: the level of an audio track through a WebAudio AnalyserNode.

let context = null;

/** The page's one AudioContext (browsers start it suspended until a user gesture). */
export function audioContext() {
  if (context === null) context = new AudioContext();
  return context;
}

/** Call from a click or key press: lets the AudioContext run. */
export function resumeAudio() {
  return audioContext().resume().catch(() => {});
}

/**
 * Measures the RMS level of the first audio track of `stream` every `intervalMs`.
 * `onLevel(level)` gets every sample; `onSpeaking(bool)` fires when speaking starts or
 * stops (a level over `threshold`, held for `holdMs` so the indicator does not flicker).
 */
export class LevelMeter {
  #timer = null;
  #source = null;
  #analyser = null;
  #samples = null;
  #lastLoud = -Infinity;

  constructor(stream, { onLevel = () => {}, onSpeaking = () => {}, threshold = 0.015,
    holdMs = 600, intervalMs = 100 } = {}) {
    this.onLevel = onLevel;
    this.onSpeaking = onSpeaking;
    this.threshold = threshold;
    this.holdMs = holdMs;
    this.level = 0;
    this.peak = 0;
    this.speaking = false;
    const track = stream.getAudioTracks()[0];
    if (track === undefined) return;
    const ctx = audioContext();
    // A stream of its own: the analyser must not depend on the video track's life.
    this.#source = ctx.createMediaStreamSource(new MediaStream([track]));
    this.#analyser = ctx.createAnalyser();
    this.#analyser.fftSize = 1024;
    this.#samples = new Float32Array(this.#analyser.fftSize);
    this.#source.connect(this.#analyser);
    this.#timer = setInterval(() => this.#tick(), intervalMs);
  }

  #tick() {
    this.#analyser.getFloatTimeDomainData(this.#samples);
    let sum = 0;
    for (const x of this.#samples) sum += x * x;
    this.level = Math.sqrt(sum / this.#samples.length);
    this.peak = Math.max(this.peak, this.level);
    this.onLevel(this.level);
    const now = performance.now();
    if (this.level > this.threshold) this.#lastLoud = now;
    const speaking = now - this.#lastLoud < this.holdMs;
    if (speaking !== this.speaking) {
      this.speaking = speaking;
      this.onSpeaking(speaking);
    }
  }

  stop() {
    clearInterval(this.#timer);
    this.#timer = null;
    this.#source?.disconnect();
    if (this.speaking) {
      this.speaking = false;
      this.onSpeaking(false);
    }
  }
}
