"""Shared pytest setup: markers, GPU skipping, headless progress bars, and the data location."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Before any test module imports ltutorial: bars off (they only clutter logs), and use the
# CIFAR-10 copy beside the checkout (../shared/data, as in CI) unless the caller chose a root.
os.environ.setdefault("LTUTORIAL_PROGRESS", "0")
_SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
if "LTUTORIAL_DATA" not in os.environ and (_SHARED_DATA / "cifar10").is_dir():
    os.environ["LTUTORIAL_DATA"] = str(_SHARED_DATA.resolve())


def pytest_configure(config):
    for line in (
        "gpu: needs CUDA; skipped without it",
        "notebooks: papermill smoke runs of the notebooks",
        "slow: longer tests",
        "browser: headless Chromium through Playwright (the book, JupyterLab); skipped without Chromium",
    ):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


# --------------------------------------------------------------------------------------------
# Browser tests (issue 14: the book and JupyterLab): Debian's Chromium driven by Playwright.
# Nothing is downloaded at run time (no `playwright install`): Playwright is pointed at the
# Chromium on the PATH, or at LTUTORIAL_CHROMIUM. Without one the tests skip with the reason.

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> tuple[str | None, str]:
    """(path of a Chromium executable, "") or (None, why none can be used)."""
    chosen = os.environ.get("LTUTORIAL_CHROMIUM")
    if chosen:
        if not os.access(chosen, os.X_OK):
            return None, f"LTUTORIAL_CHROMIUM={chosen!r} is not an executable file"
        return chosen, ""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path, ""
    return None, f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)} on PATH; `apt-get install chromium` or set LTUTORIAL_CHROMIUM)"


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium browser (Playwright), shared by the session's browser tests."""
    path, why = find_chromium()
    if path is None:
        pytest.skip(why)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[browser]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True)
        try:
            yield browser
        finally:
            browser.close()
