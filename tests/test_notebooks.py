"""Notebooks: committed clean and well-formed, the runner is strict, and each one runs in smoke mode.

Three groups:
1. structure of every ``notebooks/NN_*.ipynb`` (no outputs, kernel python3, one literal-only
   parameters cell with PROFILE/SEED/DEVICE (+DATASET when data is loaded), an Exercises section
   with a solution and a check call);
2. the runner (:mod:`ltutorial.notebooks`) on tiny notebooks built in ``tmp_path``;
3. a papermill smoke run of every notebook (marker ``notebooks``), executed copies in
   ``build/executed/smoke/``.
"""

from __future__ import annotations

import ast
import io
import os
import re
from pathlib import Path

import nbformat
import papermill
import pytest

from ltutorial import cli
from ltutorial import notebooks as runner

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = runner.find_notebooks(REPO_ROOT / "notebooks")
SMOKE_OUT = REPO_ROOT / "build" / "executed" / "smoke"
# Wall-time budget per notebook in smoke mode (CI target < 60 s on 2 cores; 120 s is the limit).
SMOKE_BUDGET_S = float(os.environ.get("LTUTORIAL_SMOKE_BUDGET", "120"))
DATA_CALLS = re.compile(r"\b(load_dataset|resolve_dataset)\s*\(")


def _ids(paths):
    return [p.stem for p in paths]


def _read(path: Path):
    return nbformat.read(str(path), as_version=4)


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


# --------------------------------------------------------------------------------------------
# 1. structure


def test_notebook_numbers_are_unique():
    numbers = [p.name[:2] for p in NOTEBOOKS]
    assert len(numbers) == len(set(numbers)), f"duplicate notebook numbers: {numbers}"
    stray = [p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb") if p not in NOTEBOOKS]
    assert not stray, f"notebooks must be named NN_slug.ipynb; got {stray}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    nb = _read(path)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; strip them before committing"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", nb.metadata.get("kernelspec")
    assert "papermill" not in nb.metadata, f"{path.name} is an executed copy (papermill metadata)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_one_literal_parameters_cell_with_the_standard_names(path):
    nb = _read(path)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters', got {len(tagged)}"
    cell = tagged[0]
    assert cell.cell_type == "code"
    names = {}
    for stmt in ast.parse(cell.source).body:
        assert isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets), (
            f"{path.name}: the parameters cell must hold only NAME = literal lines; got {ast.unparse(stmt)!r}"
        )
        value = ast.literal_eval(stmt.value)  # raises on anything derived
        for target in stmt.targets:
            names[target.id] = value
    required = {"PROFILE", "SEED", "DEVICE"}
    if any(DATA_CALLS.search(c.source) for c in _code(nb)):
        required.add("DATASET")
    assert required <= set(names), f"{path.name}: parameters cell lacks {sorted(required - set(names))}"
    assert names["PROFILE"] == "cpu", "PROFILE must default to 'cpu' (the laptop profile)"
    assert set(papermill.inspect_notebook(str(path))) == set(names)  # what the runner checks against


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_imports_the_package_with_a_version_guard(path):
    sources = [c.source for c in _code(_read(path))]
    assert any("lt.require(" in s for s in sources), f"{path.name}: call lt.require('0.1') in the imports cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_has_exercises_with_solutions_and_checks(path):
    cells = _read(path).cells
    heads = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and re.search(r"^#+\s*Exercises", c.source, re.M)]
    assert heads, f"{path.name}: no '## Exercises' section"
    after = [c for c in cells[heads[0]:] if c.cell_type == "code"]
    solutions = [c for c in after if "# BEGIN SOLUTION" in c.source and "# END SOLUTION" in c.source]
    assert solutions, f"{path.name}: no '# BEGIN SOLUTION' ... '# END SOLUTION' cell after Exercises"
    for c in solutions:
        assert c.source.index("# BEGIN SOLUTION") < c.source.index("# END SOLUTION")
    assert any("lt.exercises.check_" in c.source for c in after), f"{path.name}: no lt.exercises.check_* call"


