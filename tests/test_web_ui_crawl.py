"""Every page and link of a master's web UI, followed in a real headless Chromium as a user
clicks through them, for an application with a failed job and a stage still running: no
page logs an error in the browser's console, throws, or gets an error from the API."""

import os
import threading
import time
from operator import add

import pytest
from http_helpers import api_get
from test_web_ui_browser import API, CHROMIUM, chromium, spki_pin
from ui_workload import run_workload

from vega_runtime import Context

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium "
                                                         "(.ci/run installs it)")


def fails(x):
    raise ValueError("every attempt fails")


def held(path: str, x):
    """``x``, once the file ``path`` exists (a task that runs until the test lets it end)."""
    while not os.path.exists(path):
        time.sleep(0.1)
    return x


def _crawl(browser, start: str, origin: str, limit: int = 60):
    """(pages visited, problems): each same-origin link of each page followed once (the
    API's own paths aside), with the console errors, script errors and failed responses
    (HTTP >= 400) each page met."""
    page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
    problems = []
    page.on("pageerror", lambda error: problems.append((page.url, str(error))))
    page.on("console", lambda m: problems.append((page.url, m.text))
            if m.type == "error" else None)
    page.on("response", lambda r: problems.append((page.url, r.status, r.url))
            if r.status >= 400 else None)
    page.goto(start)  # signs in
    queue, seen = [page.url], set()
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page.goto(url)
        if "/ui/app.html" in url:  # rendered once every request of the view has answered
            page.wait_for_selector("body[data-rendered]", state="attached", timeout=20000)
        else:  # the front page: its tables (and an application's, when one is chosen)
            page.wait_for_selector("#applications tbody tr", timeout=20000)
            if "?app=" in url:
                page.wait_for_selector("#detail", state="visible", timeout=20000)
            page.wait_for_load_state("networkidle", timeout=20000)  # and its history
        # what a page shows instead of its content (an API call or a script of the view
        # that failed: the page catches it), and the sign-in notice
        shown = page.eval_on_selector_all("#problem:not([hidden]), #signin:not([hidden])",
                                          "ps => ps.map(p => p.id + ': ' + p.textContent)")
        problems += [(page.url, text) for text in shown]
        for href in page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"):
            href = href.split("#")[0]
            if href.startswith(origin + "/") and "/api/" not in href and href not in seen:
                queue.append(href)
    page.close()
    return seen, problems


def test_every_page_and_link_loads_without_an_error_in_the_console(tmp_path):
    """A job whose every task fails (its stage has no successful task: the stage page asked
    for its task summary anyway, a 404 the browser logged as an error at each look and, for
    a running stage, at each refresh) and a job still running, besides the usual workload:
    every page reached from the front page by its links loads clean."""
    release = tmp_path / "release"
    with Context(master="local-cluster[2,1]", app_name="crawled",
                 conf={"vega.eventlog.dir": str(tmp_path), "vega.task.max_attempts": 2}) as ctx:
        run_workload(ctx)
        with pytest.raises(Exception, match="every attempt fails"):
            ctx.parallelize(range(2), 2).map(fails).count()
        path = str(release)
        running = threading.Thread(target=lambda: ctx.parallelize(range(2), 2).map(
            lambda x: (held(path, x), 1)).reduce_by_key(add).count())
        running.start()
        try:
            cluster = ctx.backend.owned_cluster
            origin = f"https://127.0.0.1:{cluster.webui_port}"
            app = ctx.backend.app_id
            with chromium(spki_pin(cluster.webui_port, cluster.ca_file)) as browser:
                page = browser.new_page(bypass_csp=True)
                page.goto(cluster.ui_link)
                page.wait_for_function(  # the driver relays events in batches
                    f"{API}('/api/v1/applications/{app}/stages/4/0?details=false')"
                    ".then(r => r.ok ? r.json() : {}).then(s => s.numActiveTasks === 2)",
                    timeout=30000, polling=200)
                page.close()
                seen, problems = _crawl(browser, cluster.ui_link, origin)
                dag = _job_dag(browser, cluster.ui_link, f"{origin}/ui/app.html?app={app}&job=3")
                code, job = api_get((cluster.webui_port, cluster.ca_file),
                                    f"/api/v1/applications/{app}/jobs/3", cluster.token)
                pending = api_get((cluster.webui_port, cluster.ca_file),
                                  f"/api/v1/applications/{app}/stages?status=pending",
                                  cluster.token)
        finally:
            release.write_text("")
            running.join(60)
    stage_pages = {u.split("stage=")[1] for u in seen if "stage=" in u}
    # the failed one, the running one and the one waiting for it
    assert {"3&attempt=0", "4&attempt=0", "5&attempt=0"} <= stage_pages, (sorted(seen), problems)
    assert problems == []
    # the running job's result stage waits for its map stage: pending, not skipped (it was
    # drawn and counted as skipped until the job ended)
    assert dag == {"4": "ACTIVE", "5": "PENDING"}
    assert code == 200 and (job["numSkippedStages"], job["numSkippedTasks"]) == (0, 0)
    # and /stages lists it PENDING, as Spark's does (it listed only stages that had run)
    assert pending[0] == 200
    assert [(s["stageId"], s["attemptId"], s["status"], s["numTasks"], "submissionTime" in s)
            for s in pending[1]] == [(5, 0, "PENDING", 2, False)]


def _job_dag(browser, sign_in: str, url: str) -> dict:
    """{stage id: status} of the stages a job page draws."""
    page = browser.new_page(bypass_csp=True)
    page.goto(sign_in)
    page.goto(url)
    page.wait_for_selector("svg.dag g.stage", timeout=20000)
    stages = page.locator("svg.dag g.stage").evaluate_all(
        "gs => gs.map(g => [g.dataset.stageId, g.dataset.status])")
    page.close()
    return dict(stages)


def test_the_front_page_shows_an_application_of_the_history_with_its_stages(bare_master):
    """An application a master knows only from its event log (it ran elsewhere, or before
    the master started), chosen in the History table (``/?app=ID``): its stages from the
    log (the REST API answers Spark's ApplicationInfo for it, without the master's own jobs
    and stages, and the page drew that: the tables stayed empty); one it does not know at
    all: a line saying so."""
    with Context(master="local[1,2]", app_name="past",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        run_workload(ctx)
        app = ctx.application_id
    origin = f"https://127.0.0.1:{bare_master.port}"
    with chromium(spki_pin(bare_master.port, bare_master.ca_file)) as browser:
        page = browser.new_page(bypass_csp=True)
        page.goto(f"{origin}/?token={bare_master.token}")
        page.wait_for_selector(f"#history >> text={app}", timeout=20000)
        page.click(f"#history a:text-is('{app}')")
        page.wait_for_selector("#detail", state="visible", timeout=20000)
        page.wait_for_function("document.querySelectorAll('#stages tbody tr').length",
                               timeout=20000)
        rows = page.locator("#stages tbody tr").all_inner_texts()
        title = page.inner_text("#detail-id")
        # a stale link: said so (the page showed nothing, and asked again every second)
        page.goto(f"{origin}/?app=app-20260101000000-dead")
        page.wait_for_selector("#detail", state="visible", timeout=20000)
        stale = page.inner_text("#detail-id")
    assert f"{app} (past, from its event log)" == title
    assert [r.split("\t")[0] for r in rows] == ["0", "1", "2"]
    assert stale == "app-20260101000000-dead: not known to this master (neither running " \
                    "nor in its event log directory)"
