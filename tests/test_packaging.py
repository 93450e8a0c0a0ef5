"""Packaging: pyproject.toml, environment.yml, the console command, the Makefile and CI script agree."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import ltutorial
from ltutorial import cli

REPO_ROOT = Path(__file__).resolve().parent.parent

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

# conda-forge names that differ from the PyPI distribution names.
CONDA_TO_PYPI = {"pytorch": "torch", "playwright-python": "playwright"}
# The only requirements environment.yml takes from PyPI: not packaged on conda-forge.
PIP_ONLY = {"sphinx-mathjax-offline"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*)$")


def normalise(name: str) -> str:
    """PEP 503 name normalisation: lower case, runs of -_. become one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def split_requirement(text: str) -> tuple[str, str]:
    """'torch>=2.2' -> ('torch', '>=2.2'); conda's 'pytorch>=2.2' the same after renaming."""
    match = REQUIREMENT.match(text)
    assert match, f"cannot parse requirement {text!r}"
    name = normalise(match.group(1))
    return CONDA_TO_PYPI.get(name, name), match.group(2).replace(" ", "")


def lower_bound(spec: str) -> str | None:
    match = re.search(r">=\s*([0-9][0-9.]*)", spec)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def pyproject():
    with open(REPO_ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def environment():
    with open(REPO_ROOT / "environment.yml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def pyproject_requirements(pyproject) -> dict[str, str]:
    project = pyproject["project"]
    reqs = list(project["dependencies"])
    for extra in ("notebooks", "test", "workshop", "docs", "browser"):
        reqs += project["optional-dependencies"][extra]
    out: dict[str, str] = {}
    for req in reqs:
        name, spec = split_requirement(req)
        out.setdefault(name, spec)
    return out


def environment_requirements(environment) -> tuple[dict[str, str], list[str]]:
    """({name: spec} of the conda packages and of pip's requirements other than the package, pip's lines)."""
    conda, pip = {}, []
    for dep in environment["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
            continue
        name, spec = split_requirement(dep.replace("=", "==", 1) if re.match(r"^[\w.-]+=[^=]", dep) else dep)
        if name in ("python", "pip"):
            continue
        conda[name] = spec
    from_pypi = dict(split_requirement(p) for p in pip if not p.startswith("-e"))
    assert set(from_pypi) == PIP_ONLY, f"environment.yml takes {sorted(from_pypi)} from pip; only {PIP_ONLY} may be"
    assert not set(from_pypi) & set(conda), f"{sorted(set(from_pypi) & set(conda))} come from both conda and pip"
    return {**conda, **from_pypi}, pip


def test_normalise_and_split_examples():
    assert normalise("Scikit_Learn") == "scikit-learn"
    assert normalise("imbalanced.learn") == "imbalanced-learn"
    assert split_requirement("pytorch>=2.2") == ("torch", ">=2.2")
    assert split_requirement("ltutorial[notebooks, test] >= 0.1") == ("ltutorial", ">=0.1")
    assert lower_bound(">=1.24,<3") == "1.24"


def test_environment_lists_the_same_dependencies_as_pyproject(pyproject, environment):
    declared = pyproject_requirements(pyproject)
    conda, _ = environment_requirements(environment)
    missing = sorted(set(declared) - set(conda))
    extra = sorted(set(conda) - set(declared))
    assert not missing, f"environment.yml lacks {missing} (declared in pyproject.toml)"
    assert not extra, f"environment.yml has {extra}, which pyproject.toml does not declare"


def test_environment_lower_bounds_match_pyproject(pyproject, environment):
    declared = pyproject_requirements(pyproject)
    conda, _ = environment_requirements(environment)
    mismatched = {
        name: (declared[name], conda[name])
        for name in declared
        if name in conda and lower_bound(declared[name]) != lower_bound(conda[name])
    }
    assert not mismatched, f"lower bounds differ (pyproject, environment.yml): {mismatched}"


def test_environment_uses_conda_forge_only_and_installs_the_package_with_pip(environment):
    channels = environment["channels"]
    assert channels[0] == "conda-forge"
    assert set(channels) <= {"conda-forge", "nodefaults"}, channels
    python = [d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == ["python=3.11"], python
    _, pip = environment_requirements(environment)
    assert any(re.fullmatch(r"-e\s+\.(\[[\w,\s-]*\])?", p) for p in pip), pip


def test_version_and_console_script_are_declared(pyproject):
    project = pyproject["project"]
    assert project["name"] == "ltutorial"
    assert project["scripts"]["ltutorial"] == "ltutorial.cli:main"
    assert "version" in project["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    module, _, name = attr.rpartition(".")
    assert getattr(importlib.import_module(module), name) == ltutorial.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", ltutorial.__version__)


def test_installed_metadata_matches_the_source():
    try:
        dist = importlib.metadata.distribution("ltutorial")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("ltutorial is not pip-installed (run `make setup`)")
    assert dist.version == ltutorial.__version__
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts.get("ltutorial") == "ltutorial.cli:main"


def test_cli_lists_subcommands_and_rejects_unknown(capsys):
    assert set(cli.SUBCOMMANDS) == {"notebooks", "reproduce", "student"}
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "notebooks" in out and "reproduce" in out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == ltutorial.__version__
    assert cli.main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert "'bogus'" in err and "notebooks" in err and "reproduce" in err


def test_cli_reproduce_delegates_argv(monkeypatch):
    seen = []
    fake = type(sys)("ltutorial.reproduce")
    fake.main = lambda argv: seen.append(list(argv)) or 7
    monkeypatch.setitem(sys.modules, "ltutorial.reproduce", fake)
    monkeypatch.setattr(ltutorial, "reproduce", fake, raising=False)
    assert cli.main(["reproduce", "cifar10-lt", "--methods", "ce"]) == 7
    assert seen == [["cifar10-lt", "--methods", "ce"]]


def test_python_dash_m_ltutorial_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "ltutorial", "notebooks", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--profile" in proc.stdout and "--only" in proc.stdout


def test_makefile_offers_the_two_readme_commands():
    makefile = (REPO_ROOT / "Makefile").read_text()
    for target in ("setup", "tutorial", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile lacks target {target!r}"
    readme = (REPO_ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^\s*(make \w+)\s*$", quickstart, re.M)
    assert commands == ["make tutorial", "make test"], commands


def test_ci_script_runs_make_test_and_fails_fast():
    path = REPO_ROOT / ".ci" / "run"
    text = path.read_text()
    assert os.access(path, os.X_OK), ".ci/run must be executable"
    assert "set -euo pipefail" in text
    assert re.search(r"^make test\b", text, re.M)
    assert "LTUTORIAL_DATA" in text


# issue 14: the workshop hand-outs need nbgrader, an optional extra that setup (and so CI) installs
def test_nbgrader_is_the_workshop_extra_installed_by_setup(pyproject):
    project = pyproject["project"]
    assert "nbgrader" in {split_requirement(r)[0] for r in project["optional-dependencies"]["workshop"]}
    assert "nbgrader" not in {split_requirement(r)[0] for r in project["dependencies"]}, "not a runtime dependency"
    makefile = (REPO_ROOT / "Makefile").read_text()
    installs = re.findall(r'pip\S*\s+install\b.*-e\s+"?\.\[([\w,]+)\]', makefile.replace("$(PIP)", "pip"))
    assert installs and all("workshop" in extras.split(",") for extras in installs), installs
    assert re.search(r"^student:", makefile, re.M), "Makefile lacks target 'student'"