def test_params_file_entries_are_valid():
    config = runner.load_params_config()
    known = {p.name[:2]: p for p in NOTEBOOKS}
    stale = sorted(set(config["notebooks"]) - set(known))
    assert not stale, f"ci/notebook_params.yml names notebooks that do not exist: {stale}"
    for key, path in known.items():
        for profile in ("smoke", "cpu", "full"):
            runner.notebook_plan(path, profile, config)  # raises on a name the parameters cell lacks


# --------------------------------------------------------------------------------------------
# 2. the runner, on tiny notebooks


def _tiny_notebook(folder: Path, name: str, body: str, params: str = 'PROFILE = "cpu"\nSEED = 0\nX = 1') -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name}"), cell, nbformat.v4.new_code_cell(body)]
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture()
def tiny(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    # 01 passes only if the runner injected X, set LTUTORIAL_PROGRESS=0 and ran it in its folder.
    _tiny_notebook(
        folder,
        "01_ok",
        "import os, pathlib\n"
        "assert X == 5, X\n"
        "assert os.environ['LTUTORIAL_PROGRESS'] == '0'\n"
        f"assert pathlib.Path.cwd().resolve() == pathlib.Path({str(folder.resolve())!r})\n"
        "print('PROFILE', PROFILE)",
    )
    _tiny_notebook(folder, "02_fails", "raise RuntimeError('deliberate failure ' + PROFILE)")
    _tiny_notebook(folder, "03_other", "pass", params='PROFILE = "cpu"\nSEED = 0\nEPOCHS = None')
    params = tmp_path / "params.yml"
    params.write_text(
        "defaults:\n  smoke: {SEED: 3}\n"
        "notebooks:\n  01:\n    smoke: {X: 2}\n    timeout: {smoke: 30}\n"
    )
    return folder, params


def test_unknown_parameter_is_refused_before_running(tiny, tmp_path):
    folder, params = tiny
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"'EPOCHS'.*valid parameters are \['PROFILE', 'SEED', 'X'\]"):
        runner.run_notebooks(["01", "03"], profile="smoke", parameters={"EPOCHS": 3}, out_dir=out,
                             notebooks_dir=folder, params_file=params, stream=io.StringIO())
    assert not out.exists(), "nothing may run when a parameter is refused"


def test_typo_in_params_file_is_refused(tiny, tmp_path):
    folder, _ = tiny
    bad = tmp_path / "bad.yml"
    bad.write_text("notebooks:\n  '03':\n    smoke: {EPOHCS: 1}\n")
    with pytest.raises(ValueError, match="EPOHCS"):
        runner.run_notebooks(["03"], profile="smoke", out_dir=tmp_path / "o", notebooks_dir=folder,
                             params_file=bad, stream=io.StringIO())


def test_parameters_precedence_and_yaml_integer_keys(tiny):
    folder, params = tiny
    config = runner.load_params_config(params)
    assert set(config["notebooks"]) == {"01"}  # unquoted 01 is read as int 1 and re-keyed
    path = folder / "01_ok.ipynb"
    assert runner.notebook_plan(path, "smoke", config) == ({"SEED": 3, "X": 2, "PROFILE": "smoke"}, 30)
    params, _ = runner.notebook_plan(path, "smoke", config, {"X": 9, "PROFILE": "smoke"})
    assert params == {"SEED": 3, "X": 9, "PROFILE": "smoke"}
    with pytest.raises(ValueError, match=r"PROFILE is chosen with profile/--profile \('smoke'\).*PROFILE='cpu'"):
        runner.notebook_plan(path, "smoke", config, {"PROFILE": "cpu"})
    assert runner.notebook_plan(path, "cpu", config) == ({"PROFILE": "cpu"}, runner.DEFAULT_TIMEOUTS["cpu"])
    assert runner.notebook_plan(path, "smoke", config, timeout=5)[1] == 5


