// The application pages (jobs, job DAG, stage timeline, executors, storage, environment,
// history), all read from Spark's REST API under /api/v1/applications.
"use strict";

const params = new URLSearchParams(location.search);
const appId = params.get("app");
const base = appId ? `/api/v1/applications/${encodeURIComponent(appId)}` : null;
const {dagSvg, timelineSvg, histogramSvg, executorsSvg, sparkTime} = window.VegaCharts;

const {el, signedInFetch, duration, moment} = window.VegaDom;

function table(id, headers, rows) {
  return el("table", {id}, el("thead", {}, el("tr", {}, ...headers.map(h => el("th", {}, h)))),
            el("tbody", {}, ...rows.map(r => el("tr", {}, ...r.map(c => el("td", {}, c ?? "—"))))));
}

function link(query, text) { return el("a", {href: `/ui/app.html?${query}`}, text); }
function appQuery(extra) { return `app=${encodeURIComponent(appId)}${extra ? `&${extra}` : ""}`; }
function state(text) { return el("span", {class: `state-${String(text).toLowerCase()}`}, text); }
function when(date) { return date ? moment(sparkTime(date)) : "—"; }

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function ms(n) { return duration(n / 1000); }

async function api(path) {
  const response = await signedInFetch(path);
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || `${path}: HTTP ${response.status}`);
  }
  return response.json();
}

function tabs() {
  const nav = document.getElementById("tabs");
  const items = appId ? [["Jobs", appQuery()], ["Executors", appQuery("view=executors")],
                         ["Storage", appQuery("view=storage")],
                         ["Environment", appQuery("view=environment")]] : [];
  items.push(["History", "view=history"]);
  nav.replaceChildren(...items.map(([name, q]) => link(q, name)));
}

// -- views ----------------------------------------------------------------------------------
async function jobsView() {
  const [jobs, stages] = await Promise.all([api(`${base}/jobs`), api(`${base}/stages`)]);
  return [el("h2", {}, "Jobs"),
    table("jobs", ["job", "description", "status", "submitted", "stages", "tasks"], jobs.map(j => [
      link(appQuery(`job=${j.jobId}`), `${j.jobId}`), j.description, state(j.status),
      when(j.submissionTime),
      `${j.numCompletedStages}/${j.stageIds.length}` +
        (j.numSkippedStages ? ` (${j.numSkippedStages} skipped)` : ""),
      `${j.numCompletedTasks}/${j.numTasks - j.numSkippedTasks}` +
        (j.numActiveTasks ? ` (${j.numActiveTasks} running)` : "") +
        (j.numFailedTasks ? ` (${j.numFailedTasks} failed)` : "")])),
    el("h2", {}, "Stages"), stagesTable(stages)];
}

function stagesTable(stages) {
  return table("stages", ["stage", "name", "status", "submitted", "tasks", "shuffle read",
                          "shuffle write"], stages.map(s => [
    link(appQuery(`stage=${s.stageId}&attempt=${s.attemptId}`),
         `${s.stageId}${s.attemptId ? ` (attempt ${s.attemptId})` : ""}`),
    s.name, state(s.status), when(s.submissionTime),
    `${s.numCompleteTasks}/${s.numTasks}` +
      (s.numActiveTasks ? ` (${s.numActiveTasks} running)` : "") +
      (s.numFailedTasks ? ` (${s.numFailedTasks} failed)` : ""),
    bytes(s.shuffleReadBytes), bytes(s.shuffleWriteBytes)]));
}

async function jobView(jobId) {
  const [job, graph] = await Promise.all([api(`${base}/jobs/${jobId}`),
                                          api(`${base}/jobs/${jobId}/graph`)]);
  const stages = await api(`${base}/stages`);
  const mine = stages.filter(s => job.stageIds.includes(s.stageId));
  const open = s => { location.href = `/ui/app.html?${appQuery(`stage=${s.stage_id}&attempt=${
    Math.max(...s.attempts)}`)}`; };
  return [el("h2", {}, `Job ${job.jobId}: `, state(job.status)),
    el("p", {class: "summary"}, `${job.description} · submitted ${when(job.submissionTime)} · ` +
       `${job.numCompletedTasks} tasks done, ${job.numFailedTasks} failed, ` +
       `${job.numSkippedStages} stages skipped`),
    el("h3", {}, "Stage DAG"),
    el("div", {class: "legend"}, ...["COMPLETE", "ACTIVE", "PENDING", "FAILED", "SKIPPED"].map(
      k => el("span", {class: `key status-${k}`}, k.toLowerCase())),
      el("span", {}, "● cached RDD · arrows are shuffles")),
    el("div", {id: "dag", class: "chart"}, dagSvg(graph.stages, open)),
    el("h3", {}, "Stages"), stagesTable(mine)];
}

