// This page's own camera and microphone: the local stream and its mute state. No DOM, no
// network: the session tells the node, the room view shows it.

export class LocalMedia {
  constructor(stream) {
    this.stream = stream; // a MediaStream, or null (watch and listen)
    this.muted = { audio: false, video: false };
  }

  /** The live local track of `kind`, or null. */
  track(kind) {
    return this.stream?.getTracks().find((t) => t.kind === kind && t.readyState === 'live') ?? null;
  }

  /** {mic, camera, muted}: what the local tile and the controls show. */
  get state() {
    return { mic: this.track('audio') !== null, camera: this.track('video') !== null, muted: this.muted };
  }

  get publishable() {
    return this.stream !== null && this.stream.getTracks().length > 0;
  }

  /** Mute `kind` at once: nothing is sent, whatever the network does. False without a track. */
  setMuted(kind, muted) {
    const track = this.track(kind);
    if (track === null) return false;
    track.enabled = !muted;
    this.muted[kind] = muted;
    return true;
  }

  /** The kinds whose mute state to tell the node after publishing: the node starts new
   * publications unmuted, and after a re-publish its forwarding may still be paused from
   * before the connection dropped, so then both. */
  kindsToAnnounce(republished) {
    return ['audio', 'video'].filter((kind) => this.track(kind) && (this.muted[kind] || republished));
  }

  stop() {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
  }
}