def test_bad_inputs_raise_value_errors(tiny, tmp_path):
    folder, params = tiny
    paths = runner.find_notebooks(folder)
    # one name as a str or an int is one notebook ("03" was read as "0" and "3"; 3 raised a TypeError)
    assert runner.find_notebooks(folder, "03") == runner.find_notebooks(folder, 3) == [paths[2]]
    (tmp_path / "broken.yml").write_text("defaults:\n  smoke: {SEED: 0\n")
    with pytest.raises(ValueError, match=r"^params_file must be valid YAML; got .*broken.yml"):
        runner.load_params_config(tmp_path / "broken.yml")  # a YAML traceback and exit 1 before
    with pytest.raises(ValueError, match="^params_file must be an existing YAML file"):
        runner.load_params_config(tmp_path)  # a folder: IsADirectoryError before
    assert [p.name for p in paths] == ["01_ok.ipynb", "02_fails.ipynb", "03_other.ipynb"]
    assert runner.find_notebooks(folder, ["3", "01_ok", "01"]) == [paths[2], paths[0]]
    with pytest.raises(ValueError, match=r"only must name existing notebooks.*'07'"):
        runner.find_notebooks(folder, ["07"])
    with pytest.raises(ValueError, match=r"profile must be one of .*'gpu'"):
        runner.resolve_profile("gpu")
    with pytest.raises(ValueError, match="timeout must be a finite number > 0"):
        runner.run_notebooks(profile="smoke", timeout=0, notebooks_dir=folder, params_file=params)
    with pytest.raises(ValueError, match="notebooks_dir must be an existing folder"):
        runner.find_notebooks(tmp_path / "missing")
    with pytest.raises(ValueError, match="params_file must be an existing YAML file"):
        runner.load_params_config(tmp_path / "missing.yml")
    (tmp_path / "wrong.yml").write_text("default: {}\n")
    with pytest.raises(ValueError, match="keys 'defaults' and 'notebooks'"):
        runner.load_params_config(tmp_path / "wrong.yml")
    (tmp_path / "wrong2.yml").write_text("defaults: {gpu: {}}\n")
    with pytest.raises(ValueError, match="'gpu'"):
        runner.load_params_config(tmp_path / "wrong2.yml")
    # the values too: a traceback (AttributeError) or a typo silently dropped before
    for text, match in [("notebooks: {'01': {timeout: 300}}", r"^notebooks.01.timeout in bad.yml must be a mapping"),
                        ("notebooks: {'01': {smoke: 5}}", r"^notebooks.01.smoke in bad.yml must be a mapping"),
                        ("notebooks: {'01': {timeout: {smoek: 5}}}", r"^notebooks.01.timeout's key in bad.yml must "
                                                                     r"be one of .*got 'smoek'"),
                        ("notebooks: {'01': {timeout: {cpu: -3}}}", r"^notebooks.01.timeout.cpu in bad.yml must be")]:
        (tmp_path / "bad.yml").write_text(text + "\n")
        with pytest.raises(ValueError, match=match):
            runner.load_params_config(tmp_path / "bad.yml")


def test_parse_value_types_like_papermill():
    assert [runner.parse_value(v) for v in ("None", "True", "False", "5", "0.5", "1e-3", "cifar10-lt")] == [
        None, True, False, 5, 0.5, 1e-3, "cifar10-lt"]


def test_auto_profile_follows_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runner.resolve_profile("auto") == "full"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runner.resolve_profile("auto") == "cpu"
    assert runner.resolve_profile("smoke") == "smoke"


