// The replay page's two charts, plain SVG (no library, no build step): the lanes under the
// videos (one row per participant) and the connection quality over time. Each is drawn at
// the container's width in CSS pixels (so its text stays at its real size; replay.js redraws
// on resize); a click seeks there. Their text alternatives
// are the events list and the quality table (replay.js): the SVGs carry a label only.
// Shapes and patterns tell the phases apart, never colour alone.

import { fmt } from "./replay-events.js";

const NS = "http://www.w3.org/2000/svg";
const ROW = 52;
const LEVELS = ["excellent", "good", "fair", "poor", "lost"];
const LINE_STYLES = [
  { stroke: "#5b21b6", dash: "", marker: "circle" },
  { stroke: "#1d4ed8", dash: "8 4", marker: "square" },
  { stroke: "#9a3412", dash: "2 3", marker: "diamond" },
  { stroke: "#166534", dash: "12 3 3 3", marker: "circle" },
];

function svg(tag, attrs = {}, parent = null) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (parent) parent.append(el);
  return el;
}

function axis(root, x, duration, height, W) {
  const wide = W >= 640;
  const steps = duration > 600 ? (wide ? 120 : 300) : duration > 120 ? (wide ? 30 : 60)
    : duration > 30 ? 10 : 5;
  for (let t = 0; t <= duration; t += steps) {
    svg("line", { x1: x(t), x2: x(t), y1: 0, y2: height, class: "grid" }, root);
    svg("text", { x: x(t), y: height + 16, class: "tick", "text-anchor": "middle" }, root)
      .textContent = fmt(t);
  }
}

function chart(container, height, duration, label, onSeek) {
  const W = Math.max(320, Math.floor(container.clientWidth) - 8);
  const LEFT = W < 640 ? 84 : 110;
  const root = svg("svg", { viewBox: `0 0 ${W} ${height + 24}`, width: W, height: height + 24,
    role: "img", "aria-labelledby": label, class: "replay-svg", focusable: "false" });
  const x = (t) => LEFT + ((W - LEFT - 10) * Math.min(Math.max(t, 0), duration)) / (duration || 1);
  root.addEventListener("click", (e) => {
    const box = root.getBoundingClientRect();
    const at = ((e.clientX - box.left) * W / box.width - LEFT) * duration / (W - LEFT - 10);
    if (at >= 0 && at <= duration) onSeek(at);
  });
  container.replaceChildren(root);
  const head = svg("line", { x1: x(0), x2: x(0), y1: 0, y2: height, class: "playhead" });
  return { root, x, head, W, LEFT,
    place: (t) => { head.setAttribute("x1", x(t)); head.setAttribute("x2", x(t)); } };
}

function defs(root) {
  const d = svg("defs", {}, root);
  const hatch = svg("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)" }, d);
  svg("rect", { width: 6, height: 6, fill: "#fff7ed" }, hatch);
  svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#9a3412", "stroke-width": 3 }, hatch);
  const dots = svg("pattern", { id: "dots", width: 5, height: 5, patternUnits: "userSpaceOnUse" }, d);
  svg("rect", { width: 5, height: 5, fill: "#ffffff" }, dots);
  svg("circle", { cx: 2.5, cy: 2.5, r: 1.3, fill: "#6b7280" }, dots);
}

export const LANE_KEY = [
  ["present", "Present (grey bar)"], ["reconnecting", "Reconnecting (orange stripes)"],
  ["muted", "Muted (dotted, A for audio, V for video)"], ["gap", "Not recorded (white gap)"],
  ["freeze", "Video froze (red triangle)"], ["talk", "Speaking (green line)"],
];

