"""Shared pytest setup: markers, GPU skipping, headless progress bars, and the data location."""

from __future__ import annotations

import os
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
