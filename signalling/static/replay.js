// The replay page: every recorded track of one session on one clock (replay-clock.js),
// the talk time (the tutor's share first), the timeline under the videos (lanes and the
// list of events, each a button that seeks there) and the connection quality over time
// (an SVG chart with a table as its text alternative). Data: GET ./summary.

import { ReplayClock } from "./replay-clock.js";
import { drawLanes, drawQuality, LANE_KEY, lineSwatch } from "./replay-charts.js";
import { fmt, qualitySteps, sessionEvents, silentSpans, talkOrder } from "./replay-events.js";

const LOAD_TIMEOUT_MS = 20_000;

const base = location.pathname.replace(/\/$/, "");
if (location.search) history.replaceState(null, "", base); // the token is in the cookie now

const $ = (id) => document.getElementById(id);

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}

const percent = (x) => `${Math.round(100 * x)} %`;

function mediaElements(summary) {
  const tracks = [];
  for (const name of summary.tracks) {
    const video = name.endsWith("-video");
    const el = document.createElement(video ? "video" : "audio");
    el.src = `${base}/tracks/${encodeURIComponent(name)}`;
    el.preload = "auto";
    el.dataset.track = name;
    if (video) {
      el.muted = true; // the sound comes from the audio tracks
      el.playsInline = true;
      const who = name.replace(/-video$/, "");
      const role = summary.participants.find((p) => p.pseudonym === who)?.role;
      el.setAttribute("aria-label", `${who}'s video`);
      const figure = document.createElement("figure");
      figure.append(el, text("figcaption", role ? `${who} (${role})` : who));
      $("videos").append(figure);
    } else {
      el.hidden = true;
      document.body.append(el);
    }
    tracks.push({ name, el, video });
  }
  return tracks;
}

function metadata(tracks) {
  return Promise.race([
    Promise.all(tracks.map(({ el }) => (el.readyState >= 1 ? null : new Promise((resolve) => {
      el.addEventListener("loadedmetadata", resolve, { once: true });
      el.addEventListener("error", resolve, { once: true });
    })))),
    new Promise((resolve) => setTimeout(resolve, LOAD_TIMEOUT_MS)),
  ]);
}

function talkTable(summary) {
  const ordered = talkOrder(summary.participants);
  const share = summary.tutor_share;
  $("talk-share").textContent = share == null ? "Nobody spoke in the recorded time." :
    `The tutor spoke ${percent(share)} of the talk time, the learners ${percent(summary.learner_share ?? 0)} ` +
    `(${summary.talk_s.toFixed(1)} s in all).`;
  for (const p of ordered) {
    const row = document.createElement("tr");
    const q = p.quality;
    const own = summary.talk_s > 0 ? percent(p.talk_s / summary.talk_s) : "–";
    row.append(text("th", p.pseudonym), text("td", p.role), text("td", `${p.talk_s.toFixed(1)} s`),
      text("td", own), text("td", q.worst ?? "–"), text("td", q.mean_mos == null ? "–" : q.mean_mos.toFixed(1)),
      text("td", String(q.reconnects)), text("td", String(q.mutes)),
      text("td", q.freezes ? `${q.freezes} (${q.freeze_s.toFixed(1)} s)` : "0"));
    row.firstChild.scope = "row";
    $("talk").append(row);
    if (summary.talk_s > 0 && p.talk_s > 0) {
      const part = text("span", "", `share share-${p.role === "tutor" ? "tutor" : "learner"}`);
      part.style.flexGrow = String(p.talk_s);
      $("talk-bar").append(part);
    }
  }
}

function eventList(events, seek) {
  const items = [];
  for (const e of events) {
    const item = document.createElement("li");
    item.dataset.kind = e.kind;
    if (e.who) item.dataset.who = e.who;
    const button = document.createElement("button");
    button.type = "button";
    button.append(text("span", fmt(e.at), "at"), text("span", ` ${e.text}`));
    button.addEventListener("click", () => seek(e.at));
    item.append(button);
    $("timeline").append(item);
    items.push({ item, at: e.at, end: e.end ?? e.at });
  }
  return (t) => {
    for (const x of items) {
      const now = t >= x.at - 0.05 && t <= Math.max(x.end, x.at + 1);
      if (now) x.item.firstChild.setAttribute("aria-current", "true");
      else x.item.firstChild.removeAttribute("aria-current");
    }
  };
}

