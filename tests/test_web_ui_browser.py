"""The master web UI in a real headless Chromium (Debian's chromium, driven by Playwright)."""

import shutil
import threading
import time

import pytest

from vega_runtime import Context

CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium "
                                                         "(.ci/run installs it)")


def test_workers_running_application_and_advancing_stage_progress(tmp_path):
    """While a job runs: both workers and the application appear, and the stage's progress
    bar advances without reloading the page; a screenshot is written."""
    from playwright.sync_api import sync_playwright

    with Context(master="local-cluster[2,1]", app_name="watched") as ctx:
        port = ctx.backend.owned_cluster.webui_port
        app_id = ctx.backend.app_id
        job = threading.Thread(target=lambda: ctx.parallelize(range(24), 24).map(
            lambda x: time.sleep(0.4) or x).count())
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/?app={app_id}")
                page.wait_for_function(
                    "document.querySelectorAll('#workers tbody tr').length === 2", timeout=15000)
                assert "alive" in page.inner_text("#workers")
                page.wait_for_selector(f"#applications >> text={app_id}", timeout=15000)
                assert "running" in page.inner_text("#applications")
                job.start()  # now that the page is up (a browser can take seconds to start)
                bar = "#stages tbody tr [role=progressbar]"
                page.wait_for_selector(bar, timeout=15000)
                first = int(page.get_attribute(bar, "aria-valuenow"))
                page.wait_for_function(
                    f"Number(document.querySelector('{bar}').getAttribute('aria-valuenow')) > {first}",
                    timeout=20000)
                page.screenshot(path=str(tmp_path / "master-ui.png"))
            finally:
                browser.close()
        if job.ident is not None:  # started
            job.join(60)
    assert (tmp_path / "master-ui.png").stat().st_size > 10_000