const SUMMARY_ROWS = [
  ["Duration", d => d.duration, ms], ["Executor run time", d => d.executorRunTime, ms],
  ["Task deserialization time", d => d.executorDeserializeTime, ms],
  ["Result size", d => d.resultSize, bytes],
  ["Shuffle read", d => d.shuffleReadMetrics.readBytes, bytes],
  ["Shuffle write", d => d.shuffleWriteMetrics.writeBytes, bytes],
  ["Spill (memory)", d => d.memoryBytesSpilled, bytes],
  ["Spill (disk)", d => d.diskBytesSpilled, bytes]];
const QUANTILES = [0, 0.25, 0.5, 0.75, 1];

// the most task attempts a stage page draws and lists (as Spark's timeline, 1000)
const MAX_TASKS = 1000;

async function stageView(stageId, attempt) {
  const path = `${base}/stages/${stageId}/${attempt}`;
  const stage = await api(`${path}?details=false`);
  const tasks = await api(`${path}/taskList?length=${MAX_TASKS}&sortBy=ID`);
  const attempts = stage.numCompleteTasks + stage.numFailedTasks + stage.numKilledTasks +
    stage.numActiveTasks;
  const parts = [el("h2", {}, `Stage ${stageId} (attempt ${attempt}): `, state(stage.status)),
    el("p", {class: "summary"}, `${stage.name} · ${stage.numCompleteTasks}/${stage.numTasks} ` +
       `tasks done, ${stage.numActiveTasks} running, ${stage.numFailedTasks} failed, ` +
       `${stage.numKilledTasks} killed, ${stage.speculationSummary.numTasks} speculative` +
       ` · shuffle read ${bytes(stage.shuffleReadBytes)}` +
       `, write ${bytes(stage.shuffleWriteBytes)}` +
       (stage.failureReason ? ` · failed: ${stage.failureReason}` : ""))];
  if (attempts > tasks.length) {
    parts.push(el("p", {class: "summary"}, `The timeline, histogram and list show the first ` +
                  `${tasks.length} of ${attempts} task attempts; the summary metrics cover all.`));
  }
  if (tasks.length) {
    parts.push(el("h3", {}, "Event timeline"),
      el("div", {class: "legend"}, ...["SUCCESS", "RUNNING", "FAILED", "KILLED"].map(
        k => el("span", {class: `key task-${k}`}, k.toLowerCase())),
        el("span", {class: "key speculative"}, "speculative (S)")),
      el("div", {id: "timeline", class: "chart"}, timelineSvg(tasks, 1180)));
  }
  // the summary covers successful tasks: without one the API answers 404, which the
  // browser would log as an error at every refresh of a running or failed stage's page
  const summary = stage.numCompleteTasks > 0
    ? await api(`${path}/taskSummary?quantiles=${QUANTILES.join(",")}`) : null;
  if (summary) {
    parts.push(el("h3", {}, `Summary metrics of ${stage.numCompleteTasks} successful tasks`),
      table("quantiles", ["metric", "min", "25th percentile", "median", "75th percentile", "max"],
            SUMMARY_ROWS.map(([name, get, fmt]) => [name, ...get(summary).map(
              v => el("span", {"data-value": v}, fmt(v)))])));
    const durations = tasks.filter(t => t.status === "SUCCESS").map(t => t.duration);
    parts.push(el("h3", {}, "Task durations"),
               el("div", {id: "histogram", class: "chart"}, histogramSvg(durations, 10, 600, "ms")));
  }
  parts.push(el("h3", {}, "Tasks"), table("tasks", ["task", "partition", "attempt", "status",
    "executor", "launched", "duration", "run time", "shuffle read", "shuffle write", "error"],
    tasks.map(t => [t.taskId, t.index, t.attempt,
      el("span", {}, state(t.status), t.speculative ? " (speculative)" : ""),
      t.executorId, when(t.launchTime), ms(t.duration), ms(t.taskMetrics.executorRunTime),
      bytes(t.taskMetrics.shuffleReadMetrics.remoteBytesRead),
      bytes(t.taskMetrics.shuffleWriteMetrics.bytesWritten), t.errorMessage])));
  return parts;
}

