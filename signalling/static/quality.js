// Connection quality from RTCPeerConnection.getStats(): loss, jitter and round-trip time
// over the last interval, rated good / fair / poor. Remote participants are rated from
// their downlink (what this browser receives); the local participant from the publish
// connection (what the node reports back in RTCP receiver reports).
//
// A busy device looks like a bad network (late packets, jitter, frames that stop), so the
// browser's own stats tell them apart: a decoder taking long per frame or dropping frames,
// or an encoder held back for CPU (`qualityLimitationReason`). A rating that is not good
// while the device is busy is 'busy' ("This device is busy"), not 'poor'.

export const LIMITS = {
  good: { lossPct: 2, jitterMs: 30, rttMs: 250 },
  fair: { lossPct: 8, jitterMs: 80, rttMs: 500 },
};
// the decoder is the bottleneck: this long per frame on average, or this share dropped
export const BUSY = { decodeMsPerFrame: 40, droppedShare: 0.2, minFrames: 5 };

/** 'good' | 'fair' | 'poor' | 'busy' | 'unknown' from one interval's figures. */
export function rateQuality(figures) {
  const rating = rateNetwork(figures);
  return figures.busy && (rating === 'fair' || rating === 'poor') ? 'busy' : rating;
}

function rateNetwork({ lossPct = null, jitterMs = null, rttMs = null, stalled = false }) {
  if (stalled) return 'poor';
  if (lossPct === null && jitterMs === null && rttMs === null) return 'unknown';
  const within = (limit) => (lossPct ?? 0) < limit.lossPct && (jitterMs ?? 0) < limit.jitterMs
    && (rttMs ?? 0) < limit.rttMs;
  if (within(LIMITS.good)) return 'good';
  if (within(LIMITS.fair)) return 'fair';
  return 'poor';
}

function selectedPairRtt(report) {
  for (const stat of report.values()) {
    if (stat.type === 'transport' && stat.selectedCandidatePairId) {
      const pair = report.get(stat.selectedCandidatePairId);
      if (pair?.currentRoundTripTime !== undefined) return pair.currentRoundTripTime * 1000;
    }
  }
  for (const stat of report.values()) {
    if (stat.type === 'candidate-pair' && stat.nominated && stat.currentRoundTripTime !== undefined) {
      return stat.currentRoundTripTime * 1000;
    }
  }
  return null;
}

/** Figures for a downlink between two reports; `live` lists the kinds expected to flow. */
export function downlinkFigures(previous, report, live) {
  let received = 0;
  let lost = 0;
  let jitterMs = null;
  let stalled = false;
  let busy = false;
  for (const stat of report.values()) {
    if (stat.type !== 'inbound-rtp') continue;
    const before = previous?.get(stat.id);
    if (stat.kind === 'video' && before !== undefined) busy = busy || decoderBusy(before, stat);
    const gotPackets = (stat.packetsReceived ?? 0) - (before?.packetsReceived ?? 0);
    received += Math.max(0, gotPackets);
    lost += Math.max(0, (stat.packetsLost ?? 0) - (before?.packetsLost ?? 0));
    if (stat.jitter !== undefined && (stat.kind === 'audio' || jitterMs === null)) {
      jitterMs = stat.jitter * 1000; // audio jitter if there is audio: video is bursty
    }
    if (before !== undefined && gotPackets <= 0 && live.has(stat.kind)) stalled = true;
  }
  const lossPct = received + lost > 0 ? (100 * lost) / (received + lost) : null;
  return { lossPct, jitterMs, rttMs: selectedPairRtt(report), stalled, busy };
}

/** The decoder fell behind between two inbound-rtp stats of one video stream. */
export function decoderBusy(before, now) {
  const decoded = (now.framesDecoded ?? 0) - (before.framesDecoded ?? 0);
  const decodeS = (now.totalDecodeTime ?? 0) - (before.totalDecodeTime ?? 0);
  const received = (now.framesReceived ?? 0) - (before.framesReceived ?? 0);
  const dropped = (now.framesDropped ?? 0) - (before.framesDropped ?? 0);
  if (decoded >= BUSY.minFrames && (1000 * decodeS) / decoded > BUSY.decodeMsPerFrame) return true;
  return received >= BUSY.minFrames && dropped / received > BUSY.droppedShare;
}

/** Figures for the publish connection, from the node's receiver reports. */
export function uplinkFigures(report) {
  let lossPct = null;
  let jitterMs = null;
  let rttMs = null;
  let busy = false;
  for (const stat of report.values()) {
    if (stat.type === 'outbound-rtp' && stat.qualityLimitationReason === 'cpu') busy = true;
    if (stat.type !== 'remote-inbound-rtp') continue;
    if (stat.fractionLost !== undefined) lossPct = Math.max(lossPct ?? 0, stat.fractionLost * 100);
    if (stat.jitter !== undefined && (stat.kind === 'audio' || jitterMs === null)) {
      jitterMs = stat.jitter * 1000;
    }
    if (stat.roundTripTime !== undefined) rttMs = Math.max(rttMs ?? 0, stat.roundTripTime * 1000);
  }
  return { lossPct, jitterMs, rttMs: rttMs ?? selectedPairRtt(report), stalled: false, busy };
}

/**
 * Samples one peer connection every `intervalMs` and calls `onRating(rating, figures)`
 * when the rating changes. A new rating must be seen in two samples in a row, so that one
 * odd interval (a connection starting, a keyframe burst) does not flip the indicator;
 * but media coming back (the first rating of a connection, or the first after a stall) is
 * said at once, so that "Poor" does not outlast the outage.
 * `liveKinds()` says which kinds should be flowing (not muted) for a downlink.
 */
export class QualityMonitor {
  #timer = null;
  #previous = null;
  #candidate = null;
  #stalled = false; // the rating shown came from media that stopped

  constructor(pc, { direction, liveKinds = () => new Set(), onRating, intervalMs = 1000 }) {
    this.pc = pc;
    this.direction = direction;
    this.liveKinds = liveKinds;
    this.onRating = onRating;
    this.intervalMs = intervalMs;
    this.rating = 'unknown';
    this.figures = null;
  }

  start() {
    this.#timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop() {
    clearInterval(this.#timer);
    this.#timer = null;
  }

  async sample() {
    if (this.pc.connectionState === 'closed') return;
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return;
    }
    const figures = this.direction === 'uplink'
      ? uplinkFigures(report)
      : downlinkFigures(this.#previous, report, this.liveKinds());
    this.#previous = report;
    this.figures = figures;
    const rating = rateQuality(figures);
    const confirmed = rating === this.#candidate;
    this.#candidate = rating;
    // media is back (after a stall, or the first figures of a new connection): say so at
    // once; any other change must be seen twice
    const back = rating !== 'unknown' && !figures.stalled
      && (this.rating === 'unknown' || this.#stalled);
    if (!(confirmed || back) || rating === this.rating) return;
    this.rating = rating;
    this.#stalled = figures.stalled;
    this.onRating(rating, figures);
  }
}
