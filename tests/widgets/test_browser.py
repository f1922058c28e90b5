"""The widgets in a real JupyterLab in headless Chromium, in the light and the dark theme: each
renders, a scan is clicked through in ScanExplorer (first-scan form, next scans, undo, write,
freeze), the HistoryView is zoomed, a region opens in a MemoryView; screenshots are saved
(tests/screenshots/, or $MEMSCAN_SCREENSHOTS). The notebooks also run with Run All, in both
themes, from a folder holding nothing else (they need only the installed package). The browser
reaches nothing but JupyterLab on 127.0.0.1, as on an air-gapped machine: plots must render."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOKS = Path(__file__).parents[2] / "notebooks"
TESTS = Path(__file__).parents[1]
SCREENSHOT_DIR = Path(os.environ.get("MEMSCAN_SCREENSHOTS", TESTS / "screenshots"))
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium"),
    pytest.mark.skipif(shutil.which("jupyter-lab") is None, reason="needs jupyterlab"),
]

#: The widgets notebook the test drives: a game, then one cell per widget.
CELLS = [
    "import memscan\n"
    "from memscan.widgets import HistoryView, MemoryView, RegionMap, ScanExplorer, StructView\n"
    "game = memscan.demo.start()\n"
    "proc = memscan.Process(game.pid)",
    "explorer = ScanExplorer(proc, page_size=10)\nexplorer",
    "rec = proc.record([game.address('health'), game.address('gold'), game.address('ticks')],"
    " 'i32', interval=None)\n"
    "for i in range(400):\n"
    "    game.tick(1)\n"
    "    if i % 40 == 5: game.damage(2)\n"
    "    if i % 25 == 3: game.gain_gold(3)\n"
    "    rec.sample({50: 'took damage', 52: 'potion', 200: 'shop', 300: 'boss'}.get(i))\n"
    "names = {game.address('health'): 'health', game.address('gold'): 'gold',"
    " game.address('ticks'): 'ticks'}\n"
    "game.heal()  # back to 100 for the scan the test clicks through\n"
    # max_points below the 400 samples: the chart is drawn from decimated points.
    "HistoryView(rec.stop(), names=names, process=proc, max_points=100)",
    "before = proc.snapshot(progress=False)\n"
    "game.gain_gold(5)\n"
    "RegionMap(proc, proc.snapshot(progress=False).diff(before))",
    "MemoryView(proc, game.base, 128)",
    "StructView(proc, game.base, size=64)",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook(cells: list[str]) -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": c,
                }
                for c in cells
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on 127.0.0.1 with a token and its own settings (the theme changes stay
    here), serving the notebooks and the widgets notebook."""
    # The notebooks as in the repository, run from a copy with nothing of the checkout beside.
    shutil.copytree(NOTEBOOKS, tmp_path / "notebooks", ignore=shutil.ignore_patterns(".*"))
    (tmp_path / "widgets.ipynb").write_text(notebook(CELLS))
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
    news = tmp_path / ".settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}'
    )
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / ".settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / ".workspaces"),
    }
    log = open(tmp_path / "lab.log", "w")  # closed after the server stops
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
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


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def offline_page(browser, width: int, height: int):
    """A page whose requests to anywhere but 127.0.0.1 fail (a CDN script too); the URLs it
    tried are kept in ``page.blocked``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    blocked: list[str] = []

    def route(r) -> None:
        url = r.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            r.continue_()
        else:
            blocked.append(url)
            r.abort("internetdisconnected")

    context.route("**/*", route)
    page = context.new_page()
    page.blocked = blocked
    return page


def open_and_run_all(page, url: str, token: str, name: str, theme: str = "light") -> None:
    """Opens a notebook, sets the theme, runs every cell and waits until all have run."""
    page.goto(f"{url}/lab/tree/{name}?token={token}")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session",
        timeout=60_000,
    )
    page.evaluate(
        """async (theme) => {
            const app = window.jupyterapp;
            await app.commands.execute('apputils:change-theme', { theme });
            const panel = app.shell.currentWidget;
            await panel.sessionContext.ready;
            await app.commands.execute('notebook:run-all-cells');
        }""",
        THEMES[theme],
    )
    page.wait_for_function(
        "(light) => document.body.dataset.jpThemeLight === light",
        arg=str(theme == "light").lower(),
        timeout=30_000,
    )
    page.wait_for_function(
        "() => { const p = window.jupyterapp.shell.currentWidget;"
        " return p.sessionContext.session.kernel.status === 'idle'"
        " && !p.content.widgets.some(c => c.model.type === 'code'"
        " && (c.model.executionState === 'running'"
        " || (c.promptNode && c.promptNode.textContent.includes('*')))); }",
        timeout=300_000,
    )
    failed = page.evaluate(
        """() => window.jupyterapp.shell.currentWidget.content.widgets
            .filter(c => c.model.type === 'code' && (c.model.executionCount === null
                || c.model.sharedModel.outputs.some(o => o.output_type === 'error')))
            .map(c => c.model.sharedModel.source.slice(0, 300)
                + ' -> ' + JSON.stringify(c.model.sharedModel.outputs).slice(-1500))"""
    )
    assert not failed, f"{name}: cells that did not run cleanly: {failed}"


def kernel(page, code: str) -> None:
    """Runs code in the notebook's kernel (what the game does between two scans)."""
    page.evaluate(
        """async (code) => {
            const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            await k.requestExecute({ code }).done;
        }""",
        code,
    )


