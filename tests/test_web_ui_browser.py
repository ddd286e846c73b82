"""The master web UI in a real headless Chromium (Debian's chromium, driven by Playwright),
opened as a user does: through the ``?token=`` link the master's commands print.

The UI is HTTPS with a certificate of the cluster CA.  Chromium cannot verify the Ed25519
signature of that CA, so the tests trust the server's key itself, as a user accepting the
warning once does: ``--ignore-certificate-errors-spki-list`` with the SHA-256 of the
server's public key, read over a connection verified against the CA (no other certificate
error is ignored)."""

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from http_helpers import ui_url
from test_http_api import request
from proc_helpers import wait_for
from ui_workload import FLAKY_PARTITION, run_workload, task_events

from vega_runtime import Context
from vega_runtime.net.tls import http_client_context

CHROMIUM = shutil.which("chromium")

#: fetch(path) from inside a page of the UI, with the token the page keeps, as its scripts do
API = "(p => fetch(p, {headers: {Authorization: `Bearer ${localStorage.getItem('vega-token')}`}}))"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium "
                                                         "(.ci/run installs it)")


def spki_pin(port: int, ca_file: str) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)) of the certificate the HTTPS server on
    ``port`` presents, which must chain to the CA in ``ca_file``."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    with socket.create_connection(("127.0.0.1", port), timeout=10) as plain, \
            http_client_context(ca_file).wrap_socket(plain, server_hostname="127.0.0.1") as sock:
        der = sock.getpeercert(binary_form=True)
    spki = x509.load_der_x509_certificate(der).public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextmanager
