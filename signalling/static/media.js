// Local devices and the two kinds of peer connection: the publish connection (the
// browser offers, the node answers) and one receive-only downlink per remote publisher
// (the node offers, the browser answers). aiortc does not trickle ICE: candidates travel
// inside the SDP, so every description is sent after ICE gathering completes.

const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

function constraintsFor(kind, deviceId) {
  const base = kind === 'video' ? VIDEO : AUDIO;
  return deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
}

const MISSING = new Set(['NotFoundError', 'DevicesNotFoundError', 'OverconstrainedError']);

/**
 * Camera and microphone, or whichever of them exists. Resolves to {stream, missing}
 * (`missing` lists the kinds not found); rejects with the browser's DOMException when
 * neither can be had (NotAllowedError, NotFoundError, NotReadableError, ...).
 */
export async function acquireLocalMedia({ cameraId = '', microphoneId = '' } = {}) {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new DOMException('media devices need a secure (https) page', 'NotSupportedError');
  }
  const audio = constraintsFor('audio', microphoneId);
  const video = constraintsFor('video', cameraId);
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio, video }), missing: [] };
  } catch (error) {
    if (!MISSING.has(error.name)) throw error;
    for (const [kind, constraints, other] of [['audio', { audio }, 'video'], ['video', { video }, 'audio']]) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia(constraints);
        return { stream, missing: [other] };
      } catch (single) {
        if (!MISSING.has(single.name)) throw single;
      }
    }
    throw error;
  }
}

/** Cameras and microphones the browser lists (labels appear once permission is given). */
export async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: devices.filter((d) => d.kind === 'videoinput' && d.deviceId),
    microphones: devices.filter((d) => d.kind === 'audioinput' && d.deviceId),
  };
}

/** What to tell a person when getUserMedia fails: {title, text, retry}. */
export function describeMediaError(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return {
        title: 'Camera and microphone are blocked.',
        text: 'Your browser is not letting this page use your camera and microphone. '
          + 'Open the site settings (the camera or lock icon next to the address), allow the '
          + 'camera and microphone, then choose “Try camera and microphone again”. '
          + 'You can also join without them to watch and listen.',
        retry: true,
      };
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return {
        title: 'No camera or microphone found.',
        text: 'Plug in a camera or a headset (or check that it is switched on), then choose '
          + '“Try camera and microphone again”. You can also join without them to watch and listen.',
        retry: true,
      };
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return {
        title: 'Your camera or microphone is busy.',
        text: 'Another app or browser tab may be using it. Close that app, then choose '
          + '“Try camera and microphone again”.',
        retry: true,
      };
    case 'NotSupportedError':
      return {
        title: 'This page cannot use your camera here.',
        text: 'Open the join link with https:// (or ask for a new link), in an up-to-date browser.',
        retry: false,
      };
    default:
      return {
        title: 'Your camera and microphone could not be started.',
        text: 'Choose “Try camera and microphone again”, or join without them to watch and listen.',
        retry: true,
      };
  }
}

/** Resolve when ICE gathering is complete (or after `timeoutMs`: send what there is). */
export function iceGatheringComplete(pc, timeoutMs = 5000) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    }, timeoutMs);
    pc.addEventListener('icegatheringstatechange', done);
  });
}

/** Offer only what the node forwards: Opus, or VP8 (+ RTX). One encoding, no simulcast. */
function preferNodeCodecs(transceiver, kind) {
  const wanted = kind === 'video' ? 'video/vp8' : 'audio/opus';
  const capabilities = globalThis.RTCRtpReceiver?.getCapabilities?.(kind);
  if (!capabilities || typeof transceiver.setCodecPreferences !== 'function') return;
  const codecs = capabilities.codecs.filter((c) => {
    const mime = c.mimeType.toLowerCase();
    return mime === wanted || (kind === 'video' && mime === 'video/rtx');
  });
  if (!codecs.some((c) => c.mimeType.toLowerCase() === wanted)) return;
  try {
    transceiver.setCodecPreferences(codecs);
  } catch {
    // the full codec list still carries VP8/Opus; the node's answer picks them
  }
}

let transportPolicy = 'all';

/** The page's ICE transport policy, from the node's config: 'relay' uses TURN only. */
export function setIceTransportPolicy(policy) {
  transportPolicy = policy === 'relay' ? 'relay' : 'all';
}

/** Publish `stream`'s tracks: resolves to {pc, publications} once the node answered. */
export async function publish(signalling, stream, iceServers) {
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: transportPolicy });
  try {
    for (const track of stream.getTracks()) {
      const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      preferNodeCodecs(transceiver, track.kind);
    }
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringComplete(pc);
    const reply = await signalling.request({ type: 'publish', sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: reply.sdp });
    return { pc, publications: reply.publications };
  } catch (error) {
    pc.close();
    throw error;
  }
}

/**
 * A receive-only peer connection for one node `offer`. `pc` and `stream` exist at once
 * (so that a `downlink_closed` arriving meanwhile can close it); `answered` settles once
 * the node accepted the answer.
 */
export function acceptOffer(signalling, offer, iceServers) {
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: transportPolicy });
  const stream = new MediaStream();
  pc.addEventListener('track', (event) => stream.addTrack(event.track));
  const answered = (async () => {
    await pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await iceGatheringComplete(pc);
    await signalling.request({
      type: 'answer', downlink: offer.downlink, sdp: pc.localDescription.sdp,
    });
  })();
  return { pc, stream, answered };
}
