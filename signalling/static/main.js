// Entry point of /join?token=...: the join view, then the session view.

import { ReconnectPolicy } from './continuity.js';
import { JoinView } from './join.js';
import { setIceTransportPolicy } from './media.js';
import { Session } from './session.js';
import { resumeAudio } from './speaking.js';
import { TokenFormatError, decodeJoinToken } from './token.js';
import { byId, showView } from './ui.js';

const ENDED = {
  left: ['You left the session', 'You can join again with the same link while it is valid.'],
  unload: ['You left the session', 'You can join again with the same link while it is valid.'],
  replaced: ['You joined from somewhere else', 'This window left the session because you joined it in another window or on another device.'],
  room_closed: ['The session has ended', 'Thank you for joining.'],
  bad_token: ['Your join link is no longer valid', 'Ask your tutor or your school for a new link.'],
  token_expired: ['Your join link has expired', 'Ask your tutor or your school for a new link.'],
  room_full: ['The session is full', 'Someone took your place while you were reconnecting. Tell your tutor.'],
  lost: ['The connection was lost', 'We could not reconnect. Check your internet connection, then choose “Join again”.'],
};

/** The node's page config (signalling/pages.py): its STUN servers and its client contract.
 * Throws without a contract: the node always writes one, and the page keeps no copy. */
function readConfig() {
  const content = document.querySelector('meta[name="liveroom-config"]')?.content ?? '';
  let config = null;
  try {
    config = JSON.parse(content);
  } catch {
    // reported below: there is no contract
  }
  setIceTransportPolicy(config?.iceTransportPolicy);
  return {
    iceServers: Array.isArray(config?.iceServers) ? config.iceServers : [],
    policy: new ReconnectPolicy(config?.reconnect),
  };
}

function showEnded(reason) {
  const [title, text] = ENDED[reason] ?? ENDED.lost;
  byId('ended-title').textContent = title;
  byId('ended-text').textContent = text;
  document.title = `${title} · Liveroom`;
  showView('ended');
  byId('ended-title').focus();
}

function bindControls(session) {
  const mic = byId('mic-button');
  const camera = byId('camera-button');
  const usable = (button) => button.getAttribute('aria-disabled') !== 'true';
  mic.addEventListener('click', () => {
    if (usable(mic)) session.setMicMuted(!session.muted.audio);
  });
  camera.addEventListener('click', () => {
    if (usable(camera)) session.setCameraOff(!session.muted.video);
  });
  byId('leave-button').addEventListener('click', () => session.leave());
}

// A link whose expiry passed this long ago (by this device's clock) is refused before the
// preview; the node still decides on join (a device clock can be off by a little).
const EXPIRY_LEEWAY_MS = 60000;

function isExpired(claims) {
  return claims.expiresAt !== null && claims.expiresAt.getTime() + EXPIRY_LEEWAY_MS < Date.now();
}

/** A link that cannot work: say why at once, ask for no camera or microphone. */
function refuseLink(joinView, title, text) {
  const view = new JoinView({ claims: null });
  view.showMessage(title, text);
  for (const part of joinView.querySelectorAll('.preview, .identity, .field, .actions')) {
    part.hidden = true;
  }
  joinView.dataset.state = 'invalid';
}

async function main() {
  const config = readConfig();
  const token = new URLSearchParams(window.location.search).get('token') ?? '';
  const joinView = byId('join-view');
  let claims;
  try {
    claims = decodeJoinToken(token);
  } catch (error) {
    if (!(error instanceof TokenFormatError)) throw error;
    refuseLink(joinView, token ? 'This join link is not valid.' : 'This page needs a join link.',
      'Open the link your tutor or your school sent you, or ask them for a new one.');
    return;
  }
  if (isExpired(claims)) {
    refuseLink(joinView, 'This join link has expired.',
      'Ask your tutor or your school for a new link.');
    return;
  }
  byId('room-label').textContent = `Session ${claims.room}`;

  const view = new JoinView({
    claims,
    onJoin: async (stream) => {
      resumeAudio(); // a click or key press: the page may now play sound
      const session = new Session({
        token, claims, stream, iceServers: config.iceServers, policy: config.policy,
      });
      window.liveroom = { session }; // for diagnostics (and the browser tests)
      await session.start();
      view.release();
      session.addEventListener('ended', (event) => {
        if (event.detail.reason !== 'unload') sessionStorage.removeItem(IN_SESSION);
        showEnded(event.detail.reason);
      });
      bindControls(session);
      byId('session-title').textContent = `Reading session ${claims.room}`;
      document.title = `Reading session · Liveroom`;
      showView('session');
      byId('session-title').focus();
      const others = [...session.participants.values()].filter((p) => !p.local)
        .map((p) => (p.role === 'tutor' ? `${p.name} (tutor)` : p.name));
      session.announcer.say(others.length > 0
        ? `You joined the session. Also here: ${others.join(', ')}.`
        : 'You joined the session. No one else is here yet.');
      // On pagehide the session tells the node it may be gone (`leave {unload}`: the seat
      // is held a few seconds); a reload of this tab joins again at once (below) and so
      // takes the seat back, a closed tab is seen as left.
      sessionStorage.setItem(IN_SESSION, claims.room);
    },
  });
  byId('rejoin-button').addEventListener('click', () => window.location.reload());
  await view.start();
  joinView.dataset.state = 'ready';
  if (reloadedInSession(claims)) view.form.requestSubmit(); // take the seat back at once
}

// This tab was in the session (sessionStorage lives as long as the tab, across reloads).
const IN_SESSION = 'liveroom.in-session';

/** The page was reloaded while in `claims.room`'s session. */
function reloadedInSession(claims) {
  const [navigation] = performance.getEntriesByType('navigation');
  const wasIn = sessionStorage.getItem(IN_SESSION) === claims.room;
  sessionStorage.removeItem(IN_SESSION);
  return wasIn && navigation?.type === 'reload';
}

// The AudioContext (speaking indicators, the preview's level meter) may only run after the
// person has interacted with the page.
for (const type of ['pointerdown', 'keydown']) {
  document.addEventListener(type, () => { resumeAudio(); }, { once: true });
}
main();