def wait_text(page, selector: str, predicate: str, timeout: int = 30_000) -> str:
    """Waits until the text of ``selector`` satisfies ``predicate`` (a JS expression of t)."""
    page.wait_for_function(
        f"() => {{ const e = document.querySelector({json.dumps(selector)});"
        f" if (!e) return false; const t = e.innerText; return {predicate}; }}",
        timeout=timeout,
    )
    return page.locator(selector).first.inner_text()


def count_of(text: str) -> int:
    return int(text.split()[0].replace(",", ""))


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_widgets_in_chromium(lab, browser, theme):
    expect = pytest.importorskip("playwright.sync_api").expect
    url, token = lab
    page = offline_page(browser, 1300, 1400)
    open_and_run_all(page, url, token, "widgets.ipynb", theme)
    for cls in ("scan-explorer", "history", "region-map", "memory-view", "struct-view"):
        w = page.locator(f".memscan-{cls}").first
        w.wait_for(timeout=30_000)
        box = w.bounding_box()
        assert box and box["height"] > 60 and w.inner_text().strip(), cls

    # ScanExplorer: first-scan form, next scans, undo, write, freeze.
    se = ".memscan-scan-explorer"
    assert page.locator(f"{se} .memscan-count").inner_text() == "No scan yet"
    page.select_option(f"{se} .memscan-type", "i32")
    page.select_option(f"{se} .memscan-first-op", "eq")
    page.fill(f"{se} .memscan-first-value", "100")
    page.click(f"{se} .memscan-first")
    first = count_of(wait_text(page, f"{se} .memscan-count", "t.endsWith('candidates')"))
    kernel(page, "game.damage(3)")
    page.click(f"{se} .memscan-op-decreased")
    wait_text(page, f"{se} .memscan-steps", "t.includes('2. decreased')")
    decreased = count_of(page.locator(f"{se} .memscan-count").inner_text())
    assert 1 <= decreased < first
    page.select_option(f"{se} .memscan-next-op", "eq")
    page.fill(f"{se} .memscan-value", "97")
    page.click(f"{se} .memscan-next")
    wait_text(page, f"{se} .memscan-steps", "t.includes('3. == 97')")
    page.click(f"{se} .memscan-undo")
    wait_text(page, f"{se} .memscan-steps", "!t.includes('3. ')")
    assert count_of(page.locator(f"{se} .memscan-count").inner_text()) == decreased
    page.click(f"{se} .memscan-next")
    wait_text(page, f"{se} .memscan-steps", "t.includes('3. == 97')")
    page.click(f"{se} tbody tr >> nth=0")
    page.fill(f"{se} .memscan-write-value", "55")
    page.click(f"{se} .memscan-write")
    wait_text(page, f"{se} .memscan-status", "t.startsWith('wrote 55')")
    page.fill(f"{se} .memscan-write-value", "77")
    page.click(f"{se} .memscan-freeze")
    wait_text(page, f"{se} tbody tr .memscan-frozen", "t.includes('77')")
    kernel(page, "game.damage(10)")
    page.click(f"{se} .memscan-refresh")
    wait_text(page, f"{se} .memscan-status", "t.startsWith('refreshed')")
    assert "77" in page.locator(f"{se} tbody tr >> nth=0").inner_text()
    page.click(f"{se} .memscan-release")
    wait_text(page, f"{se} .memscan-status", "t === 'released'")
    page.click(f"{se} .memscan-add")
    wait_text(page, f"{se} .memscan-list-size", "t === 'address list: 1 entry'")
    page.fill(f"{se} .memscan-value", "abc")
    page.click(f"{se} .memscan-next")
    error = wait_text(page, f"{se} .memscan-status-error", "t.includes('not a number')")
    assert "convert" not in error and "Error" not in error

    # HistoryView: drag across the chart to zoom.
    hv = page.locator(".memscan-history")
    over = hv.locator(".u-over")
    over.wait_for()
    assert hv.locator(".memscan-window").get_attribute("data-zoomed") == "no"
    legend = hv.locator(".u-legend").inner_text()
    assert "health" in legend and "gold" in legend
    b = over.bounding_box()
    page.mouse.move(b["x"] + b["width"] * 0.2, b["y"] + b["height"] / 2)
    page.mouse.down()
    page.mouse.move(b["x"] + b["width"] * 0.5, b["y"] + b["height"] / 2, steps=8)
    page.mouse.up()
    wait_text(page, ".memscan-history .memscan-window", "t.startsWith('showing')")
    hv.locator(".memscan-scale").select_option("per-series")
    expect(hv.locator(".memscan-chart")).to_have_attribute("data-scale", "per-series")
    hv.locator(".memscan-scale").select_option("shared")
    hv.locator(".memscan-reset-zoom").click()
    wait_text(page, ".memscan-history .memscan-window", "t.includes('samples over')")
    page.mouse.move(b["x"] + b["width"] * 0.4, b["y"] + b["height"] / 2)
    wait_text(page, ".memscan-history .memscan-readout", "t.startsWith('sample ')")

    # RegionMap: hover details, then a click opens the region in a MemoryView under the map.
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    rm = page.locator(".memscan-region-map")
    heap = rm.locator(".memscan-region[data-kind='heap']").first
    heap.hover()
    expect(rm.locator(".memscan-tooltip")).to_contain_text("heap, ")
    assert "iB" in rm.locator(".memscan-tooltip").inner_text()
    rm.screenshot(path=str(SCREENSHOT_DIR / f"region-map-{theme}.png"))
    heap.click()
    rm.locator(".memscan-memory-view .memscan-hexdump").wait_for(timeout=30_000)
    wait_text(page, ".memscan-region-map .memscan-status", "t.startsWith('opened the heap')")
    assert rm.locator(".memscan-memory-view .memscan-byte").count() == 256

    # MemoryView: a typed value written in place.
    mv = page.locator(".jp-OutputArea-output .memscan-memory-view").last
    mv.locator(".memscan-typed[data-type='i32']").dblclick()
    mv.locator(".memscan-edit").fill("1234")
    mv.locator(".memscan-edit").press("Enter")
    expect(mv.locator(".memscan-status")).to_contain_text("wrote i32 1234", timeout=30_000)

    # StructView: a type picked for the first field, then the layout as C.
    sv = page.locator(".memscan-struct-view").last
    sv.locator("tbody tr >> nth=0").locator(".memscan-type").select_option("u32")
    expect(sv.locator(".memscan-status")).to_contain_text("f_0 is now u32", timeout=30_000)
    sv.locator(".memscan-copy-c").click()
    expect(sv.locator(".memscan-c")).to_contain_text("uint32_t f_0; /* 0x0 */", timeout=30_000)

    shots = {
        "scan-explorer": page.locator(se),
        "history-view": hv,
        "memory-view": mv,
        "struct-view": sv,
    }
    for name, loc in shots.items():
        loc.screenshot(path=str(SCREENSHOT_DIR / f"{name}-{theme}.png"))
    for name in [*shots, "region-map"]:
        assert (SCREENSHOT_DIR / f"{name}-{theme}.png").stat().st_size > 5_000, name
    page.context.close()


