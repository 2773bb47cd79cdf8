// One master clock for every recorded track of a session (their timestamps are session
// time, docs/recording.md). The master is the video element that lasts longest (a video
// element without sound runs on the wall clock and shows each frame at its timestamp,
// through gaps too); without video, the first audio element. Every other element is a
// slave, checked every TICK_MS while playing:
// - more than HARD_S off the master: re-seeked to it;
// - more than SOFT_S off: its playbackRate nudged (at most ±MAX_NUDGE) until it is back;
// - inside one of its silent spans (a mute or a recording gap on the timeline) or past
//   its end: paused, and re-seeked to the master when the span ends (so the clock does
//   not depend on how a browser plays a gap inside an audio file).
// On pause and after every seek each slave is put exactly on the master's time (on pause
// the master is re-seeked to its own time, so every video shows the frame of that time).

const TICK_MS = 100;
const HARD_S = 0.25;
const SOFT_S = 0.02;
const GAIN = 2; // playbackRate change per second of drift
const MAX_NUDGE = 0.1;

export class ReplayClock {
  /** tracks: [{ name, el, video }]; silent: Map(track name -> [[start, end], ...]) */
  constructor(tracks, silent, onTick) {
    const videos = tracks.filter((t) => t.video);
    const longest = (list) => list.reduce((a, b) => ((b.el.duration || 0) > (a.el.duration || 0) ? b : a));
    this.master = videos.length ? longest(videos) : tracks[0];
    this.slaves = tracks.filter((t) => t !== this.master);
    this.silent = silent;
    this.onTick = onTick;
    this.playing = false;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.master.el.addEventListener("ended", () => this.pause());
    this.master.el.addEventListener("seeked", () => this.align());
  }

  get time() { return this.master.el.currentTime; }

  quiet(track, t) {
    if (t >= (track.el.duration || Infinity) - 0.01) return true;
    return (this.silent.get(track.name) ?? []).some(([a, b]) => t >= a && t < b);
  }

  play() {
    this.playing = true;
    this.master.el.play().catch(() => {});
    this.align();
  }

  pause() {
    this.playing = false;
    this.master.el.pause();
    for (const s of this.slaves) s.el.pause();
    // the master too shows the frame of its time (while playing, the one shown may be the
    // next); its "seeked" aligns the slaves once more
    this.master.el.currentTime = this.master.el.currentTime;
    this.align();
  }

  seek(t) {
    const end = this.master.el.duration || t;
    this.master.el.currentTime = Math.min(Math.max(0, t), end);
    this.align(this.master.el.currentTime);
  }

  /** Every slave exactly on the master's time (playing if the master plays and it has media). */
  align(t = this.time) {
    for (const s of this.slaves) {
      s.el.playbackRate = 1;
      const quiet = this.quiet(s, t);
      if (Math.abs(s.el.currentTime - t) > 0.001) {
        s.el.currentTime = Math.min(t, s.el.duration || t);
      }
      if (this.playing && !quiet) s.el.play().catch(() => {});
      else s.el.pause();
    }
    this.onTick(t);
  }

  tick() {
    const t = this.time;
    if (this.playing) {
      for (const s of this.slaves) {
        if (s.el.seeking || s.el.readyState < 1) continue;
        if (this.quiet(s, t)) {
          if (!s.el.paused) s.el.pause();
          continue;
        }
        const drift = s.el.currentTime - t;
        if (s.el.paused || Math.abs(drift) > HARD_S) {
          s.el.playbackRate = 1;
          s.el.currentTime = t;
          if (s.el.paused) s.el.play().catch(() => {});
        } else if (Math.abs(drift) > SOFT_S) {
          s.el.playbackRate = 1 - Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, drift * GAIN));
        } else if (s.el.playbackRate !== 1) {
          s.el.playbackRate = 1;
        }
      }
    }
    this.onTick(t);
  }

  /** The largest distance of a playing slave from the master (s), for the page's status. */
  spread() {
    const t = this.time;
    return Math.max(0, ...this.slaves.filter((s) => !this.quiet(s, t))
      .map((s) => Math.abs(s.el.currentTime - t)));
  }
}
