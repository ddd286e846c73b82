// Plain SVG drawings for the application pages: the stage DAG of a job, the task timeline
// of a stage attempt, a histogram and the executor count over time.  No library: each is a
// few dozen lines.
(function () {
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  children.forEach(c => node.append(c instanceof Node ? c : document.createTextNode(String(c))));
  return node;
}

function title(text) { return svgEl("title", {}, text); }

// Spark's dates ("2026-12-03T10:46:16.219GMT") as milliseconds since the epoch.
function sparkTime(text) { return text ? Date.parse(text.replace("GMT", "Z")) : NaN; }

// stages: [{stage_id, name, kind, status, parent_ids, rdds: [{rdd_id, name, parent_ids,
// storage_level, call_site}]}] -> an SVG with one box per stage (its RDDs inside) and an
// arrow per shuffle edge, in columns by depth.  Boxes link to the stage pages via onStage.
function dagSvg(stages, onStage) {
  const byId = new Map(stages.map(s => [s.stage_id, s]));
  const depth = new Map();
  const depthOf = s => {
    if (!depth.has(s.stage_id)) {
      depth.set(s.stage_id, 0);
      const parents = s.parent_ids.filter(p => byId.has(p)).map(p => depthOf(byId.get(p)));
      depth.set(s.stage_id, parents.length ? Math.max(...parents) + 1 : 0);
    }
    return depth.get(s.stage_id);
  };
  stages.forEach(depthOf);
  const columns = [];
  stages.forEach(s => (columns[depth.get(s.stage_id)] ||= []).push(s));
  const boxW = 230, rddH = 34, gapX = 90, gapY = 24, pad = 12, head = 30;
  const place = new Map();
  let height = 0;
  columns.forEach((column, c) => {
    let y = pad;
    column.forEach(s => {
      const h = head + s.rdds.length * rddH + 10;
      place.set(s.stage_id, {x: pad + c * (boxW + gapX), y, h});
      y += h + gapY;
    });
    height = Math.max(height, y);
  });
  const width = pad * 2 + columns.length * boxW + (columns.length - 1) * gapX;
  const svg = svgEl("svg", {class: "dag", width, height, viewBox: `0 0 ${width} ${height}`,
                            role: "img", "aria-label": "stage DAG"});
  svg.append(svgEl("defs", {}, svgEl("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9,
    refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"},
    svgEl("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "#55606e"}))));
  stages.forEach(s => s.parent_ids.filter(p => place.has(p)).forEach(p => {
    const from = place.get(p), to = place.get(s.stage_id);
    const x1 = from.x + boxW, y1 = from.y + from.h / 2, x2 = to.x, y2 = to.y + to.h / 2;
    const mid = (x1 + x2) / 2;
    svg.append(svgEl("path", {class: "edge", "data-from": p, "data-to": s.stage_id,
      d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2 - 2} ${y2}`,
      "marker-end": "url(#arrow)"}, title(`shuffle: stage ${p} → stage ${s.stage_id}`)));
  }));
  stages.forEach(s => {
    const at = place.get(s.stage_id);
    const g = svgEl("g", {class: `stage status-${s.status}`, "data-stage-id": s.stage_id,
                          "data-status": s.status, transform: `translate(${at.x},${at.y})`});
    g.append(svgEl("rect", {class: "stage-box", width: boxW, height: at.h, rx: 6}),
             svgEl("text", {x: 10, y: 20, class: "stage-label"},
                   `Stage ${s.stage_id} · ${s.status.toLowerCase()}`),
             title(`${s.kind} stage ${s.stage_id}: ${s.name}`));
    const rddY = new Map();
    s.rdds.forEach((r, i) => {
      const y = head + i * rddH;
      rddY.set(r.rdd_id, y);
      const cached = r.storage_level && r.storage_level !== "NONE";
      const rg = svgEl("g", {class: `rdd${cached ? " cached" : ""}`, "data-rdd-id": r.rdd_id},
        svgEl("rect", {x: 14, y, width: boxW - 28, height: rddH - 10, rx: 4}),
        svgEl("text", {x: 22, y: y + 16}, `${r.name} [${r.rdd_id}]${cached ? " ●" : ""}`),
        title(`${r.name} [${r.rdd_id}] at ${r.call_site || "?"}` +
              (cached ? ` (cached: ${r.storage_level})` : "")));
      g.append(rg);
    });
    s.rdds.forEach(r => r.parent_ids.filter(p => rddY.has(p)).forEach(p => {
      g.insertBefore(svgEl("line", {class: "narrow", x1: boxW / 2, y1: rddY.get(p) + rddH - 10,
                                    x2: boxW / 2, y2: rddY.get(r.rdd_id)}), g.children[1]);
    }));
    if (onStage && s.attempts.length) {  // not one pending or skipped: it has no page
      g.style.cursor = "pointer";
      g.addEventListener("click", () => onStage(s));
    }
    svg.append(g);
  });
  return svg;
}

// tasks: Spark TaskData list -> one lane per executor, one bar per task attempt (a running
// one up to now, its duration so far, with an open end).
function timelineSvg(tasks, width) {
  const executors = [...new Set(tasks.map(t => t.executorId))].sort();
  const starts = tasks.map(t => sparkTime(t.launchTime));
  const t0 = Math.min(...starts), t1 = Math.max(...tasks.map((t, i) => starts[i] + t.duration));
  const span = Math.max(1, t1 - t0);
  const lane = 30, left = 90, top = 8, axis = 26;
  const height = top + executors.length * lane + axis;
  const scale = ms => left + (width - left - 12) * ms / span;
  const svg = svgEl("svg", {class: "timeline", width, height, viewBox: `0 0 ${width} ${height}`,
                            role: "img", "aria-label": "task timeline"});
  executors.forEach((e, i) => {
    const y = top + i * lane;
    svg.append(svgEl("rect", {class: "lane", x: left, y, width: width - left - 12, height: lane - 4}),
               svgEl("text", {x: 4, y: y + 17, class: "lane-label"}, e));
  });
  tasks.forEach((t, i) => {
    const y = top + executors.indexOf(t.executorId) * lane + 3;
    const x = scale(starts[i] - t0);
    const w = Math.max(t.status === "SUCCESS" ? 2 : 12, scale(starts[i] - t0 + t.duration) - x);
    const running = t.status === "RUNNING";
    const bar = svgEl("rect", {class: `task task-${t.status}${t.speculative ? " speculative" : ""}`,
      x, y, width: w, height: lane - 10, rx: 2, "data-task-id": t.taskId,
      "data-index": t.index, "data-attempt": t.attempt, "data-status": t.status,
      "data-speculative": t.speculative ? "true" : "false"},
      title(`task ${t.taskId} (partition ${t.index}, attempt ${t.attempt}) on ${t.executorId}: ` +
            `${t.status}${t.speculative ? ", speculative" : ""}, ${t.duration} ms` +
            (t.errorMessage ? `\n${t.errorMessage}` : "")));
    svg.append(bar);
    if (running) {  // an arrow head at its end: still going
      svg.append(svgEl("path", {class: "running-end", "data-task-id": t.taskId,
        d: `M ${x + w} ${y - 2} L ${x + w + 7} ${y + (lane - 10) / 2} L ${x + w} ${y + lane - 8} z`}));
    }
    const mark = [t.status === "FAILED" ? "✕" : t.status === "KILLED" ? "K" : "",
                  t.speculative ? "S" : ""].join("");
    if (mark) svg.append(svgEl("text", {class: "task-mark", x: x + 2, y: y + 14}, mark));
  });
  const ay = top + executors.length * lane + 14;
  for (let k = 0; k <= 4; k++) {
    const x = scale(span * k / 4);
    svg.append(svgEl("text", {x, y: ay, class: "axis",
                              "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle"},
                     `${Math.round(span * k / 4)} ms`));
  }
  return svg;
}

// values -> a histogram of `bins` bars.
function histogramSvg(values, bins, width, unit) {
  const height = 160, left = 40, bottom = 24;
  const lo = Math.min(...values), hi = Math.max(...values);
  const size = (hi - lo) / bins || 1;
  const counts = new Array(bins).fill(0);
  values.forEach(v => counts[Math.min(bins - 1, Math.floor((v - lo) / size))]++);
  const most = Math.max(...counts);
  const barW = (width - left - 10) / bins;
  const svg = svgEl("svg", {class: "histogram", width, height, viewBox: `0 0 ${width} ${height}`,
                            role: "img", "aria-label": "histogram of task durations"});
  counts.forEach((n, i) => {
    const h = (height - bottom - 10) * n / most;
    svg.append(svgEl("rect", {class: "bin", x: left + i * barW + 1, y: height - bottom - h,
      width: barW - 2, height: h, "data-count": n},
      title(`${Math.round(lo + i * size)}–${Math.round(lo + (i + 1) * size)} ${unit}: ${n} tasks`)));
  });
  svg.append(svgEl("text", {x: left, y: height - 6, class: "axis"}, `${lo} ${unit}`),
             svgEl("text", {x: width - 10, y: height - 6, class: "axis", "text-anchor": "end"},
                   `${hi} ${unit}`),
             svgEl("text", {x: 4, y: 14, class: "axis"}, `${most}`));
  return svg;
}

// timeline: Vega's executorTimeline document ({startTime, endTime, points: [{time,
// executors, change, executorId, reason, cause}]}, times in ms) -> a step line of the
// executor count from the application's start to its end (or `now`), one marker per change:
// added, released (on purpose) or lost.
function executorsSvg(timeline, width, now) {
  const points = timeline.points;
  const height = 180, left = 40, right = 12, top = 12, bottom = 26;
  const t0 = Math.min(timeline.startTime || Infinity, ...points.map(p => p.time));
  const t1 = Math.max(timeline.endTime || now, ...points.map(p => p.time));
  const span = Math.max(1, t1 - t0);
  const most = Math.max(1, ...points.map(p => p.executors));
  const x = t => left + (width - left - right) * (t - t0) / span;
  const y = n => top + (height - top - bottom) * (1 - n / most);
  const svg = svgEl("svg", {class: "executors-chart", width, height,
                            viewBox: `0 0 ${width} ${height}`, role: "img",
                            "aria-label": "executors over time"});
  for (let n = 0; n <= most; n += Math.max(1, Math.ceil(most / 4))) {
    svg.append(svgEl("line", {class: "grid", x1: left, x2: width - right, y1: y(n), y2: y(n)}),
               svgEl("text", {class: "axis", x: left - 6, y: y(n) + 4, "text-anchor": "end"}, n));
  }
  let d = `M ${x(t0)} ${y(0)}`;
  points.forEach(p => {
    d += ` H ${x(p.time)} V ${y(p.executors)}`;
  });
  d += ` H ${x(t1)}`;
  svg.append(svgEl("path", {class: "step", d}));
  points.forEach(p => {
    const label = `${new Date(p.time).toLocaleTimeString()}: ${p.executorId} ${p.change}` +
      `${p.reason ? ` (${p.reason})` : ""} → ${p.executors} executor${p.executors === 1 ? "" : "s"}`;
    svg.append(svgEl("circle", {class: `change change-${p.change}`, cx: x(p.time),
      cy: y(p.executors), r: p.change === "lost" ? 6 : 4, "data-time": p.time,
      "data-executors": p.executors, "data-change": p.change,
      "data-executor-id": p.executorId}, title(label)));
    if (p.change === "lost") {
      svg.append(svgEl("text", {class: "lost-mark", x: x(p.time), y: y(p.executors) + 4,
                                "text-anchor": "middle"}, "✕"));
    }
  });
  const seconds = span / 1000;
  for (let k = 0; k <= 4; k++) {
    svg.append(svgEl("text", {x: x(t0 + span * k / 4), y: height - 8, class: "axis",
                              "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle"},
                     `${(seconds * k / 4).toFixed(seconds < 10 ? 1 : 0)} s`));
  }
  return svg;
}

window.VegaCharts = {dagSvg, timelineSvg, histogramSvg, executorsSvg, sparkTime};
})();