def test_run_goes_on_after_a_failure_and_reports_each_notebook(tiny, tmp_path, monkeypatch):
    folder, params = tiny
    monkeypatch.delenv("LTUTORIAL_PROGRESS", raising=False)
    out = tmp_path / "out"
    stream = io.StringIO()
    results = runner.run_notebooks(["02", "01"], profile="smoke", parameters={"X": 5}, out_dir=out,
                                   notebooks_dir=folder, params_file=params, stream=stream)
    assert [r.name for r in results] == ["02_fails", "01_ok"]
    assert [r.ok for r in results] == [False, True]
    assert "RuntimeError" in results[0].error and "deliberate failure smoke" in results[0].error
    # both executed copies are written, the failing one too (papermill saves before raising)
    executed = nbformat.read(str(out / "01_ok.ipynb"), as_version=4)
    assert any("PROFILE smoke" in o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert (out / "02_fails.ipynb").exists()
    assert "LTUTORIAL_PROGRESS" not in os.environ, "the runner must restore the environment"
    lines = stream.getvalue().splitlines()
    assert re.match(r"^02_fails\s+\d+\.\d\s+FAIL", lines[2]) and re.match(r"^01_ok\s+\d+\.\d\s+pass$", lines[3]), lines
    assert lines[-1].startswith("notebooks: 1 passed, 1 failed")


def test_execute_notebook_runs_a_copy_in_the_given_folder(tmp_path):
    """ci/dry_run_full.py keeps its modified copies in build/ but runs them where the originals live."""
    copies, home = tmp_path / "copies", tmp_path / "home"
    copies.mkdir()
    home.mkdir()
    path = _tiny_notebook(copies, "01_where", "import pathlib\npathlib.Path('ran_here.txt').write_text(str(X))")
    res = runner.execute_notebook(path, tmp_path / "out" / path.name, {"PROFILE": "smoke", "X": 7}, timeout=60,
                                  cwd=home)
    assert res.ok, res.error
    assert (home / "ran_here.txt").read_text() == "7" and not (copies / "ran_here.txt").exists()


@pytest.mark.parametrize("profile, cuda, warned", [("full", False, True), ("full", True, False), ("cpu", False, False)])
def test_full_profile_without_cuda_says_it_will_take_hours(tiny, tmp_path, monkeypatch, profile, cuda, warned):
    folder, params = tiny
    monkeypatch.setattr(runner, "_cuda_available", lambda: cuda)
    monkeypatch.setattr(runner, "execute_notebook", lambda path, output, parameters, timeout: runner.NotebookResult(
        path.stem, output, ok=True))
    stream = io.StringIO()
    runner.run_notebooks(["03"], profile=profile, out_dir=tmp_path / "out", notebooks_dir=folder, params_file=params,
                         stream=stream)
    assert ("profile full without CUDA" in stream.getvalue()) is warned


def test_command_line_exit_codes(tiny, tmp_path, capsys):
    folder, params = tiny
    common = ["--notebooks-dir", str(folder), "--params-file", str(params), "--out", str(tmp_path / "o")]
    assert cli.main(["notebooks", "--profile", "smoke", "--only", "01", "-p", "NOPE", "1", *common]) == 2
    assert "'NOPE'" in capsys.readouterr().err
    assert runner.main(["--profile", "smoke", "--only", "01", "-p", "X", "5", *common]) == 0
    assert runner.main(["--profile", "cpu", "--only", "02", *common]) == 1
    assert runner.main(["--list", *common]) == 0
    assert "01_ok: PROFILE=" in capsys.readouterr().out


def test_command_line_bad_out_or_timeout_is_one_error_line(tiny, tmp_path, capsys, monkeypatch):
    # issue 13: --out at a file, an unwritable --out and --timeout nan gave tracebacks
    folder, params = tiny
    common = ["--profile", "smoke", "--only", "01", "--notebooks-dir", str(folder), "--params-file", str(params)]
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    for extra, message in (
        (["--out", str(a_file)], f"error: out_dir must be a folder to write into; got {str(a_file)!r}, which is a file"),
        (["--out", str(a_file / "sub")], "error: out_dir must be a folder this user can write into; got"),
        (["--out", str(tmp_path / "o"), "--timeout", "nan"], "error: timeout must be a finite number > 0; got nan "
                                                             "instead."),
        (["--out", str(tmp_path / "o"), "--timeout", "inf"], "error: timeout must be a finite number > 0; got inf"),
    ):
        assert cli.main(["notebooks", *common, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    # a folder that exists but cannot be written (simulated: the tests may run as root, who may write anywhere)
    locked = tmp_path / "locked"
    locked.mkdir()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runner.check_writable_dir.__globals__["tempfile"], "TemporaryFile", refuse)
    assert cli.main(["notebooks", *common, "--out", str(locked)]) == 2
    assert "out_dir must be a folder this user can write into; got" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# 3. smoke runs of the real notebooks


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_smoke_run(path):
    (result,) = runner.run_notebooks([path.stem], profile="smoke", out_dir=SMOKE_OUT, timeout=SMOKE_BUDGET_S)
    assert result.ok, f"{path.name} failed in smoke mode: {result.error}\n{result.details[-3000:]}\nexecuted copy: {result.output}"
    assert result.seconds < SMOKE_BUDGET_S, f"{path.name} took {result.seconds:.0f} s in smoke mode (budget {SMOKE_BUDGET_S:.0f} s)"
