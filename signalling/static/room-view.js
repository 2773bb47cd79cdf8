// What the session shows and says: a tile per participant, the banners, the controls and the
// screen-reader announcements. DOM only: it knows the roster's participants (roster.js) and
// nothing of sockets or peer connections.

import { LevelMeter } from './speaking.js';
import { Announcer, Tile, byId, setButton } from './ui.js';

/** 'on' | 'off' | 'none' for a chip, from whether there is something and whether muted. */
const chipState = (present, muted) => (!present ? 'none' : muted ? 'off' : 'on');

export class RoomView {
  constructor() {
    this.list = byId('tiles');
    this.announcer = new Announcer(byId('announcer')); // polite
    this.alerter = new Announcer(byId('alerter')); // assertive
  }

  // --- tiles ---------------------------------------------------------------------------

  /** A tile for a new participant; the local one shows `localStream` (may be null). */
  addTile(participant, localStream, count) {
    participant.tile = new Tile({ identity: participant.identity, name: participant.name,
      role: participant.role, local: participant.local });
    this.list.append(participant.tile.el);
    this.list.dataset.count = String(count);
    if (participant.local && localStream !== null) {
      participant.tile.setStream(localStream);
      if (localStream.getAudioTracks().length > 0) this.listen(participant, localStream);
    }
  }

  removeTile(participant, count) {
    participant.meter?.stop();
    participant.tile.setStream(null);
    participant.tile.el.remove();
    this.list.dataset.count = String(count);
  }

  clearTiles() {
    this.list.replaceChildren();
  }

  /** Drive `participant`'s speaking indicator from `stream`'s audio. */
  listen(participant, stream) {
    participant.meter?.stop();
    participant.meter = new LevelMeter(stream, {
      onSpeaking: (speaking) => participant.tile.setSpeaking(speaking),
    });
  }

  /** Show a new downlink's stream on its publisher's tile. */
  showDownlink(participant, stream) {
    participant.tile.setStream(stream);
    participant.tile.setVideoPaused(false); // a new downlink starts with video
  }

  /** The publisher's downlink is gone: no stream, no speaking indicator, no rating. */
  dropDownlink(participant) {
    participant.meter?.stop();
    participant.meter = null;
    participant.tile.setStream(null);
    participant.tile.clearFrame();
    participant.tile.setQuality('unknown');
  }

  /** This page is reconnecting: the downlink is gone but its tile keeps the last frame
   * (the ended track's video stays on it) until the new downlink's stream replaces it. */
  freezeDownlink(participant) {
    participant.meter?.stop();
    participant.meter = null;
    participant.tile.setStream(null); // the poster (freezeFrames) shows
  }

  /** Before this page's connections are rebuilt: remember each tile's last frame. */
  freezeFrames(participants) {
    for (const participant of participants) {
      if (participant.local) continue;
      participant.tile.freezeFrame();
    }
  }

  /** `local`: {mic, camera, muted} of this page's own tracks, for the local tile. */
  renderTile(participant, local) {
    const { tile } = participant;
    if (participant.local) {
      tile.setMic(chipState(local.mic, local.muted.audio));
      tile.setCamera(chipState(local.camera, local.muted.video));
      tile.qualityChip.hidden = !local.mic && !local.camera; // nothing sent to rate
    } else {
      const audio = participant.publications.get('audio');
      const video = participant.publications.get('video');
      tile.setMic(chipState(audio !== undefined, audio?.muted));
      tile.setCamera(chipState(video !== undefined, video?.muted));
      tile.qualityChip.hidden = participant.publications.size === 0;
    }
    tile.setReconnecting(participant.reconnecting);
  }

  // --- what happened in the room ---------------------------------------------------------

  joined(participant) {
    const role = participant.role === 'tutor' ? ' (tutor)' : '';
    this.announcer.say(`${participant.name}${role} joined.`);
  }

  left(participant) {
    this.announcer.say(`${participant.name} left.`);
  }

  trackMuted(participant, kind, muted) {
    const what = kind === 'audio'
      ? (muted ? 'muted their microphone' : 'unmuted their microphone')
      : (muted ? 'turned their camera off' : 'turned their camera on');
    this.announcer.say(`${participant.name} ${what}.`);
  }

  presence(participant) {
    this.announcer.say(participant.nodeReconnecting
      ? `${participant.name} has connection problems and is reconnecting.`
      : `${participant.name} is back.`);
  }

  videoPaused(participant, paused) {
    if (paused && !participant.tile.videoPausedChip.hidden) return;
    participant.tile.setVideoPaused(paused);
    if (paused) {
      this.announcer.say(`Your connection is too slow for ${participant.name}'s video. `
        + 'You can still hear them.');
    }
  }

  /** Say in words whether this participant's own camera and microphone are kept. */
  recordingScope(includesMe) {
    byId('recording-text').textContent = includesMe
      ? 'This session is being recorded, including your camera and microphone.'
      : 'This session is being recorded. You are not being recorded.';
  }

  recording(recording) {
    byId('recording-banner').hidden = !recording;
    this.announcer.say(recording
      ? 'Recording started. This session is being recorded.'
      : 'Recording stopped.');
  }

  quality(participant, rating) {
    if (participant === null || participant.tile.el.dataset.quality === rating) return;
    const before = participant.tile.el.dataset.quality;
    participant.tile.setQuality(rating);
    const whose = participant.local ? 'Your' : `${participant.name}’s`;
    if (rating === 'poor') this.announcer.say(`${whose} connection is poor.`);
    else if (rating === 'busy' && before !== 'busy') {
      this.announcer.say('This device is busy: close other apps or tabs to help the video.');
    } else if (before === 'busy' && rating !== 'unknown') {
      this.announcer.say('This device keeps up again.');
    } else if (before === 'poor' && rating !== 'unknown') {
      this.announcer.say(`${whose} connection recovered.`);
    }
  }

  // --- this page's own state -------------------------------------------------------------

  /** The reconnecting banner for session `state` and whether a peer connection dropped. */
  banner(state, troubled) {
    const reconnecting = state === 'reconnecting';
    byId('reconnecting-banner').hidden = !(state !== 'ended' && (reconnecting || troubled));
    byId('reconnecting-text').textContent = reconnecting
      ? 'Connection lost. Reconnecting…'
      : 'Connection problem. Trying to recover…';
    if (state === 'ended') byId('recording-banner').hidden = true;
  }

  controls({ mic, camera, muted }) {
    const micButton = byId('mic-button');
    const cameraButton = byId('camera-button');
    setButton(micButton, muted.audio || !mic ? 'micOff' : 'mic',
      !mic ? 'No microphone' : muted.audio ? 'Unmute microphone' : 'Mute microphone');
    setButton(cameraButton, muted.video || !camera ? 'cameraOff' : 'camera',
      !camera ? 'No camera' : muted.video ? 'Turn camera on' : 'Turn camera off');
    micButton.setAttribute('aria-disabled', String(!mic));
    cameraButton.setAttribute('aria-disabled', String(!camera));
    micButton.dataset.muted = String(muted.audio);
    cameraButton.dataset.off = String(muted.video);
    setButton(byId('leave-button'), 'leave', 'Leave session');
  }
}
