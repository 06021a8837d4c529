"""Every chapter runs in a real JupyterLab, driven in headless Chromium as a learner would.

JupyterLab starts on 127.0.0.1 over a copy of the notebooks (smoke profile, an empty data
folder); Playwright drives Debian's Chromium (``/usr/bin/chromium``, never a downloaded
browser): open the notebook, clear its kept outputs, run all cells, wait for the kernel, and
assert every code cell executed, no cell shows an error, and the progress-bar widget rendered
where the notebook trains. ``make test`` drives 00 and 06; ``make test-browser`` every chapter
(``COURSE_BROWSER_NOTEBOOKS=all``). Where Chromium or Playwright is missing the tests skip and
say why, loudly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
SOURCE = Path(os.environ.get("COURSE_BROWSER_SOURCE", ROOT / "notebooks"))  # where they come from
ALL = sorted(p.name for p in SOURCE.glob("[0-9][0-9]_*.ipynb"))
QUICK = [name for name in ALL if name.startswith(("00_", "06_"))]
CHOSEN = ALL if os.environ.get("COURSE_BROWSER_NOTEBOOKS") == "all" else QUICK
TRAINS = ("06_",)  # notebooks whose training loop shows tqdm's progress widget
CELL_TIMEOUT_S = 300

pytestmark = [pytest.mark.browser, pytest.mark.jupyterlab, pytest.mark.slow]


def _why_not() -> str | None:
    if not Path(CHROMIUM).exists():
        return (f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium) "
                "or set COURSE_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[dev]' brings it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    why = _why_not()
    if why:
        print(f"\n*** BROWSER TESTS SKIPPED: {why} ***", file=sys.stderr)
        pytest.skip(why)
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(SOURCE, work / "notebooks")
    port, token = _free_port(), "course-browser-test"
    # Every cell attached to the page (no windowing): a learner scrolls, the test reads the DOM.
    tracker = work / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = {**os.environ, "COURSE_PROFILE": "smoke", "COURSE_DATA": str(work / "data"),
           "JUPYTER_RUNTIME_DIR": str(work / "runtime"), "JUPYTER_CONFIG_DIR": str(work / "cfg")}
    env.pop("CI", None)  # the profile is chosen explicitly above
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work / 'notebooks'}",
               f"--LabApp.user_settings_dir={work / 'settings'}",
               f"--LabApp.workspaces_dir={work / 'workspaces'}",
               "--LabApp.news_url=''", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}",
                                            timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    out = proc.stdout.read1().decode(errors="replace")[-3000:]
                    pytest.fail(f"JupyterLab did not start: {out}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", token, work
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        try:
            yield chromium
        finally:
            chromium.close()


def _menu(page, menu: str, item: str) -> None:
    """Click ``menu`` in JupyterLab's menu bar, then ``item`` in it, as a learner would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    entry = page.locator(".lm-Menu-itemLabel", has_text=item).first
    entry.wait_for(state="visible", timeout=30_000)
    entry.click()


# The notebook on show: a restored workspace may hold other, hidden notebook panels.
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def _error_outputs(page) -> int:
    """Outputs that show an error: an error mime bundle, or a traceback printed anywhere."""
    return page.eval_on_selector_all(
        f"{NOTEBOOK} .jp-OutputArea-output", "els => els.filter(e => "
        "e.querySelector('[data-mime-type=\"application/vnd.jupyter.error\"]')"
        " || e.getAttribute('data-mime-type') === 'application/vnd.jupyter.error'"
        " || /Traceback \\(most recent call last\\)/.test(e.textContent)).length")


def _prompts(page) -> list[str]:
    return page.eval_on_selector_all(
        f"{NOTEBOOK} .jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent)")


@pytest.mark.parametrize("name", CHOSEN)
def test_notebook_runs_in_jupyterlab(lab, browser, name, tmp_path):
    url, token, work = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # A workspace of its own, reset: only this notebook open, as a learner who opens it.
        workspace = Path(name).stem.replace("_", "-")
        page.goto(f"{url}/lab/workspaces/{workspace}/tree/{name}?reset&token={token}",
                  timeout=120_000)
        page.locator(f"{NOTEBOOK} .jp-CodeCell").first.wait_for(timeout=120_000)
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) "
                     ".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                     ".jp-Toolbar-kernelStatus").first.wait_for(timeout=120_000)
        page.locator(NOTEBOOK).first.click()
        _menu(page, "Edit", "Clear Outputs of All Cells")
        assert page.locator(f"{NOTEBOOK} .jp-OutputArea-output").count() == 0
        _menu(page, "Run", "Run All Cells")
        deadline = time.monotonic() + CELL_TIMEOUT_S * 3
        quiet_since = None
        while True:
            prompts = _prompts(page)
            running = [p for p in prompts if "*" in p]
            waiting = [p for p in prompts if not any(ch.isdigit() or ch == "*" for ch in p)]
            if prompts and not running and not waiting:
                break
            if _error_outputs(page):  # Run All stops at an error: no point waiting
                break
            # nothing running and cells left unrun: JupyterLab stopped (a few seconds' grace)
            quiet_since = (quiet_since or time.monotonic()) if not running else None
            if quiet_since and time.monotonic() - quiet_since > 15:
                break
            if time.monotonic() > deadline:
                page.screenshot(path=str(tmp_path / "timeout.png"), full_page=False)
                pytest.fail(f"{name}: cells still running after {CELL_TIMEOUT_S * 3} s: "
                            f"{running[:5]} (screenshot {tmp_path / 'timeout.png'})")
            time.sleep(1)
        error_outputs = _error_outputs(page)
        if error_outputs:
            page.screenshot(path=str(tmp_path / "error.png"), full_page=True)
        assert error_outputs == 0, f"{name}: {error_outputs} cell(s) show an error"
        numbers = [p for p in _prompts(page) if any(ch.isdigit() for ch in p)]
        assert len(numbers) == len(_prompts(page)), f"{name}: not every code cell executed"
        if name.startswith(TRAINS):
            bars = page.locator(f"{NOTEBOOK} .jp-OutputArea-output .widget-hprogress, "
                                f"{NOTEBOOK} .jp-OutputArea-output .widget-progress")
            assert bars.count() >= 1, f"{name}: no progress-bar widget rendered"
    finally:
        page.close()
        _shut_down_kernels(url, token)


def _shut_down_kernels(url: str, token: str) -> None:
    """End every kernel so the next notebook starts on an idle machine with its memory back."""
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernels", headers=headers),
                                timeout=30) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}", method="DELETE",
                                         headers=headers)
        urllib.request.urlopen(request, timeout=60).close()
