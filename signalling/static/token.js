// Reads a join token's claims for display only. The node verifies the signature and the
// expiry on `join`; the page never decides anything from these claims but what to show
// (and which WebSocket URL to open, from the `room` claim).

const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;

export class TokenFormatError extends Error {}

function base64UrlDecode(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64.padEnd(Math.ceil(b64.length / 4) * 4, '=');
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

/** The display claims of a join token, or TokenFormatError if it is no readable JWT. */
export function decodeJoinToken(token) {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) throw new TokenFormatError('not a JWT');
  let claims;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new TokenFormatError('unreadable payload');
  }
  if (!claims || typeof claims.sub !== 'string' || typeof claims.room !== 'string'
      || !ROOM_ID.test(claims.room)) {
    throw new TokenFormatError('missing claims');
  }
  const grants = claims.grants && typeof claims.grants === 'object' ? claims.grants : {};
  return {
    identity: claims.sub,
    room: claims.room,
    name: typeof claims.name === 'string' && claims.name ? claims.name : claims.sub,
    role: typeof claims.role === 'string' ? claims.role : 'learner',
    canPublish: grants.publish !== false,
    expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null,
  };
}

const ROLE_LABELS = { tutor: 'Tutor', learner: 'Learner', observer: 'Observer', reviewer: 'Reviewer' };

export function roleLabel(role) {
  return ROLE_LABELS[role] ?? 'Participant';
}
