"""JupyterLab in a real browser: the notebooks run from the UI with the project's kernel (marker ``browser``).

A JupyterLab server is started from the test's own environment on a free localhost port with a
random token, on a temporary copy of notebook 02 (SMOTE) and of a training notebook (07,
LDAM-DRW) whose ``parameters`` cell is edited to the smoke profile. Headless Chromium (through
Playwright) opens each one, runs all cells from the Run menu, saves it with Ctrl+S, and checks:
the kernel shown is ``Python 3 (ltutorial)`` and is this environment's interpreter, every code
cell ran and none shows an error, every figure is an image that decodes, and (07) the training
progress bar appeared as a widget. The server's process group is ended in the fixture's teardown,
also when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from ltutorial import notebooks as runner

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {p.name[:2]: p for p in runner.find_notebooks(REPO_ROOT / "notebooks")}
KERNEL_DISPLAY_NAME = "Python 3 (ltutorial)"
STARTUP_S = 90      # JupyterLab's start on a busy 2-core machine
RUN_S = 300         # one smoke notebook run from the UI, kernel start included (papermill: < 60 s)
ERROR_MIME = "application/vnd.jupyter.stderr"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

# Every cell kept in the page (JupyterLab 4 otherwise attaches only the cells in view), so the
# DOM holds all outputs when they are inspected; no "news?" toast over the page.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}

# Installed before Run All: records every progress-bar widget view that appears in an output,
# because tqdm's bars with leave=False are removed again when training ends.
WATCH_WIDGETS = """() => {
    window.__ltWidgets = [];
    new MutationObserver(() => {
        for (const el of document.querySelectorAll('.jp-OutputArea-output .widget-hprogress')) {
            if (!el.__ltSeen) {
                el.__ltSeen = true;
                // tqdm.auto's notebook bar: an HBox of (label, FloatProgress, counts) drawn by ipywidgets
                window.__ltWidgets.push({box: !!el.closest('.jupyter-widgets.widget-hbox'),
                                         bar: !!el.querySelector('.progress-bar, progress'),
                                         text: el.closest('.jp-OutputArea-child').innerText.slice(0, 200)});
            }
        }
    }).observe(document.body, {childList: true, subtree: true});
}"""

# The notebook on screen (one panel per page: each test opens its own reset workspace).
PANEL = "[...document.querySelectorAll('.jp-NotebookPanel')].find(p => p.offsetParent !== null)"

STATE = f"""() => {{
    const panel = {PANEL};
    const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(p => p.innerText.trim());
    const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
    return {{prompts, status: indicator ? indicator.getAttribute('data-status') : null}};
}}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smoke_copy(source: Path, folder: Path) -> Path:
    """Copy a notebook with its parameters cell set to the smoke profile (the runner's smoke parameters)."""
    params, _ = runner.notebook_plan(source, "smoke", runner.load_params_config())
    nb = nbformat.read(str(source), as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    cell.source += "\n# smoke profile, set by tests/test_lab.py\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    target = folder / source.name
    nbformat.write(nb, str(target))
    return target


def _lab_environment(home: Path) -> dict:
    env = dict(os.environ)
    # Bars are off under CI and in the test session; a person in JupyterLab sees them.
    env.pop("CI", None)
    env.pop("LTUTORIAL_PROGRESS", None)
    env.update(JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_CONFIG_DIR=str(home / "config"),
               # no kernels or settings from the user's folders: only this environment's
               JUPYTER_DATA_DIR=str(home / "data"))
    for name, settings in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    return env


# Straight to localhost, whatever http_proxy says.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with LOCAL.open(request, timeout=10) as response:
        return json.load(response)


def _wait_until_up(proc: subprocess.Popen, base: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            _get(base + "api/status", token)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_S} s:\n{log.read_text()[-3000:]}")


def _shut_down_kernels(proc: subprocess.Popen, base: str, token: str) -> None:
    """Ask the server to end its kernels: they run in sessions of their own, outside its process group."""
    if proc.poll() is not None:
        return
    try:
        for kernel in _get(base + "api/kernels", token):
            request = urllib.request.Request(f"{base}api/kernels/{kernel['id']}", method="DELETE",
                                             headers={"Authorization": f"token {token}"})
            LOCAL.open(request, timeout=30).close()
    except OSError:
        pass  # the server is stopped next in any case; its own shutdown also ends kernels


def _stop(proc: subprocess.Popen) -> None:
    """End the server's whole process group (its kernels too): TERM, then KILL after 15 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium):
    """A JupyterLab server on a temporary folder of smoke copies; yields (base URL, token, folder)."""
    home = tmp_path_factory.mktemp("lab")
    folder = home / "notebooks"
    folder.mkdir()
    for key in ("02", "07"):
        _smoke_copy(NOTEBOOKS[key], folder)
    token, port = secrets.token_hex(16), _free_port()
    base = f"http://127.0.0.1:{port}/"
    log = home / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:  # CI runs as root; JupyterLab refuses that unless told
        cmd.append("--allow-root")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=folder, env=_lab_environment(home), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        _wait_until_up(proc, base, token, log)
        yield base, token, folder
    finally:
        _shut_down_kernels(proc, base, token)
        _stop(proc)


def _run_all(page, timeout_s: float) -> dict:
    """Run all cells from the Run menu; wait until the kernel is idle and no cell is queued or running."""
    page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    deadline = time.monotonic() + timeout_s
    started = False
    while time.monotonic() < deadline:
        state = page.evaluate(STATE)
        busy = state["status"] == "busy" or any("*" in p for p in state["prompts"])
        started = started or busy or all(p not in ("[ ]:", "") for p in state["prompts"])
        if started and not busy:
            return state
        time.sleep(1.0)
    pytest.fail(f"the notebook did not finish within {timeout_s} s; prompts {page.evaluate(STATE)['prompts']}")


def _save(page, path: Path):
    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel:visible .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert path.stat().st_mtime_ns != before, f"Ctrl+S did not save {path.name}"
    return nbformat.read(str(path), as_version=4)


def _open_and_run(chromium, lab, key: str):
    """Open notebook ``key`` in JupyterLab, run all from the UI and save; returns (page, saved notebook, widgets, kernel)."""
    base, token, folder = lab
    path = folder / NOTEBOOKS[key].name
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(STARTUP_S * 1000)  # JupyterLab's bundle loads slowly on a busy machine
    page.goto(f"{base}lab/workspaces/test-{key}/tree/{path.name}?reset&token={token}", wait_until="load")
    name = page.locator('.jp-NotebookPanel:visible [data-jp-item-name="kernelName"]').first
    # the kernel named in the notebook (python3) starts by itself: wait until it is shown and idle
    name.filter(has_not_text="No Kernel").wait_for(timeout=STARTUP_S * 1000)
    page.wait_for_selector('.jp-NotebookPanel:visible .jp-Notebook-ExecutionIndicator[data-status="idle"]',
                           timeout=STARTUP_S * 1000)
    kernel = name.inner_text().strip()
    page.evaluate(WATCH_WIDGETS)
    _run_all(page, RUN_S)
    saved = _save(page, path)
    return page, saved, page.evaluate("() => window.__ltWidgets"), kernel


def _check_ran_cleanly(page, saved, kernel: str) -> None:
    assert kernel == KERNEL_DISPLAY_NAME, f"kernel shown: {kernel!r}"
    errors = [o for c in saved.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"error outputs: {[(e.ename, e.evalue) for e in errors]}"
    unrun = [i for i, c in enumerate(saved.cells) if c.cell_type == "code" and c.source.strip() and c.execution_count is None]
    assert not unrun, f"code cells that did not run: {unrun}"
    shown = page.evaluate(f"""() => [...{PANEL}.querySelectorAll('.jp-OutputArea-output[data-mime-type="{ERROR_MIME}"]')]
        .map(e => e.innerText).filter(t => /Traceback|Error:/.test(t))""")
    assert not shown, f"cells show errors: {[s[:300] for s in shown]}"
    images = page.evaluate(f"""() => [...{PANEL}.querySelectorAll('.jp-OutputArea-output img')].map(
        img => ({{complete: img.complete, width: img.naturalWidth}}))""")
    pngs = sum("image/png" in o.get("data", {}) for c in saved.cells if c.cell_type == "code" for o in c.outputs)
    assert pngs > 0 and len(images) == pngs, f"{len(images)} <img> for {pngs} image/png outputs"
    assert all(im["complete"] and im["width"] > 0 for im in images), images


def test_the_kernel_is_this_environment(lab):
    base, token, _ = lab
    specs = _get(base + "api/kernelspecs", token)["kernelspecs"]
    spec = specs["python3"]["spec"]
    assert spec["display_name"] == KERNEL_DISPLAY_NAME
    # the interpreter of the environment running the tests (not followed through the venv's symlink)
    assert Path(spec["argv"][0]).parent == Path(sys.executable).parent, (spec["argv"], sys.executable)


def test_smote_notebook_runs_from_the_ui(chromium, lab):
    page, saved, _, kernel = _open_and_run(chromium, lab, "02")
    try:
        _check_ran_cleanly(page, saved, kernel)
    finally:
        page.close()


def test_training_notebook_runs_from_the_ui_with_a_progress_widget(chromium, lab):
    page, saved, widgets, kernel = _open_and_run(chromium, lab, "07")
    try:
        _check_ran_cleanly(page, saved, kernel)
        assert widgets, "no progress bar widget appeared while the notebook trained"
        assert all(w["box"] and w["bar"] for w in widgets), widgets
        assert not any("Error displaying widget" in w["text"] for w in widgets), widgets
        sent = [o for c in saved.cells if c.cell_type == "code" for o in c.outputs if WIDGET_MIME in o.get("data", {})]
        assert sent, "the kernel sent no widget view (the bar fell back to text?)"
    finally:
        page.close()
