// What happened in a recorded session, from its timeline lines (docs/recording.md,
// docs/review.md): per participant the phases (present, reconnecting, muted, recording
// gaps, frozen, speaking) and the list of events a reviewer can go to. Pure: lines in,
// plain objects out; times are session time (s).

export const fmt = (s) => {
  const t = Math.max(0, Math.floor(s));
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
};

const seconds = (s) => `${s.toFixed(1)} s`;
const owner = (track) => track.replace(/-(audio|video)$/, "");
const kindOf = (track) => (track.endsWith("-audio") ? "audio" : "video");

/** Spans of one kind per participant and the events list, sorted by time. */
export function sessionEvents(timeline, participants, duration) {
  const lanes = new Map(participants.map((p) => [p.pseudonym, {
    who: p.pseudonym, role: p.role, present: [], reconnecting: [], muted: [], gaps: [],
    freezes: [], talk: [],
  }]));
  const lane = (who) => lanes.get(who);
  const events = [];
  const add = (at, who, kind, text, end = null) => events.push({ at, who, kind, text, end });
  const joined = new Map();
  const away = new Map();
  const gaps = [];
  for (const x of timeline) {
    const who = x.participant ?? (typeof x.track === "string" ? owner(x.track) : null);
    const l = who ? lane(who) : null;
    switch (x.event) {
      case "recording_started": add(x.at, null, "recording", "recording started"); break;
      case "recording_stopped": add(x.at, null, "recording", "recording stopped"); break;
      case "participant_joined":
        if (!l) break;
        joined.set(who, x.at);
        add(x.at, who, "join", `${who} joined (${x.role})`);
        break;
      case "participant_left":
        if (!l) break;
        l.present.push([joined.get(who) ?? 0, x.at]);
        joined.delete(who);
        if (away.has(who)) { l.reconnecting.push([away.get(who), x.at]); away.delete(who); }
        add(x.at, who, "leave", `${who} left`);
        break;
      case "participant_reconnecting":
        if (!l || away.has(who)) break;
        away.set(who, x.at);
        break;
      case "participant_resumed": {
        if (!l) break;
        const since = away.get(who);
        if (since !== undefined) {
          l.reconnecting.push([since, x.at]);
          away.delete(who);
          add(since, who, "reconnect", `${who} reconnecting for ${seconds(x.at - since)}, then back`, x.at);
        } else {
          add(x.at, who, "reconnect", `${who} reconnected (seat given back)`);
        }
        break;
      }
      case "span":
        if (!l || typeof x.start !== "number") break;
        if (x.kind === "mute") {
          l.muted.push([x.start, x.end, kindOf(x.track)]);
          add(x.start, who, "mute", `${who} muted ${kindOf(x.track)} for ${seconds(x.end - x.start)}`, x.end);
        } else {
          gaps.push({ l, who, track: x.track, start: x.start, end: x.end });
        }
        break;
      case "freeze":
        if (!l) break;
        l.freezes.push([x.start, x.end]);
        add(x.start, who, "freeze", `${who} video froze for ${seconds(x.end - x.start)}`, x.end);
        break;
      case "talk":
        if (l) l.talk.push([x.start, x.end]);
        break;
      case "quality":
        if (l) add(x.at, who, "quality", `${who} quality ${x.quality}${x.score != null ? ` (MOS ${x.score.toFixed(1)})` : ""}`);
        break;
      default: break;
    }
  }
  for (const g of gaps) { // a mute is also a gap in the recording: list it once, as the mute
    const kind = kindOf(g.track);
    const muted = g.l.muted.some(([a, b, k]) => k === kind && a < g.end && g.start < b &&
      Math.min(b, g.end) - Math.max(a, g.start) >= 0.8 * (g.end - g.start));
    if (muted) continue;
    g.l.gaps.push([g.start, g.end, kind]);
    add(g.start, g.who, "gap", `${g.who} ${kind} not recorded for ${seconds(g.end - g.start)}`, g.end);
  }
  for (const [who, at] of joined) lane(who).present.push([at, duration]);
  for (const [who, at] of away) {
    lane(who).reconnecting.push([at, duration]);
    add(at, who, "reconnect", `${who} reconnecting until the end`, duration);
  }
  events.sort((a, b) => a.at - b.at);
  return { lanes: [...lanes.values()], events };
}

/** The quality level of each participant over time: [[at, level, score], ...]. */
export function qualitySteps(timeline, participants) {
  const steps = new Map(participants.map((p) => [p.pseudonym, []]));
  for (const x of timeline) {
    if (x.event === "quality" && steps.has(x.participant)) {
      steps.get(x.participant).push([x.at, x.quality, x.score ?? null]);
    }
  }
  return steps;
}

/** Tutors first, then the others by talk time. */
export function talkOrder(participants) {
  const rank = (p) => (p.role === "tutor" ? 0 : 1);
  return [...participants].sort((a, b) => rank(a) - rank(b) || b.talk_s - a.talk_s);
}

/** The spans of a track with no media (mutes and gaps), for the clock to pause it there. */
export function silentSpans(timeline) {
  const spans = new Map();
  for (const x of timeline) {
    if (x.event === "span" && typeof x.track === "string" && typeof x.start === "number") {
      if (!spans.has(x.track)) spans.set(x.track, []);
      spans.get(x.track).push([x.start, x.end]);
    }
  }
  return spans;
}
