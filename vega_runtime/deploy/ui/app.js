// The master's web UI: polls the JSON API and re-renders, without reloading the page.
"use strict";

let selected = new URLSearchParams(location.search).get("app");

const {el, signedInFetch: api, fileLink, duration} = window.VegaDom;

function bar(used, total, label) {
  const pct = total ? Math.min(100, 100 * used / total) : 0;
  const span = el("span", {style: `width:${pct}%`});
  return el("div", {class: "bar", role: "progressbar", "aria-valuenow": used,
                    "aria-valuemax": total}, span, el("em", {}, label));
}

function mib(bytes) {
  if (bytes < 1048576) return `${Math.round(bytes / 1024)} KiB`;
  return `${Math.round(bytes / 1048576)} MiB`;
}

function fill(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(...rows.map(cells => el("tr", {}, ...cells.map(c => el("td", {}, c)))));
}

function state(text) { return el("span", {class: `state-${text}`}, text); }

function historyRow(h) {
  const link = el("a", {href: `?app=${h.app_id}`}, h.app_id);
  link.onclick = event => { event.preventDefault(); selected = h.app_id;
                            history.replaceState(null, "", `?app=${h.app_id}`); refresh(); };
  if (h.broken) {  // listed, with why, next to the logs that could be read
    return [link, h.name || "—", h.started ? new Date(h.started * 1000).toLocaleString() : "—",
            el("span", {class: "state-broken", title: h.error}, "broken"), h.error];
  }
  const pages = el("a", {href: `/ui/app.html?app=${h.app_id}`}, "jobs");
  return [el("span", {}, link, " · ", pages), h.name,
          new Date(h.started * 1000).toLocaleString(), duration(h.duration_seconds),
          h.jobs, h.tasks, `${duration(h.task_seconds.p50)} / ${duration(h.task_seconds.max)}`,
          mib(h.shuffle_written_bytes)];
}

async function refresh() {
  const status = await (await api("/api/v1/status")).json();
  document.getElementById("master").textContent =
    `${status.master.url} · version ${status.master.version}`;
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  fill("workers", status.workers.map(w => [
    w.id, w.labels.length ? `${w.host} (${w.labels.join(", ")})` : w.host, state(w.state), bar(w.cores_used, w.cores, `${w.cores_used}/${w.cores}`),
    bar(w.memory_used_bytes, w.memory_bytes,
        `${mib(w.memory_used_bytes)} / ${mib(w.memory_bytes)}`),
    w.last_heartbeat_seconds_ago === null ? "—" : `${w.last_heartbeat_seconds_ago}s ago`]));
  fill("applications", status.applications.map(a => {
    const link = el("a", {href: `?app=${a.id}`}, "details");
    link.onclick = event => { event.preventDefault(); selected = a.id;
                              history.replaceState(null, "", `?app=${a.id}`); refresh(); };
    const output = fileLink(`/api/v1/applications/${a.id}/output`, "output");
    const pages = el("a", {href: `/ui/app.html?app=${a.id}`}, "jobs");
    const why = a.waiting_reason ? el("span", {class: "waiting"}, `: ${a.waiting_reason}`) : "";
    return [a.id, a.name, el("span", {}, state(a.state), why), a.cores,
            duration(a.duration_seconds),
            el("span", {}, link, " · ", pages, " · ", output)];
  }));
  const past = await (await api("/api/v1/history")).json();
  fill("history", past.filter(h => h.finished || h.broken).map(historyRow));
  if (selected) {
    const response = await api(`/api/v1/applications/${selected}`);
    const app = response.ok ? await response.json() : null;
    // one this master does not run (finished before it started, say) has no jobs of the
    // master's here: its REST API answers Spark's ApplicationInfo from the event log, and
    // the tables stayed empty; its event log's summary has its stages
    if (!app || !app.jobs) {
      const done = await api(`/api/v1/history/${selected}`);
      if (done.ok) {
        const h = await done.json();
        document.getElementById("detail").hidden = false;
        document.getElementById("detail-id").textContent = h.broken
          ? `${h.app_id} (from its broken event log: ${h.error})`
          : `${h.app_id} (${h.name}, from its event log)`;
        // a stage the log has no end of (its driver killed): active, as Spark's history
        // server shows it, timed up to the log's last event
        fill("stages", h.stages.map(s => [
          `${s.stage_id}${s.attempt ? ` (attempt ${s.attempt + 1})` : ""}`, s.name,
          state(s.status === "ACTIVE" ? "active" : s.failure ? "failed" : "completed"),
          s.status === "ACTIVE" ? `${s.tasks} tasks, ${s.seconds}s so far`
            : bar(s.tasks, s.tasks, `${s.tasks} tasks, ${s.seconds}s`)]));
        fill("jobs", []);
        fill("executors", []);
        fill("cached", []);
      } else {  // a stale link (forgotten, its log cleaned): say so once, and stop asking
        document.getElementById("detail").hidden = false;
        document.getElementById("detail-id").textContent = `${selected}: not known to ` +
          "this master (neither running nor in its event log directory)";
        ["jobs", "stages", "executors", "cached"].forEach(id => fill(id, []));
        selected = null;
      }
      return;
    }
    document.getElementById("detail").hidden = false;
    document.getElementById("detail-id").textContent = `${app.id} (${app.name})`;
    fill("jobs", (app.jobs || []).slice().reverse().map(j => [
      j.id, j.description, state(j.state), j.stages.join(", ")]));
    fill("stages", (app.stages || []).slice().reverse().map(s => [
      `${s.id}${s.attempt ? ` (attempt ${s.attempt + 1})` : ""}`, s.name, state(s.state),
      bar(s.done, s.tasks, `${s.done}/${s.tasks}${s.failed ? `, ${s.failed} failed` : ""}`)]));
    fill("executors", Object.entries(app.executors || {}).map(([e, w]) => [e, w]));
    fill("cached", (app.cached_rdds || []).map(r => [
      `${r.name || "RDD"} [${r.id}]`, r.storage_level, `${r.cached_partitions}/${r.partitions}`,
      mib(r.memory_bytes), mib(r.disk_bytes)]));
  }
}

refresh().catch(() => {});
setInterval(() => refresh().catch(() => {}), 1000);