def chromium(pin: str = ""):
    """Headless Chromium trusting the server key ``pin`` (see ``spki_pin``).  Pages opened
    with ``bypass_csp=True`` let Playwright evaluate its predicates (``wait_for_function``),
    which the UI's Content-Security-Policy forbids; the last test runs under it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  *([f"--ignore-certificate-errors-spki-list={pin}"] if pin else [])])
        try:
            yield browser
        finally:
            browser.close()


def test_workers_running_application_and_advancing_stage_progress(tmp_path):
    """Without the token the page says how to sign in; the ?token= link signs the browser in
    (the token kept in the page's own storage, no cookie) and drops the token from the
    address.  While a job runs: both workers and the application appear (its output opens),
    and the stage's progress bar advances without reloading the page;
    a screenshot is written."""
    with Context(master="local-cluster[2,1]", app_name="watched") as ctx:
        cluster = ctx.backend.owned_cluster
        port = cluster.webui_port
        app_id = ctx.backend.app_id
        job = threading.Thread(target=lambda: ctx.parallelize(range(24), 24).map(
            lambda x: time.sleep(0.4) or x).count())
        with chromium(spki_pin(port, cluster.ca_file)) as browser:
            page = browser.new_page(bypass_csp=True, viewport={"width": 1200, "height": 900})
            page.goto(f"https://127.0.0.1:{port}/?app={app_id}")
            page.wait_for_selector("#signin", state="visible", timeout=15000)
            assert "vega status --token" in page.inner_text("#signin")
            signed_in = page.goto(f"{cluster.ui_link}&app={app_id}")
            assert signed_in.status == 200
            assert page.url == f"https://127.0.0.1:{port}/?app={app_id}"  # the token is gone
            assert page.evaluate("localStorage.getItem('vega-token')") == cluster.token
            assert page.context.cookies() == []
            page.wait_for_function(
                "document.querySelectorAll('#workers tbody tr').length === 2", timeout=15000)
            assert "alive" in page.inner_text("#workers")
            page.wait_for_selector(f"#applications >> text={app_id}", timeout=15000)
            assert "running" in page.inner_text("#applications")
            with page.expect_popup() as popup:  # fetched with the token, opened as a blob
                page.click("#applications >> text=output")
            assert popup.value.url.startswith(f"blob:https://127.0.0.1:{port}/")
            job.start()  # now that the page is up (a browser can take seconds to start)
            bar = "#stages tbody tr [role=progressbar]"
            page.wait_for_selector(bar, timeout=15000)
            first = int(page.get_attribute(bar, "aria-valuenow"))
            page.wait_for_function(
                f"Number(document.querySelector('{bar}').getAttribute('aria-valuenow')) > {first}",
                timeout=20000)
            _screenshot(page, "master-ui", tmp_path)  # docs/monitoring.md's first picture
        if job.ident is not None:  # started
            job.join(60)


def test_a_broken_event_log_shows_as_broken_and_a_lost_token_asks_to_sign_in(bare_master):
    """The history lists a truncated event log as broken, with why, next to a good one, and
    its stage cut off before its end as active (it was left out: no stage at all); once the
    token the page kept is gone the page says how to sign in again."""
    with Context(master="local", app_name="good",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        ctx.parallelize(range(4), 2).count()
        good = ctx.application_id
    whole = (bare_master.events / f"{good}.jsonl").read_bytes()
    (bare_master.events / "app-killed-0001.jsonl").write_bytes(  # cut in its first TaskEnd
        whole[:whole.index(b'"TaskEnd"') + 20].replace(good.encode(), b"app-killed-0001"))
    with chromium(spki_pin(bare_master.port, bare_master.ca_file)) as browser:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1200, "height": 900})
        page.goto(f"https://localhost:{bare_master.port}/?token={bare_master.token}")
        page.wait_for_function(
            "document.querySelectorAll('#history tbody tr').length === 2", timeout=15000)
        rows = page.inner_text("#history")
        assert good in rows and "app-killed-0001" in rows
        broken = page.locator("#history tbody tr", has_text="app-killed-0001").inner_text()
        assert "broken" in broken and "cut off" in broken
        page.locator("#history tbody tr a", has_text="app-killed-0001").click()
        page.wait_for_selector("#stages tbody tr", timeout=15000)
        stage = page.inner_text("#stages tbody")
        assert re.fullmatch(r"0\tcount at test_web_ui_browser\.py:\d+\tactive\t2 tasks, "
                            r"\d+(\.\d+)?s so far\s*", stage), stage
        assert page.is_hidden("#signin")
        page.evaluate("localStorage.clear()")
        page.wait_for_selector("#signin", state="visible", timeout=15000)
        assert "vega status --token" in page.inner_text("#signin")


def test_an_application_that_ran_for_days_reads_in_days_with_its_dates(bare_master):
    """An application that ran three days (its event log's times moved back): the history
    says 3.0 d (it said 259200.0s) and its jobs page gives the date its job was submitted,
    not today's time of day alone."""
    with Context(master="local", app_name="long",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        ctx.parallelize(range(4), 2).count()
        app_id = ctx.application_id
    path = bare_master.events / f"{app_id}.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    start = min(e["time"] for e in events)
    for event in events:  # started four days ago, ended three days after
        event["time"] += -4 * 86400 + (3 * 86400 if event["event"] == "ApplicationEnd" else 0)
        if event["event"] == "ApplicationEnd":  # (its duration, on a steady clock, wins)
            event.pop("duration", None)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    submitted = time.strftime("%Y", time.localtime(start - 4 * 86400))
    with chromium(spki_pin(bare_master.port, bare_master.ca_file)) as browser:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1200, "height": 900})
        page.goto(f"https://localhost:{bare_master.port}/?token={bare_master.token}")
        row = page.locator("#history tbody tr", has_text=app_id)
        row.wait_for(timeout=15000)
        assert "3.0 d" in row.inner_text()
        page.goto(f"https://localhost:{bare_master.port}/ui/app.html?app={app_id}")
        page.wait_for_selector("#jobs tbody tr", timeout=15000)
        assert submitted in page.locator("#jobs tbody tr").first.inner_text()


def test_without_trusting_the_server_key_chromium_refuses_the_page(bare_master):
    """The pin is what makes Chromium accept the page: without it the certificate is an
    error, and plain http:// gets the master's plain-text 400 telling to use https://."""
    from playwright.sync_api import Error

    with chromium() as browser:
        page = browser.new_page(bypass_csp=True)
        with pytest.raises(Error, match="ERR_CERT"):
            page.goto(f"https://127.0.0.1:{bare_master.port}/?token={bare_master.token}")
        page = browser.new_page(bypass_csp=True)
        plain = page.goto(f"http://127.0.0.1:{bare_master.port}/")
        assert plain.status == 400 and "speaks HTTPS only" in page.inner_text("body")
def _screenshot(page, name, tmp_path):
    """A screenshot of the page's viewport: into VEGA_SCREENSHOT_DIR (docs/images when
    refreshing the docs) or the test's directory."""
    directory = os.environ.get("VEGA_SCREENSHOT_DIR") or str(tmp_path)
    path = os.path.join(directory, f"{name}.png")
    page.screenshot(path=path)
    assert os.path.getsize(path) > 10_000
    return path


def _open(page, url):
    response = page.goto(url)
    assert response.status == 200, url
    page.wait_for_selector("body[data-rendered]", state="attached", timeout=20000)
    assert page.is_hidden("#problem"), page.inner_text("#problem")


def _quantile_row(page, metric):
    cells = page.locator("#quantiles tbody tr", has_text=metric).locator("span[data-value]")
    return [float(v) for v in cells.evaluate_all("spans => spans.map(s => s.dataset.value)")]


def _check_job_and_stage_pages(page, base, event_log, tmp_path, shots):
    """The job page's DAG and the stage page's timeline and quantiles, against the event log."""
    _open(page, f"{base}&job=0")
    page.wait_for_selector("svg.dag g.stage")
    stages = page.locator("svg.dag g.stage")
    assert sorted(stages.evaluate_all("gs => gs.map(g => g.dataset.stageId)")) == ["0", "1"]
    assert stages.evaluate_all("gs => gs.map(g => g.dataset.status)") == ["COMPLETE"] * 2
    edges = page.locator("svg.dag path.edge").evaluate_all(
        "ps => ps.map(p => [p.dataset.from, p.dataset.to])")
    assert edges == [["0", "1"]]  # the shuffle
    cached = page.locator('svg.dag g.stage[data-stage-id="0"] g.rdd.cached')
    assert cached.count() == 1 and "numbers" in cached.text_content()
    if shots:
        _screenshot(page, "ui-job-dag", tmp_path)

    _open(page, f"{base}&stage=0&attempt=0")
    attempts = task_events(event_log, 0)
    bars = page.locator("svg.timeline rect.task")
    assert bars.count() == len(attempts) == 5  # one bar per task attempt
    failed = page.locator('svg.timeline rect.task[data-status="FAILED"]')
    assert failed.count() == 1 and failed.get_attribute("data-index") == str(FLAKY_PARTITION)
    lanes = page.locator("svg.timeline .lane-label").evaluate_all(
        "ts => ts.map(t => t.textContent)")
    assert sorted(lanes) == sorted({e["executor"] for e in attempts})
    durations = sorted(round(e["metrics"]["duration"] * 1000) for e in attempts
                       if e["state"] == "success")
    # min, 25th, median, 75th, max of 4 successful tasks by Spark's rule (index int(q * n))
    assert _quantile_row(page, "Duration") == [durations[i] for i in (0, 1, 2, 3, 3)]
    written = sorted(e["metrics"]["shuffle_bytes_written"] for e in attempts
                     if e["state"] == "success")
    assert _quantile_row(page, "Shuffle write") == [written[i] for i in (0, 1, 2, 3, 3)]
    assert sum(int(b.get_attribute("data-count"))
               for b in page.locator("svg.histogram rect.bin").all()) == 4
    if shots:
        _screenshot(page, "ui-stage-timeline", tmp_path)


def test_job_stage_executor_storage_and_history_pages(bare_master, tmp_path):
    """A local-cluster application with a shuffle, a failed-then-retried task and a cached
    RDD: while it runs, its master's job page draws the two stages and the shuffle between
    them, the stage page one timeline bar per task attempt and the quantiles of the event
    log; the executors and storage pages list both executors and the cached partitions.
    Once it has finished, a master that only has its event log lists it on the history page,
    which links to the same pages; a log cut off an hour ago (a killed driver's) is listed
    among the incomplete applications, not the finished ones."""
    with Context(master="local-cluster[2,1]", app_name="pictures",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        run_workload(ctx)
        cluster = ctx.backend.owned_cluster
        event_log = bare_master.events / f"{ctx.application_id}.jsonl"
        base = ui_url(cluster.webui_port, f"/ui/app.html?app={ctx.backend.app_id}")
        with chromium(spki_pin(cluster.webui_port, cluster.ca_file)) as browser:
            page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
            page.goto(cluster.ui_link)  # signs in
            page.wait_for_function(  # the driver relays events in batches
                f"{API}('/api/v1/applications/{ctx.backend.app_id}/jobs/1')"
                ".then(r => r.ok ? r.json() : {}).then(j => j.status === 'SUCCEEDED')",
                timeout=20000, polling=200)
            # a browser that comes now sees every page load with no error in its console (no
            # script error, no failed load: not even of /favicon.ico)
            page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(cluster.ui_link)
            _open(page, base)
            assert page.locator("#jobs tbody tr").count() == 2
            _screenshot(page, "ui-jobs", tmp_path)
            _check_job_and_stage_pages(page, base, event_log, tmp_path, shots=True)
            _open(page, f"{base}&view=executors")
            rows = page.locator("#executors tbody tr")
            assert sorted(r.split("\t")[0] for r in rows.all_inner_texts()) == ["exec-1", "exec-2"]
            _screenshot(page, "ui-executors", tmp_path)
            _open(page, f"{base}&view=storage")
            assert "4/4" in page.locator("#storage tbody tr", has_text="numbers").inner_text()
            _screenshot(page, "ui-storage", tmp_path)
            _open(page, f"{base}&view=environment")
            row = page.locator("#properties tbody tr", has_text="vega.app.name").inner_text()
            assert "pictures" in row and "job" in row
            _screenshot(page, "ui-environment", tmp_path)
            assert errors == []
        app_id = ctx.application_id
    cut_off = "app-20261206080000-0c0f"
    (bare_master.events / f"{cut_off}.jsonl").write_text(json.dumps(
        {"event": "ApplicationStart", "time": float(int(time.time()) - 3600), "app_id": cut_off,
         "name": "killed", "master": "vega://127.0.0.1:7077"}) + "\n")
    with chromium(spki_pin(bare_master.port, bare_master.ca_file)) as browser:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
        page.goto(ui_url(bare_master.port, f"/?token={bare_master.token}"))
        _open(page, ui_url(bare_master.port, "/ui/app.html?view=history"))
        assert page.locator("#incomplete-apps tbody tr a", has_text=cut_off).count() == 1
        assert page.locator("#history-apps tbody tr a", has_text=cut_off).count() == 0
        link = page.locator("#history-apps tbody tr a", has_text=app_id)
        assert link.count() == 1
        _screenshot(page, "ui-history", tmp_path)
        link.click()
        page.wait_for_selector("#jobs tbody tr", timeout=20000)
        assert "(finished)" in page.inner_text("#app-title")
        base = ui_url(bare_master.port, f"/ui/app.html?app={app_id}")
        _check_job_and_stage_pages(page, base, event_log, tmp_path, shots=False)


def test_running_attempts_and_executors_over_time_of_a_dynamic_allocation_application(tmp_path):
    """With dynamic allocation, executors come for a job and go when idle: while a slow
    task runs, its stage's timeline draws it as a running bar (open-ended); once the
    executors have been released (and a second job has started one again), the executors
    page's step line has one point per ExecutorAdded and ExecutorRemoved of the event log,
    at its time, with the count after it."""
    conf = {"vega.dynamic_allocation.enabled": True,
            "vega.dynamic_allocation.scheduler_backlog_timeout": 0.2,
            "vega.dynamic_allocation.executor_idle_timeout": 1.0,
            "vega.executor.memory": "128m", "vega.eventlog.dir": str(tmp_path / "events")}
    slow = 4.0

    def maybe_slow(records):
        from vega_runtime import TaskContext

        if TaskContext.get().partition_id() == 1:
            time.sleep(slow)
        return records

    with Context(master="local-cluster[2,1]", app_name="elastic", conf=conf) as ctx:
        cluster = ctx.backend.owned_cluster
        app = ctx.backend.app_id
        base = ui_url(cluster.webui_port, f"/ui/app.html?app={app}")
        job = threading.Thread(target=lambda: ctx.parallelize(range(8), 2).map_partitions(
            maybe_slow).count())
        with chromium(spki_pin(cluster.webui_port, cluster.ca_file)) as browser:
            page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
            page.goto(cluster.ui_link)  # signs in
            job.start()
            try:
                page.wait_for_function(
                    f"{API}('/api/v1/applications/{app}/stages/0/0')"
                    ".then(r => r.ok ? r.json() : {})"
                    ".then(s => s.status === 'ACTIVE')", timeout=int(slow * 1000), polling=100)
                _open(page, f"{base}&stage=0&attempt=0")
                # the page polls while the application runs: the slow task shows running
                running = page.wait_for_selector(
                    'svg.timeline rect.task[data-status="RUNNING"][data-index="1"]',
                    timeout=int(slow * 1000))
                task_id = running.get_attribute("data-task-id")
                assert page.locator(f'svg.timeline path.running-end[data-task-id="{task_id}"]'
                                    ).count() == 1
                assert page.locator("#tasks tbody tr", has_text="RUNNING").count() >= 1
                _screenshot(page, "ui-stage-running", tmp_path)
            finally:
                job.join(60)
            wait_for(lambda: not ctx.backend.pool, 30, "every executor released when idle")

            def executor_changes():
                with open(ctx.event_log.path, encoding="utf-8") as fh:
                    return [e for e in map(json.loads, fh)
                            if e["event"] in ("ExecutorAdded", "ExecutorRemoved")]

            # the Context takes in releases between jobs by itself: no next job needed
            wait_for(lambda: sorted(e["event"] for e in executor_changes()).count(
                "ExecutorRemoved") * 2 == len(executor_changes()), 10,
                "every release in the event log")
            changes = executor_changes()
            assert not any(e.get("lost") for e in changes)
            assert [e["event"] for e in changes].count("ExecutorRemoved") >= 1
            page.wait_for_function(  # the driver relays events in batches
                f"{API}('/api/v1/applications/{app}/executorTimeline').then(r => r.json())"
                f".then(t => t.points.length === {len(changes)})", timeout=20000, polling=200)
            # the browser's clock a day ahead of the server's: the chart ends at the
            # server's time (before, at the browser's, it squeezed every point into a pixel)
            page.add_init_script("Date.now = (real => () => real() + 86400000)(Date.now)")
            _open(page, f"{base}&view=executors")
            xs = page.locator("#executors-over-time svg circle.change").evaluate_all(
                "cs => cs.map(c => Number(c.getAttribute('cx')))")
            assert max(xs) - min(xs) > 100, xs
            points = page.locator("#executors-over-time svg circle.change").evaluate_all(
                "cs => cs.map(c => [Number(c.dataset.time), Number(c.dataset.executors), "
                "c.dataset.change, c.dataset.executorId])")
            expected, count = [], 0
            for e in sorted(changes, key=lambda e: (e["time"], e["event"] == "ExecutorRemoved")):
                count += 1 if e["event"] == "ExecutorAdded" else -1
                expected.append([round(e["time"] * 1000), count,
                                 "added" if e["event"] == "ExecutorAdded" else "released",
                                 e["executor"]])
            assert points == expected, (points, expected)
            step = page.get_attribute("#executors-over-time svg path.step", "d")
            assert step.count(" V ") == len(changes)  # one rise or fall per change
            _screenshot(page, "ui-executors-over-time", tmp_path)


def test_a_speculated_stage_shows_the_killed_loser_and_the_speculative_winner(tmp_path):
    """A straggler's speculative copy wins: the REST API lists the original as KILLED with
    its reason and the copy as speculative, and the stage timeline marks both (K, S)."""
    conf = {"vega.speculation": True, "vega.speculation.min_runtime": 0.5,
            "vega.eventlog.dir": str(tmp_path / "events")}

    def maybe_hang(records):
        from vega_runtime import TaskContext

        tc = TaskContext.get()
        if tc.partition_id() == 3 and tc.attempt_number() == 0:
            time.sleep(120)  # the straggler: killed when its copy wins
        return records

    with Context(master="local-cluster[2,1]", app_name="speculated", conf=conf) as ctx:
        assert ctx.parallelize(range(40), 4).map_partitions(maybe_hang).count() == 40
        cluster = ctx.backend.owned_cluster
        app = ctx.backend.app_id
        with chromium(spki_pin(cluster.webui_port, cluster.ca_file)) as browser:
            page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
            page.goto(cluster.ui_link)  # signs in
            page.wait_for_function(  # the driver relays events in batches
                f"{API}('/api/v1/applications/{app}/jobs/0').then(r => r.ok ? r.json() : {{}})"
                ".then(j => j.status === 'SUCCEEDED' && j.numKilledTasks === 1)",
                timeout=20000, polling=200)
            stage = page.evaluate(f"{API}('/api/v1/applications/{app}/stages/0/0')"
                                  ".then(r => r.json())")
            tasks = sorted(stage["tasks"].values(), key=lambda t: t["taskId"])
            assert [(t["index"], t["attempt"], t["status"], t["speculative"]) for t in tasks
                    if t["index"] == 3] == [(3, 0, "KILLED", False), (3, 1, "SUCCESS", True)]
            loser, = [t for t in tasks if t["status"] == "KILLED"]
            assert loser["errorMessage"] == "another attempt finished first"
            assert stage["killedTasksSummary"] == {"another attempt finished first": 1}
            assert (stage["speculationSummary"]["numTasks"],
                    stage["speculationSummary"]["numCompletedTasks"]) == (1, 1)
            _open(page, ui_url(cluster.webui_port, f"/ui/app.html?app={app}&stage=0&attempt=0"))
            killed = page.locator('svg.timeline rect.task[data-status="KILLED"]')
            assert killed.count() == 1 and killed.get_attribute("data-index") == "3"
            copy = page.locator('svg.timeline rect.task.speculative')
            assert copy.count() == 1 and copy.get_attribute("data-status") == "SUCCESS"
            marks = page.locator("svg.timeline text.task-mark").evaluate_all(
                "ts => ts.map(t => t.textContent)")
            assert sorted(marks) == ["K", "S"]
            assert "another attempt finished first" in page.locator(
                "#tasks tbody tr", has_text="KILLED").inner_text()
            _screenshot(page, "ui-stage-speculation", tmp_path)


def test_another_https_server_on_the_same_host_gets_no_credential_of_the_ui(bare_master, tmp_path):
    """Browsers send a host's cookies to every port of it: a sign-in cookie would reach any
    HTTPS server another local user runs on 127.0.0.1, which could replay it.  The UI keeps
    its token in the page's own storage (per scheme, host and port) instead: after signing
    in, the browser's visit to such a server carries nothing that opens this master, and the
    UI, opened again without the link, is still signed in."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from vega_runtime.net.tls import ca_certificate_pem, http_server_context

    seen = []

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append({k: v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<p>another user's server</p>")

        def log_message(self, *args):
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    evil.socket = http_server_context(b"another user", ["127.0.0.1"]).wrap_socket(
        evil.socket, server_side=True)
    threading.Thread(target=evil.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    evil_ca = tmp_path / "evil-ca.pem"
    evil_ca.write_bytes(ca_certificate_pem(b"another user"))
    port = bare_master.port
    try:
        pins = f"{spki_pin(port, bare_master.ca_file)},{spki_pin(evil.server_port, str(evil_ca))}"
        with chromium(pins) as browser:
            page = browser.new_page()  # (under the UI's Content-Security-Policy)
            refused = []
            page.on("console", lambda m: refused.append(m.text)
                    if "Content Security Policy" in m.text else None)
            page.goto(f"https://127.0.0.1:{port}/?token={bare_master.token}")
            page.wait_for_selector("#master:not(:empty)", timeout=15000)
            assert page.url == f"https://127.0.0.1:{port}/"  # the token left the address
            page.goto(f"https://127.0.0.1:{evil.server_port}/")
            assert "another user's server" in page.inner_text("body")
            page.goto(f"https://127.0.0.1:{port}/")
            page.wait_for_selector("#master:not(:empty)", timeout=15000)
            assert page.is_hidden("#signin")
            page.goto(f"https://127.0.0.1:{port}/ui/app.html?view=history")
            page.wait_for_selector("#history-apps", timeout=15000)
            assert page.is_hidden("#signin") and refused == []
    finally:
        evil.shutdown()
        evil.server_close()
    assert seen, "the browser did not reach the other server"
    for headers in seen:
        replay = {k: v for k, v in headers.items() if k.lower() in ("cookie", "authorization")}
        code, _, _ = request(bare_master, "/api/v1/status", headers=replay)
        assert code == 401, f"the other server got what opens this master: {replay}"


def _print_both(x):
    import sys

    for i in range(3):
        print("out", x, i)
        print("err", x, i, file=sys.stderr)


def test_an_applications_output_opens_as_its_tasks_printed_it(tmp_path):
    """The applications table's output link opens its tasks' stdout and stderr lines
    interleaved as they printed them (the master keeps the streams apart, for vega logs)."""
    expected = [f"{stream} {x} {i}" for x in range(2) for i in range(3)
                for stream in ("out", "err")]
    with Context(master="local-cluster[1,1]", app_name="printed") as ctx:
        cluster = ctx.backend.owned_cluster
        port, app_id = cluster.webui_port, ctx.backend.app_id
        ctx.parallelize(range(2), 1).foreach(_print_both)
        bearer = {"Authorization": f"Bearer {cluster.token}"}
        output = f"/api/v1/applications/{app_id}/output"
        wait_for(lambda: request((port, cluster.ca_file), output, headers=bearer)[2]
                 .count(b"\n") >= len(expected), what="the stored output")
        with chromium(spki_pin(port, cluster.ca_file)) as browser:
            page = browser.new_page(bypass_csp=True)
            page.goto(f"{cluster.ui_link}&app={app_id}")
            page.wait_for_selector(f"#applications >> text={app_id}", timeout=15000)
            with page.expect_popup() as popup:
                page.click("#applications >> text=output")
            shown = popup.value.inner_text("body")
    assert [line.split("] ", 1)[1] for line in shown.splitlines()] == expected, shown
