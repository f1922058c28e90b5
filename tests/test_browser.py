"""The quickstart in a real JupyterLab in headless Chromium: the ScanExplorer renders its
candidate count, a click on a next-scan button changes it, and a screenshot is saved."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "quickstart.ipynb"
SCREENSHOT_DIR = Path(os.environ.get("MEMSCAN_SCREENSHOTS", Path(__file__).parent / "screenshots"))

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium"),
    pytest.mark.skipif(shutil.which("jupyter-lab") is None, reason="needs jupyterlab"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on 127.0.0.1 with a token, serving a copy of the quickstart."""
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        "--allow-root",
        "--expose-app-in-browser",
        f"--ServerApp.root_dir={tmp_path}",
        "--ServerApp.disable_check_xsrf=True",
    ]
    log = open(tmp_path / "lab.log", "w")  # closed after the server stops
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:])
    yield url, token
    server.terminate()
    server.wait(timeout=20)
    log.close()


def test_quickstart_scan_explorer_in_chromium(lab):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, token = lab
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/{NOTEBOOK.name}?token={token}")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
            " && window.jupyterapp.shell.currentWidget.sessionContext"
            " && window.jupyterapp.shell.currentWidget.sessionContext.session",
            timeout=60_000,
        )
        # Run every cell above the last one (which closes the widget and stops the game).
        page.evaluate(
            """async () => {
                const app = window.jupyterapp;
                const panel = app.shell.currentWidget;
                await panel.sessionContext.ready;
                panel.content.activeCellIndex = panel.content.widgets.length - 1;
                await app.commands.execute('notebook:run-all-above');
            }"""
        )
        count = page.locator(".memscan-scan-explorer .memscan-count")
        count.wait_for(timeout=60_000)
        page.wait_for_function(
            "() => { const p = window.jupyterapp.shell.currentWidget;"
            " return p.sessionContext.session.kernel.status === 'idle'"
            " && p.content.widgets.slice(0, -1).every(c => c.model.type !== 'code'"
            " || c.model.executionCount !== null); }",
            timeout=60_000,
        )
        before = count.inner_text()
        assert "candidates" in before
        page.locator(".memscan-scan-explorer .memscan-op-changed").click()
        page.wait_for_function(
            "(b) => document.querySelector('.memscan-scan-explorer .memscan-count')"
            ".innerText !== b",
            arg=before,
            timeout=30_000,
        )
        after = count.inner_text()
        assert after != before and "candidates" in after
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOT_DIR / "quickstart-scan-explorer.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        browser.close()
