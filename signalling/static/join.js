// The join view: who is joining, a camera and microphone preview, device selection, and
// clear messages for what can go wrong before the session starts.

import { acquireLocalMedia, describeMediaError, listDevices } from './media.js';
import { LevelMeter } from './speaking.js';
import { byId } from './ui.js';
import { roleLabel } from './token.js';

/** What to tell a person when the node refuses `join`: [title, text, canRetry]. */
const JOIN_ERRORS = {
  bad_token: ['This join link is not valid.', 'Ask your tutor or your school for a new link.', false],
  token_expired: ['This join link has expired.', 'Ask your tutor or your school for a new link.', false],
  wrong_room: ['This join link is for a different session.', 'Ask for the link to this session.', false],
  room_full: ['This session is full.', 'No one else can join it right now. Tell your tutor, or try again in a minute.', true],
  room_not_found: ['This session has ended or does not exist.', 'Check the link with your tutor.', false],
  room_closed: ['This session has ended.', 'Ask your tutor for the link to the next session.', false],
  unsupported_version: ['This page is out of date.', 'Reload the page, then join again.', false],
};
const NETWORK_ERROR = ['Could not reach the session.',
  'Check your internet connection, then choose “Join session” again.', true];

export function joinErrorText(error) {
  return JOIN_ERRORS[error?.code] ?? NETWORK_ERROR;
}

function fillSelect(select, devices, currentId, noun) {
  select.replaceChildren();
  if (devices.length === 0) {
    select.append(new Option(`No ${noun} found`, ''));
    select.disabled = true;
    return;
  }
  devices.forEach((device, i) => {
    const option = new Option(device.label || `${noun[0].toUpperCase()}${noun.slice(1)} ${i + 1}`,
      device.deviceId);
    option.selected = device.deviceId === currentId;
    select.append(option);
  });
  select.disabled = false;
}

export class JoinView {
  #meter = null;
  #joining = false;
  #generation = 0; // the latest startPreview(); an older one that finishes late gives up
  #released = false; // the camera was let go after a refused join

  constructor({ claims, onJoin }) {
    this.claims = claims;
    this.onJoin = onJoin; // async (stream) => void; throws a SignallingError to refuse
    this.stream = null;
    this.form = byId('join-form');
    this.button = byId('join-button');
    this.retry = byId('retry-media-button');
    this.cameraSelect = byId('camera-select');
    this.micSelect = byId('mic-select');
    this.preview = byId('preview');
  }

  async start() {
    byId('join-name').textContent = this.claims.name;
    byId('join-role').textContent = roleLabel(this.claims.role);
    byId('join-room').textContent = this.claims.room;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#join();
    });
    this.retry.addEventListener('click', () => this.startPreview());
    const changed = () => this.startPreview({
      cameraId: this.cameraSelect.value, microphoneId: this.micSelect.value,
    });
    this.cameraSelect.addEventListener('change', changed);
    this.micSelect.addEventListener('change', changed);
    if (!this.claims.canPublish) {
      this.#noPreview('You will join to watch and listen.');
      for (const select of [this.cameraSelect, this.micSelect]) select.closest('.field').hidden = true;
      this.#ready('Join session');
      return;
    }
    navigator.mediaDevices?.addEventListener?.('devicechange', () => this.#fillDevices());
    await this.startPreview();
  }

  /** (Re)start the preview with the chosen devices; explain any failure. */
  async startPreview(choice = {}) {
    const generation = ++this.#generation;
    this.#stopPreview();
    this.showMessage('', '');
    this.button.setAttribute('aria-disabled', 'true'); // until the new preview runs
    let result;
    try {
      result = await acquireLocalMedia(choice);
    } catch (error) {
      if (generation !== this.#generation) return;
      const { title, text, retry } = describeMediaError(error);
      this.showMessage(title, text, 'error');
      this.retry.hidden = !retry;
      this.#noPreview('No camera preview');
      await this.#fillDevices();
      this.#ready('Join without camera and microphone');
      return;
    }
    if (generation !== this.#generation) {
      for (const track of result.stream.getTracks()) track.stop();
      return;
    }
    this.stream = result.stream;
    this.retry.hidden = true;
    this.preview.srcObject = this.stream;
    byId('preview-empty').hidden = this.stream.getVideoTracks().length > 0;
    if (this.stream.getVideoTracks().length === 0) byId('preview-empty').textContent = 'No camera';
    if (this.stream.getAudioTracks().length > 0) {
      const meter = byId('mic-level');
      this.#meter = new LevelMeter(this.stream, {
        onLevel: (level) => { meter.value = Math.min(1, level * 4); },
      });
    }
    if (result.missing.includes('video')) {
      this.showMessage('No camera found.', 'You will join with your microphone only.', 'info');
    } else if (result.missing.includes('audio')) {
      this.showMessage('No microphone found.', 'You will join with your camera only: others will not hear you.', 'info');
    }
    await this.#fillDevices();
    this.#ready('Join session');
  }

  showMessage(title, text, kind = 'error') {
    const box = byId('join-message');
    box.dataset.kind = kind;
    box.replaceChildren();
    if (!title) return;
    const strong = document.createElement('strong');
    strong.textContent = title;
    box.append(strong, ` ${text}`);
  }

  /** Hand the stream over to the session (which owns it from now on). */
  release() {
    this.#meter?.stop();
    this.#meter = null;
    this.preview.srcObject = null;
    const stream = this.stream;
    this.stream = null;
    return stream;
  }

  async #join() {
    if (this.#joining || this.button.getAttribute('aria-disabled') === 'true') return;
    this.#joining = true;
    this.button.textContent = 'Joining…';
    this.button.setAttribute('aria-disabled', 'true');
    this.showMessage('', '');
    try {
      if (this.#released) {
        // a refused join let go of the camera: ask for it again before trying again
        this.#released = false;
        await this.startPreview(this.#choice());
      }
      await this.onJoin(this.stream);
    } catch (error) {
      const [title, text, canRetry] = joinErrorText(error);
      // after any refusal the camera and microphone are let go at once
      const hadMedia = this.stream !== null;
      this.#stopPreview();
      this.#released = hadMedia;
      this.#noPreview(canRetry ? 'Camera off until you try again' : 'No camera preview');
      this.showMessage(title, text, 'error');
      this.#ready(canRetry ? 'Try again' : 'Join session', canRetry);
    } finally {
      this.#joining = false;
    }
  }

  #choice() {
    return { cameraId: this.cameraSelect.value, microphoneId: this.micSelect.value };
  }

  async #fillDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    const { cameras, microphones } = await listDevices();
    const current = (kind) => this.stream?.getTracks().find((t) => t.kind === kind)
      ?.getSettings().deviceId ?? '';
    fillSelect(this.cameraSelect, cameras, current('video'), 'camera');
    fillSelect(this.micSelect, microphones, current('audio'), 'microphone');
  }

  #ready(label, enabled = true) {
    this.button.textContent = label;
    this.button.disabled = false;
    this.button.setAttribute('aria-disabled', String(!enabled));
  }

  #noPreview(text) {
    byId('preview-empty').textContent = text;
    byId('preview-empty').hidden = false;
    byId('mic-level').closest('.mic-level').hidden = true;
  }

  #stopPreview() {
    this.#meter?.stop();
    this.#meter = null;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    this.preview.srcObject = null;
    byId('mic-level').closest('.mic-level').hidden = false;
  }
}