function qualityParts(summary, steps) {
  const caption = $("quality-caption");
  caption.append(text("span", "Level of each participant's connection, from excellent (top) to lost (bottom). "));
  const legend = document.createElement("ul");
  legend.className = "replay-legend";
  [...steps.keys()].forEach((who, i) => {
    const p = summary.participants.find((x) => x.pseudonym === who);
    const levels = Object.entries(p?.quality.levels_s ?? {}).map(([k, v]) => `${k} ${v.toFixed(0)} s`);
    const li = document.createElement("li");
    li.append(lineSwatch(i), text("span", ` ${who}: ${levels.length ? levels.join(", ") : "no figures"}`));
    legend.append(li);
  });
  caption.append(legend);
  for (const [who, changes] of steps) {
    for (const [at, level, score] of changes) {
      const row = document.createElement("tr");
      row.append(text("td", fmt(at)), text("td", who), text("td", level),
        text("td", score == null ? "–" : score.toFixed(1)));
      row.dataset.at = String(at);
      $("quality").append(row);
    }
  }
  const rows = [...$("quality").children].sort((a, b) => Number(a.dataset.at) - Number(b.dataset.at));
  $("quality").replaceChildren(...rows);
}

async function main() {
  const response = await fetch(`${base}/summary`, { credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    $("status").textContent = `This replay cannot be opened (${body?.error?.code ?? response.status}).`;
    $("main").dataset.state = "refused";
    return;
  }
  const { summary, timeline } = await response.json();
  $("session-label").textContent = `Session ${summary.session}`;
  const duration = summary.duration_s;
  talkTable(summary);
  const tracks = mediaElements(summary);
  if (tracks.length === 0) {
    $("status").textContent = "This session has no recorded tracks.";
    $("main").dataset.state = "empty";
    return;
  }
  await metadata(tracks);
  const seekBar = $("seek");
  const placeHeads = [];
  let markCurrent = () => {};
  let movedAt = 0; // the reviewer's last move of the slider: not overwritten for a moment
  const clock = new ReplayClock(tracks, silentSpans(timeline), (t) => {
    if (performance.now() - movedAt > 500) seekBar.value = String(t);
    seekBar.setAttribute("aria-valuetext", `${fmt(t)} of ${fmt(duration)}`);
    $("clock").textContent = `${fmt(t)} / ${fmt(duration)}`;
    for (const place of placeHeads) place(t);
    markCurrent(t);
  });
  const seek = (t) => clock.seek(Math.min(Math.max(0, t), duration));
  const { lanes, events } = sessionEvents(timeline, summary.participants, duration);
  const steps = qualitySteps(timeline, summary.participants);
  const drawCharts = () => {
    placeHeads.splice(0, placeHeads.length, drawLanes($("lanes"), lanes, duration, seek),
      drawQuality($("quality-chart"), steps, duration, seek));
    for (const place of placeHeads) place(clock.time);
  };
  drawCharts();
  let resized = null;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(drawCharts, 200);
  });
  for (const [, label] of LANE_KEY) $("lanes-legend").append(text("li", label));
  markCurrent = eventList(events, seek);
  qualityParts(summary, steps);

  seekBar.max = String(duration);
  for (const id of ["play", "back", "forward"]) $(id).disabled = false;
  seekBar.disabled = false;
  $("play").addEventListener("click", () => {
    if (clock.playing) clock.pause(); else clock.play();
    $("play").textContent = clock.playing ? "Pause" : "Play";
  });
  clock.master.el.addEventListener("pause", () => {
    if (!clock.playing) $("play").textContent = "Play";
  });
  $("back").addEventListener("click", () => seek(clock.time - 5));
  $("forward").addEventListener("click", () => seek(clock.time + 5));
  seekBar.addEventListener("input", () => {
    movedAt = performance.now();
    seek(Number(seekBar.value));
  });
  const names = summary.participants.map((p) => p.pseudonym).join(", ");
  $("status").textContent = `${fmt(duration)} recorded: ${names}. ${events.length} events on the timeline.`;
  $("main").dataset.state = "ready";
  window.liveroomReplay = { clock, seek }; // for the browser tests
}

main().catch((error) => {
  $("status").textContent = "This replay could not be loaded.";
  $("main").dataset.state = "failed";
  console.error(error);
});