async function executorsView() {
  const [executors, timeline] = await Promise.all([api(`${base}/allexecutors`),
                                                   api(`${base}/executorTimeline`)]);
  return [el("h2", {}, "Executors over time"),
    el("div", {class: "legend"}, ...["added", "released", "lost"].map(
      k => el("span", {class: `key change-${k}`}, k))),
    el("div", {id: "executors-over-time", class: "chart"},
       executorsSvg(timeline, 1180, timeline.now)),
    el("h2", {}, "Executors"), table("executors", ["executor", "host", "status", "added",
    "removed", "why", "active", "tasks", "failed", "task time", "shuffle read", "shuffle write",
    "RDD blocks", "storage memory", "disk"], executors.map(e => [
      e.id, e.hostPort, state(e.isActive ? "active" : "dead"), when(e.addTime),
      when(e.removeTime), e.removeReason, e.activeTasks, e.totalTasks, e.failedTasks,
      ms(e.totalDuration),
      bytes(e.totalShuffleRead), bytes(e.totalShuffleWrite), e.rddBlocks,
      `${bytes(e.memoryUsed)} / ${bytes(e.maxMemory)}`, bytes(e.diskUsed)]))];
}

async function storageView() {
  const rdds = await api(`${base}/storage/rdd`);
  const details = await Promise.all(rdds.map(r => api(`${base}/storage/rdd/${r.id}`)));
  return [el("h2", {}, "Storage"), table("storage", ["RDD", "storage level",
    "cached partitions", "memory", "disk"], rdds.map(r => [`${r.name} [${r.id}]`,
      r.storageLevel, `${r.numCachedPartitions}/${r.numPartitions}`, bytes(r.memoryUsed),
      bytes(r.diskUsed)])),
    ...details.flatMap(d => [el("h3", {}, `${d.name} [${d.id}]: partitions`),
      table(`rdd-${d.id}`, ["block", "memory", "disk", "executors"], d.partitions.map(p => [
        p.blockName, bytes(p.memoryUsed), bytes(p.diskUsed), p.executors.join(", ")]))])];
}

async function environmentView() {
  const env = await api(`${base}/environment`);
  const sources = env.propertySources || {};
  return [el("h2", {}, "Runtime"), table("runtime", ["name", "value"],
      env.systemProperties.map(([k, v]) => [k, v])),
    el("h2", {}, "Configuration"), table("properties", ["setting", "value", "from"],
      env.sparkProperties.map(([k, v]) => [k, v, sources[k]]))];
}

async function historyView() {
  const apps = await api("/api/v1/applications?status=completed");
  // as Spark's history server's incomplete applications: running, or ended without saying so
  // (a driver killed: its log has no end), with their last event
  const incomplete = await api("/api/v1/applications?status=running");
  return [el("h2", {}, "Finished applications"), table("history-apps", ["application", "name",
    "started", "ended", "duration"], apps.map(a => {
      const attempt = a.attempts[0];
      return [link(`app=${encodeURIComponent(a.id)}`, a.id), a.name,
              new Date(attempt.startTimeEpoch).toLocaleString(),
              attempt.endTimeEpoch > 0 ? new Date(attempt.endTimeEpoch).toLocaleString() : "—",
              ms(attempt.duration)];
    })),
    el("h2", {}, "Incomplete applications"), table("incomplete-apps", ["application", "name",
    "started", "last updated"], incomplete.map(a => {
      const attempt = a.attempts[0];
      return [link(`app=${encodeURIComponent(a.id)}`, a.id), a.name,
              new Date(attempt.startTimeEpoch).toLocaleString(),
              new Date(attempt.lastUpdatedEpoch).toLocaleString()];
    }))];
}

// -- the page ---------------------------------------------------------------------------------
let completed = false;

async function render() {
  const problem = document.getElementById("problem");
  try {
    let parts;
    if (!appId || params.get("view") === "history") {
      document.title = "Vega: history";
      parts = await historyView();
      completed = true;
    } else {
      const info = await api(base);
      completed = info.attempts[0].completed;
      document.getElementById("app-title").textContent =
        `${info.name} · ${info.id}${completed ? " (finished)" : ""}`;
      document.title = `Vega: ${info.name}`;
      const view = params.get("view");
      if (params.has("stage")) parts = await stageView(params.get("stage"), params.get("attempt") || 0);
      else if (params.has("job")) parts = await jobView(params.get("job"));
      else if (view === "executors") parts = await executorsView();
      else if (view === "storage") parts = await storageView();
      else if (view === "environment") parts = await environmentView();
      else parts = await jobsView();
    }
    document.getElementById("view").replaceChildren(...parts);
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    problem.hidden = true;
  } catch (e) {
    problem.textContent = String(e.message || e);
    problem.hidden = e.message === "not signed in";
  }
  document.body.dataset.rendered = "true";
  if (!completed) setTimeout(render, 2000);
}

tabs();
render();
