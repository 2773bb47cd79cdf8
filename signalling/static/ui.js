// DOM helpers: icons, participant tiles, live-region announcements, banners, views.
// Names and other text from the network are only ever set with textContent.

export const byId = (id) => document.getElementById(id);

const SVG_NS = 'http://www.w3.org/2000/svg';
const ICONS = {
  mic: 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2Z',
  micOff: 'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3Zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2ZM3.4 2 2 3.4 20.6 22l1.4-1.4L3.4 2Z',
  camera: 'M4 6h11a2 2 0 0 1 2 2v2.5l4-3v9l-4-3V16a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2Z',
  cameraOff: 'M4 6h11a2 2 0 0 1 2 2v2.5l4-3v9l-4-3V16a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2ZM3.4 2 2 3.4 20.6 22l1.4-1.4L3.4 2Z',
  leave: 'M10 3h9a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2h-9v-2h9V5h-9V3Zm-.5 5L11 9.5 9.5 11H17v2H9.5l1.5 1.5L9.5 16 5 12l4.5-4Z',
  star: 'M12 2l2.9 6.3 6.9.7-5.2 4.6 1.5 6.8L12 17l-6.1 3.4 1.5-6.8L2.2 9l6.9-.7Z',
  speaking: 'M3 9v6h4l5 4V5L7 9H3Zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4ZM14 3v2.1a7 7 0 0 1 0 13.8V21a9 9 0 0 0 0-18Z',
  reconnecting: 'M12 4V1L8 5l4 4V6a6 6 0 0 1 6 6 6 6 0 0 1-.7 2.8l1.5 1.5A8 8 0 0 0 12 4Zm0 14a6 6 0 0 1-6-6c0-1 .3-2 .7-2.8L5.2 7.7A8 8 0 0 0 12 20v3l4-4-4-4v3Z',
};

/** An inline SVG icon, hidden from assistive technology (a text label goes with it). */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon');
  if (name === 'bars') {
    for (const [i, [x, y]] of [[3, 14], [10, 9], [17, 3]].entries()) {
      const rect = document.createElementNS(SVG_NS, 'rect');
      for (const [k, v] of Object.entries({ x, y, width: 4, height: 21 - y, rx: 1 })) {
        rect.setAttribute(k, String(v));
      }
      rect.classList.add(`bar-${i + 1}`);
      svg.append(rect);
    }
    return svg;
  }
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

/** Give a button an icon and a visible text label (its accessible name). */
export function setButton(button, iconName, label) {
  const text = document.createElement('span');
  text.textContent = label;
  button.replaceChildren(icon(iconName), text);
}

function chip(className, iconName, text = '') {
  const el = document.createElement('li');
  el.className = `chip ${className}`;
  const label = document.createElement('span');
  label.textContent = text;
  el.append(icon(iconName), label);
  return [el, label];
}

export function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words.at(-1)[0] : (words[0] ?? '?').slice(0, 2);
  return letters.toUpperCase();
}

const ROLE_BADGES = { tutor: 'Tutor', learner: 'Learner', observer: 'Observer', reviewer: 'Reviewer' };
const QUALITY_TEXT = {
  good: 'Good', fair: 'Fair', poor: 'Poor', busy: 'This device is busy', unknown: 'Checking',
};