def plot_cells(name: str) -> int:
    """The code cells of a notebook that show a plot (``.plot``: memscan's, polars')."""
    cells = json.loads((NOTEBOOKS / name).read_text())["cells"]
    return sum(c["cell_type"] == "code" and ".plot" in "".join(c["source"]) for c in cells)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebooks_run_all_in_chromium(lab, browser, name, theme):
    """Run All leaves every widget output rendered (no notebook closes its widgets) and every
    plot drawn, with no network."""
    url, token = lab
    page = offline_page(browser, 1300, 1000)
    open_and_run_all(page, url, token, f"notebooks/{name}", theme)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
    assert not tracebacks, tracebacks[0][-1500:]
    widgets = page.locator(".memscan-widget")
    for i in range(widgets.count()):
        box = widgets.nth(i).bounding_box()
        assert box and box["height"] > 40, f"{name}: widget {i} is empty"
    text = page.locator(".jp-Notebook").inner_text()
    assert "Error loading script" not in text, page.blocked
    plots = page.locator(".jp-OutputArea-output[data-mime-type='image/svg+xml'] img")
    assert plots.count() == plot_cells(name), f"{name}: {plots.count()} plots shown"
    for i in range(plots.count()):
        plots.nth(i).scroll_into_view_if_needed()
        drawn = plots.nth(i).evaluate("img => img.complete && img.naturalWidth > 100")
        box = plots.nth(i).bounding_box()
        assert drawn and box and box["height"] > 100, f"{name}: plot {i} is not drawn"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / f"notebook-{name[:-6]}-{theme}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.context.close()
