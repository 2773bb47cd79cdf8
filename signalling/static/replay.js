// The replay page: every recorded track of one session on one clock, the talk-time table
// and the timeline. The tracks' timestamps are session time (docs/recording.md), so one
// master element (the first audio track, else the first video) sets the clock and the
// others follow it: re-seeked when they drift more than DRIFT_S from it.

const DRIFT_S = 0.08;
const SYNC_EVERY_MS = 250;
const SHOWN = new Set(["participant_joined", "participant_left", "participant_resumed",
  "mute", "unmute", "span", "quality", "talk", "recording_started", "recording_stopped",
  "track_started", "track_ended"]);

const base = location.pathname.replace(/\/$/, "");
if (location.search) history.replaceState(null, "", base); // the token is in the cookie now

const $ = (id) => document.getElementById(id);
const fmt = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;

function text(tag, value) {
  const el = document.createElement(tag);
  el.textContent = value;
  return el;
}

async function main() {
  const response = await fetch(`${base}/summary`, { credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    $("status").textContent = `This replay cannot be opened (${body?.error?.code ?? response.status}).`;
    return;
  }
  const { summary, timeline } = await response.json();
  $("session-label").textContent = `Session ${summary.session}`;
  const elements = [];
  for (const track of summary.tracks) {
    const video = track.endsWith("-video");
    const el = document.createElement(video ? "video" : "audio");
    el.src = `${base}/tracks/${encodeURIComponent(track)}`;
    el.preload = "auto";
    if (video) {
      el.muted = true; // the sound comes from the audio tracks
      el.playsInline = true;
      const figure = document.createElement("figure");
      figure.append(el, text("figcaption", track.replace(/-video$/, "")));
      $("videos").append(figure);
    } else {
      document.body.append(el);
    }
    elements.push({ el, audio: !video });
  }
  if (elements.length === 0) {
    $("status").textContent = "This session has no recorded tracks.";
    return;
  }
  const master = (elements.find((x) => x.audio) ?? elements[0]).el;
  const others = elements.map((x) => x.el).filter((el) => el !== master);
  const duration = summary.duration_s;
  const seek = $("seek");
  seek.max = String(duration);
  seek.disabled = false;
  $("play").disabled = false;
  $("status").textContent = `${fmt(duration)} recorded, ${summary.participants.length} participants.`;

  const goTo = (t) => {
    for (const el of [master, ...others]) el.currentTime = Math.min(t, el.duration || t);
  };
  $("play").addEventListener("click", () => {
    if (master.paused) {
      for (const el of [master, ...others]) el.play().catch(() => {});
      $("play").textContent = "Pause";
    } else {
      for (const el of [master, ...others]) el.pause();
      $("play").textContent = "Play";
    }
  });
  seek.addEventListener("input", () => goTo(Number(seek.value)));
  setInterval(() => {
    const t = master.currentTime;
    seek.value = String(t);
    $("clock").textContent = `${fmt(t)} / ${fmt(duration)}`;
    for (const el of others) {
      if (el.readyState >= 1 && Math.abs(el.currentTime - t) > DRIFT_S && t < (el.duration || Infinity)) {
        el.currentTime = t;
      }
      if (master.paused !== el.paused) master.paused ? el.pause() : el.play().catch(() => {});
    }
  }, SYNC_EVERY_MS);

  for (const p of summary.participants) {
    const row = document.createElement("tr");
    const share = summary.talk_s > 0 ? `${Math.round((100 * p.talk_s) / summary.talk_s)} %` : "–";
    row.append(text("td", p.pseudonym), text("td", p.role), text("td", `${p.talk_s.toFixed(1)} s`),
      text("td", share), text("td", p.quality.worst ?? "–"), text("td", String(p.quality.reconnects)));
    $("talk").append(row);
  }
  for (const line of timeline) {
    if (!SHOWN.has(line.event) || typeof line.at !== "number") continue;
    const item = document.createElement("li");
    const at = line.event === "talk" || line.event === "span" ? line.start : line.at;
    const button = text("button", fmt(at));
    button.type = "button";
    button.setAttribute("aria-label", `Go to ${fmt(at)}`);
    button.addEventListener("click", () => goTo(at));
    const who = line.participant ?? line.track ?? "";
    const detail = line.event === "quality" ? ` ${line.quality}` :
      line.event === "talk" || line.event === "span" ? ` ${(line.end - line.start).toFixed(1)} s` : "";
    item.append(button, text("span", ` ${line.event.replaceAll("_", " ")} ${who}${detail}`));
    $("timeline").append(item);
  }
}

main().catch(() => { $("status").textContent = "This replay could not be loaded."; });