/** One participant's tile: video (or a placeholder), name, role badge and status chips. */
export class Tile {
  constructor({ identity, name, role, local = false }) {
    this.identity = identity;
    this.name = name;
    this.el = document.createElement('li');
    this.el.className = 'tile';
    Object.assign(this.el.dataset, {
      identity, role, local: String(local), mic: 'none', camera: 'none', speaking: 'false',
      quality: 'unknown', reconnecting: 'false',
    });

    const media = document.createElement('div');
    media.className = 'tile-media';
    this.video = document.createElement('video');
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = local; // never play your own microphone back to you
    if (local) this.video.classList.add('mirrored');
    const avatar = document.createElement('div');
    avatar.className = 'avatar';
    avatar.setAttribute('aria-hidden', 'true');
    avatar.textContent = initials(name);
    media.append(this.video, avatar);

    const heading = document.createElement('h2');
    heading.className = 'tile-name';
    const nameText = document.createElement('span');
    nameText.className = 'name';
    nameText.textContent = local ? `${name} (you)` : name;
    const badge = document.createElement('span');
    badge.className = `badge badge-${role === 'tutor' ? 'tutor' : 'other'}`;
    if (role === 'tutor') badge.append(icon('star'));
    badge.append(document.createTextNode(ROLE_BADGES[role] ?? 'Participant'));
    heading.append(nameText, ' ', badge);

    const status = document.createElement('ul'); // a list: screen readers pause between items
    status.className = 'status';
    status.setAttribute('aria-label', 'Status');
    [this.micChip, this.micText] = chip('chip-mic', 'mic');
    [this.cameraChip, this.cameraText] = chip('chip-camera', 'cameraOff');
    [this.speakingChip] = chip('chip-speaking', 'speaking', 'Speaking');
    [this.qualityChip, this.qualityText] = chip('chip-quality', 'bars');
    const prefix = document.createElement('span');
    prefix.className = 'visually-hidden';
    prefix.textContent = 'Connection: '; // the bars icon says it on screen
    this.qualityText.before(prefix);
    [this.reconnectingChip] = chip('chip-reconnecting', 'reconnecting', 'Reconnecting…');
    [this.videoPausedChip] = chip('chip-video-paused', 'cameraOff',
      'Video paused: your connection is too slow');
    status.append(this.micChip, this.cameraChip, this.speakingChip, this.qualityChip,
      this.reconnectingChip, this.videoPausedChip);

    this.el.append(media, heading, status);
    this.setMic('none');
    this.setCamera('none');
    this.setSpeaking(false);
    this.setQuality('unknown');
    this.setReconnecting(false);
    this.setVideoPaused(false);
  }

  /** 'on' | 'off' (muted) | 'none' (not published) */
  setMic(state) {
    this.el.dataset.mic = state;
    this.micText.textContent = { on: 'Mic on', off: 'Mic off', none: 'No mic' }[state];
    this.micChip.replaceChild(icon(state === 'on' ? 'mic' : 'micOff'), this.micChip.firstChild);
  }

  /** 'on' | 'off' (camera turned off) | 'none' (no camera published) */
  setCamera(state) {
    this.el.dataset.camera = state;
    this.cameraText.textContent = state === 'off' ? 'Camera off' : 'No camera';
    this.cameraChip.hidden = state === 'on';
  }

  setSpeaking(speaking) {
    this.el.dataset.speaking = String(speaking);
    this.speakingChip.hidden = !speaking;
  }

  setQuality(rating) {
    this.el.dataset.quality = rating;
    this.qualityText.textContent = QUALITY_TEXT[rating] ?? rating;
  }

  setReconnecting(reconnecting) {
    this.el.dataset.reconnecting = String(reconnecting);
    this.reconnectingChip.hidden = !reconnecting;
  }

  /** The node stopped sending this participant's video to us: our link is too slow. */
  setVideoPaused(paused) {
    this.el.dataset.videoPaused = String(paused);
    this.videoPausedChip.hidden = !paused;
  }

  /** Keep the picture now on screen as the video's poster: it stays shown while there is
   * no stream (the page is reconnecting) and until a new stream's first frame. */
  freezeFrame() {
    const { video } = this;
    if (video.srcObject === null || video.videoWidth === 0) return;
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    video.poster = canvas.toDataURL('image/jpeg', 0.8);
  }

  clearFrame() {
    this.video.removeAttribute('poster');
  }

  setStream(stream) {
    if (this.video.srcObject === stream) return;
    this.video.srcObject = stream;
    if (stream !== null) this.video.play().catch(() => {});
  }
}

/** Polite (or assertive) screen-reader announcements; the last few stay in the region. */
export class Announcer {
  constructor(region) {
    this.region = region;
  }

  say(text) {
    const line = document.createElement('p');
    line.textContent = text;
    this.region.append(line);
    while (this.region.childElementCount > 5) this.region.firstElementChild.remove();
  }
}

export function showView(name) {
  for (const view of ['join', 'session', 'ended']) byId(`${view}-view`).hidden = view !== name;
}

export function showBanner(id, visible, text) {
  const banner = byId(id);
  banner.hidden = !visible;
  if (text !== undefined) banner.querySelector('span:last-of-type').textContent = text;
}
