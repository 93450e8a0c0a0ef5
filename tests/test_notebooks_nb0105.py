"""Notebooks 01-05 (issue 11): the ERM baseline is the one of notebooks 06-09, and the notebooks
cite nothing a learner does not have."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def _code(name: str) -> str:
    nb = nbformat.read(str(next(NOTEBOOKS.glob(f"{name}_*.ipynb"))), as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("name", ["01", "03"])
def test_erm_baseline_is_the_shared_one(name):
    code = _code(name)
    assert re.search(r"lt\.data\.prepare_experiment\(DATASET, profile=PROFILE, seed=SEED(, imbalance_ratio=IMBALANCE_RATIO)?\)",
                     code)
    assert re.search(r"settings = lt\.supervised_settings\(PROFILE, DATASET(, epochs=EPOCHS)?\)", code)
    assert 'lt.train.train_methods({"ERM": "erm"}, train, test, **settings, device=device, seed=SEED)' in code
    assert "lt.train.fit(" not in code   # no second, private ERM recipe


@pytest.mark.parametrize("name", ["01", "02", "03", "04", "05"])
def test_no_reference_to_files_learners_lack(name):
    nb = nbformat.read(str(next(NOTEBOOKS.glob(f"{name}_*.ipynb"))), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    for banned in ("shared/reference", "shared/seed", "classic.md", "unconfirmed", "sheet value"):
        assert banned not in text, f"{name}: mentions {banned!r}"
