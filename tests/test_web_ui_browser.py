"""The master web UI in a real headless Chromium (Debian's chromium, driven by Playwright),
opened as a user does: through the ``?token=`` link the master's commands print.

The UI is HTTPS with a certificate of the cluster CA.  Chromium cannot verify the Ed25519
signature of that CA, so the tests trust the server's key itself, as a user accepting the
warning once does: ``--ignore-certificate-errors-spki-list`` with the SHA-256 of the
server's public key, read over a connection verified against the CA (no other certificate
error is ignored)."""

import base64
import hashlib
import shutil
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from vega_runtime import Context
from vega_runtime.net.tls import http_client_context

CHROMIUM = shutil.which("chromium")

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
    """Headless Chromium trusting the server key ``pin`` (see ``spki_pin``)."""
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
    """Without the token the page is refused; the ?token= link signs the browser in (a
    Secure, HttpOnly cookie) and drops the token from the address.  While a job runs: both workers and
    the application appear, and the stage's progress bar advances without reloading the page;
    a screenshot is written."""
    with Context(master="local-cluster[2,1]", app_name="watched") as ctx:
        cluster = ctx.backend.owned_cluster
        port = cluster.webui_port
        app_id = ctx.backend.app_id
        job = threading.Thread(target=lambda: ctx.parallelize(range(24), 24).map(
            lambda x: time.sleep(0.4) or x).count())
        with chromium(spki_pin(port, cluster.ca_file)) as browser:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            refused = page.goto(f"https://127.0.0.1:{port}/?app={app_id}")
            assert refused.status == 401 and "vega status --token" in page.inner_text("body")
            signed_in = page.goto(f"{cluster.ui_link}&app={app_id}")
            assert signed_in.status == 200
            assert page.url == f"https://127.0.0.1:{port}/?app={app_id}"  # the token is gone
            cookie, = page.context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
            assert cookie["secure"]
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
        if job.ident is not None:  # started
            job.join(60)
    assert (tmp_path / "master-ui.png").stat().st_size > 10_000


def test_a_broken_event_log_shows_as_broken_and_a_lost_cookie_asks_to_sign_in(bare_master):
    """The history lists a truncated event log as broken, with why, next to a good one; once
    the sign-in cookie is gone the page says how to sign in again."""
    with Context(master="local", app_name="good",
                 conf={"vega.eventlog.dir": str(bare_master.events)}) as ctx:
        ctx.parallelize(range(4), 2).count()
        good = ctx.application_id
    whole = (bare_master.events / f"{good}.jsonl").read_bytes()
    (bare_master.events / "app-killed-0001.jsonl").write_bytes(
        whole[:len(whole) // 2].replace(good.encode(), b"app-killed-0001"))
    with chromium(spki_pin(bare_master.port, bare_master.ca_file)) as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"https://localhost:{bare_master.port}/?token={bare_master.token}")
        page.wait_for_function(
            "document.querySelectorAll('#history tbody tr').length === 2", timeout=15000)
        rows = page.inner_text("#history")
        assert good in rows and "app-killed-0001" in rows
        broken = page.locator("#history tbody tr", has_text="app-killed-0001").inner_text()
        assert "broken" in broken and "cut off" in broken
        assert page.is_hidden("#signin")
        page.context.clear_cookies()
        page.wait_for_selector("#signin", state="visible", timeout=15000)
        assert "vega status --token" in page.inner_text("#signin")


def test_without_trusting_the_server_key_chromium_refuses_the_page(bare_master):
    """The pin is what makes Chromium accept the page: without it the certificate is an
    error, and plain http:// gets the master's plain-text 400 telling to use https://."""
    from playwright.sync_api import Error

    with chromium() as browser:
        page = browser.new_page()
        with pytest.raises(Error, match="ERR_CERT"):
            page.goto(f"https://127.0.0.1:{bare_master.port}/?token={bare_master.token}")
        page = browser.new_page()
        plain = page.goto(f"http://127.0.0.1:{bare_master.port}/")
        assert plain.status == 400 and "speaks HTTPS only" in page.inner_text("body")