/** The lanes chart; returns a function that moves the playhead to t. */
export function drawLanes(container, lanes, duration, onSeek) {
  const height = Math.max(1, lanes.length) * ROW;
  const { root, x, head, place, W } = chart(container, height, duration, "lanes-caption", onSeek);
  defs(root);
  axis(root, x, duration, height, W);
  lanes.forEach((l, i) => {
    const top = i * ROW;
    const g = svg("g", { class: `lane lane-${i}` }, root);
    svg("text", { x: 4, y: top + 26, class: "lane-label" }, g).textContent = l.who;
    const bar = (a, b, y, h, cls, fill) => svg("rect", { x: x(a), y: top + y,
      width: Math.max(1.5, x(b) - x(a)), height: h, class: cls, ...(fill ? { fill } : {}) }, g);
    for (const [a, b] of l.present) bar(a, b, 10, 28, "present");
    for (const [a, b, kind] of l.gaps) bar(a, b, kind === "audio" ? 10 : 24, 14, "gap");
    for (const [a, b] of l.reconnecting) bar(a, b, 10, 28, "reconnecting", "url(#hatch)");
    for (const [a, b, kind] of l.muted) {
      bar(a, b, kind === "audio" ? 10 : 24, 14, "muted", "url(#dots)");
      const letter = svg("text", { x: x(a) + 3, y: top + (kind === "audio" ? 22 : 36),
        class: "mute-letter" }, g);
      letter.textContent = kind === "audio" ? "A" : "V";
    }
    for (const [a, b] of l.talk) bar(a, b, 42, 6, "talk");
    for (const [a] of l.freezes) {
      const cx = x(a);
      svg("path", { d: `M${cx - 7} ${top + 1} L${cx + 7} ${top + 1} L${cx} ${top + 13} Z`,
        class: "freeze" }, g);
    }
  });
  root.append(head);
  return place;
}

/** The quality chart: one step line per participant, levels top (excellent) to bottom. */
export function drawQuality(container, steps, duration, onSeek) {
  const rowH = 30;
  const height = LEVELS.length * rowH;
  const { root, x, head, place, W, LEFT } = chart(container, height, duration, "quality-caption",
    onSeek);
  const y = (level) => LEVELS.indexOf(level) * rowH + rowH / 2;
  LEVELS.forEach((level) => {
    svg("line", { x1: LEFT, x2: W - 10, y1: y(level), y2: y(level), class: "grid" }, root);
    svg("text", { x: LEFT - 8, y: y(level) + 5, class: "tick", "text-anchor": "end" }, root)
      .textContent = level;
  });
  axis(root, x, duration, height, W);
  const lines = [...steps.entries()];
  lines.forEach(([, changes], i) => {
    if (changes.length === 0) return;
    const style = LINE_STYLES[i % LINE_STYLES.length];
    const dy = (i - (lines.length - 1) / 2) * 4; // lines at one level stay apart
    const yy = (level) => y(level) + dy;
    let d = "";
    changes.forEach(([at, level], k) => {
      const until = k + 1 < changes.length ? changes[k + 1][0] : duration;
      d += `${k ? "L" : "M"}${x(at)} ${yy(level)} L${x(until)} ${yy(level)} `;
    });
    svg("path", { d, fill: "none", stroke: style.stroke, "stroke-width": 3,
      "stroke-dasharray": style.dash, class: "quality-line" }, root);
    for (const [at, level] of changes) marker(root, style, x(at), yy(level));
  });
  root.append(head);
  return place;
}

function marker(root, style, cx, cy) {
  const attrs = { fill: style.stroke, class: "quality-marker" };
  if (style.marker === "square") svg("rect", { x: cx - 5, y: cy - 5, width: 10, height: 10, ...attrs }, root);
  else if (style.marker === "diamond") svg("path", { d: `M${cx} ${cy - 6} L${cx + 6} ${cy} L${cx} ${cy + 6} L${cx - 6} ${cy} Z`, ...attrs }, root);
  else svg("circle", { cx, cy, r: 5, ...attrs }, root);
}

/** A legend entry's swatch for participant i of the quality chart. */
export function lineSwatch(i) {
  const style = LINE_STYLES[i % LINE_STYLES.length];
  const root = svg("svg", { viewBox: "0 0 40 12", width: 40, height: 12, "aria-hidden": "true",
    focusable: "false" });
  svg("line", { x1: 2, x2: 38, y1: 6, y2: 6, stroke: style.stroke, "stroke-width": 3,
    "stroke-dasharray": style.dash }, root);
  marker(root, style, 20, 6);
  return root;
}
