"""Workshop hand-outs (``ltutorial student``): stubs instead of solutions, no leak, every check bites.

Three groups:
1. the generator on tiny notebooks built here (stub text, what is kept, bad input, the CLI);
2. the real notebooks' student copies: no solution line leaks, outputs cleared (no kernel);
3. (marker ``notebooks``) one papermill run per notebook of a *probe* copy: the student notebook up
   to its last check cell where, for every exercise, the stub cell runs (must raise
   NotImplementedError naming the answers), then the check cell (must fail with "Not yet: ..."),
   then the reference solution, then the check again (must print "Correct: ..."). Exercises are
   found by their markers, so notebooks may gain or lose exercises without touching this file.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import nbformat
import pytest

from ltutorial import cli, workshop
from ltutorial import exercises as lt_exercises
from ltutorial import notebooks as runner

pytest.importorskip("nbgrader", reason="the workshop extra: pip install 'ltutorial[workshop]'")

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = runner.find_notebooks(REPO_ROOT / "notebooks")
PROBE_OUT = REPO_ROOT / "build" / "executed" / "workshop"


def _nb(*cells) -> nbformat.NotebookNode:
    """A notebook from ("md"|"code", source) pairs; code cells get an output to be cleared."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, source in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            cell = nbformat.v4.new_code_cell(source, execution_count=1)
            cell.outputs = [nbformat.v4.new_output("stream", text="old output\n")]
            nb.cells.append(cell)
    return nb


TINY = _nb(
    ("md", "Each exercise has a solution between `# BEGIN SOLUTION` and `# END SOLUTION`."),
    ("code", 'PROFILE = "cpu"'),
    ("md", "**Exercise 2 (ratios by hand).** Compute the ratio and the share."),
    ("code", "counts = [8, 4, 2]\n# compute both from counts\n# BEGIN SOLUTION\nordered = sorted(counts)\n"
             "my_ratio = ordered[-1] / ordered[0]\nmy_share = ordered[-1] / sum(counts)\n# END SOLUTION\nprint(my_ratio)"),
    ("code", "lt.exercises.check_close(my_ratio, 4.0, 'ratio', hint='largest over smallest')\n"
             "lt.exercises.check_close(my_share, 8 / 14, 'share', hint='largest over the total')"),
    ("md", "**3.** Sum the counts in a loop."),
    ("code", "total = 0\nfor c in counts:\n    # BEGIN SOLUTION\n    total += c\n    # END SOLUTION\n"),
    ("code", "print(total)"),
)


# --------------------------------------------------------------------------------------------
# 1. the generator on tiny notebooks


def test_find_exercises_reads_the_markdown_markers_and_check_cell():
    first, second = workshop.find_exercises(TINY)
    assert (first.number, first.title, first.cell_index, first.check_index) == (2, "ratios by hand", 3, 4)
    # `ordered` is bound by the solution but read by neither the check nor the cell's last lines
    assert first.answers == ("my_ratio", "my_share") and first.task == "compute both from counts"
    assert first.label == "Exercise 2 (ratios by hand)"
    # a region inside a loop, dedented: its `total += c` binds total; the next code cell calls no check
    assert (second.number, second.title, second.check_index, second.answers) == (3, "", None, ("total",))


def test_exercise_numbers_fall_back_to_the_order():
    nb = _nb(("code", "# BEGIN SOLUTION\na = 1\n# END SOLUTION"), ("md", "**Exercise 1.** again"),
             ("code", "# BEGIN SOLUTION\nb = 2\n# END SOLUTION"))
    assert [ex.number for ex in workshop.find_exercises(nb)] == [1, 2]  # no heading -> 1; a repeated 1 -> 2


def test_student_copy_replaces_only_the_solution_and_clears_outputs():
    original = copy.deepcopy(TINY)
    student = workshop.handouts(TINY)["student"]
    assert TINY == original, "the source notebook must not change"
    assert student.cells[0].source == TINY.cells[0].source, "markdown mentioning the markers is left alone"
    lines = student.cells[3].source.split("\n")
    assert lines[:2] == ["counts = [8, 4, 2]", "# compute both from counts"] and lines[-1] == "print(my_ratio)"
    assert not any("ordered" in line or "BEGIN" in line or "END SOLUTION" in line for line in lines)
    assert "    total = None" in student.cells[6].source.split("\n"), "the stub keeps the region's indentation"
    assert "the rest of this cell reads it" in student.cells[6].source  # no check cell after it
    assert all(not c.outputs and c.execution_count is None for c in student.cells if c.cell_type == "code")
    instructor = workshop.handouts(TINY)["instructor"]
    assert [c.source for c in instructor.cells] == [c.source for c in TINY.cells]
    assert all(not c.outputs for c in instructor.cells if c.cell_type == "code")


def test_stub_fails_clearly_and_the_check_then_fails_with_its_hint():
    stub = workshop.handouts(TINY)["student"].cells[3].source
    namespace = {}
    with pytest.raises(NotImplementedError) as info:
        exec(stub, namespace)
    message = str(info.value)
    assert message.startswith("Exercise 2 (ratios by hand) is not answered yet: compute both from counts")
    assert "my_ratio and my_share" in message and "ordered" not in message
    assert namespace["counts"] == [8, 4, 2] and namespace["my_ratio"] is None and namespace["my_share"] is None
    with pytest.raises(AssertionError, match=r"(?s)^Not yet: ratio is still None.*Hint: largest over smallest"):
        lt_exercises.check_close(namespace["my_ratio"], 4.0, "ratio", hint="largest over smallest")


def test_checks_whose_answers_are_also_inputs_say_not_yet_for_the_stubs_none():
    with pytest.raises(AssertionError, match=r"(?s)^Not yet: per_class_risk is still None.*Hint: "):
        lt_exercises.check_risk_decomposition(None, None, None, [500, 50, 5])
    with pytest.raises(AssertionError, match=r"(?s)^Not yet: balanced Bayes prediction is still None.*Hint: "):
        lt_exercises.check_balanced_bayes_prediction(None, [[0.9, 0.1], [0.6, 0.4]], [0.8, 0.2])


@pytest.mark.parametrize("source, match", [
    ("# BEGIN SOLUTION\na = 1\n", r"must close it with '# END SOLUTION'"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\na = 1\n# END SOLUTION", "nested"),
    ("a = 1\n# END SOLUTION", r"must hold no solution marker; got one in cells \[0\]"),  # an END with no BEGIN
    # two regions in a cell: both got the first region's stub ("must set a"), the second's answer never named
    ("# BEGIN SOLUTION\na = 1\n# END SOLUTION\nprint(a)\n# BEGIN SOLUTION\nb = a + 1\n# END SOLUTION",
     r"a cell must hold one solution region \(split the others into cells of their own\); got 2"),
])
def test_broken_markers_are_refused_with_the_notebook_name(tmp_path, source, match):
    folder = tmp_path / "nbs"
    folder.mkdir()
    nbformat.write(_nb(("code", source)), str(folder / "01_broken.ipynb"))
    with pytest.raises(ValueError, match=rf"(?s)notebook 01_broken.ipynb: .*{match}"):
        workshop.write_workshop(tmp_path / "out", notebooks_dir=folder, stream=io.StringIO())
    assert not (tmp_path / "out").exists(), "nothing is written when a notebook is broken"


def test_command_line(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "nbs"
    folder.mkdir()
    nbformat.write(TINY, str(folder / "01_tiny.ipynb"))
    nbformat.write(_nb(("code", "x = 1")), str(folder / "02_plain.ipynb"))
    out = tmp_path / "hand-outs"
    assert cli.main(["student", "--out", str(out), "--notebooks-dir", str(folder)]) == 0
    assert "01_tiny: 2 exercises" in capsys.readouterr().out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.ipynb")) == [
        "instructor/01_tiny.ipynb", "instructor/02_plain.ipynb", "student/01_tiny.ipynb", "student/02_plain.ipynb"]
    assert "my_share = None" in (out / "student" / "01_tiny.ipynb").read_text()
    a_file = tmp_path / "file.txt"
    a_file.write_text("")
    assert cli.main(["student", "--out", str(a_file), "--notebooks-dir", str(folder)]) == 2
    assert "error: out must be a folder" in capsys.readouterr().err
    assert cli.main(["student", "--out", str(out), "--only", "07", "--notebooks-dir", str(folder)]) == 2
    assert "only must name existing notebooks" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "nbgrader.preprocessors", None)  # as if not installed
    assert cli.main(["student", "--out", str(tmp_path / "new"), "--notebooks-dir", str(folder)]) == 2
    assert "pip install 'ltutorial[workshop]'" in capsys.readouterr().err
    assert not (tmp_path / "new").exists(), "nothing is written without nbgrader"


# --------------------------------------------------------------------------------------------
# 2. the real notebooks' student copies


@pytest.fixture(scope="module")
def handouts(tmp_path_factory):
    out = tmp_path_factory.mktemp("workshop")
    workshop.write_workshop(out, stream=io.StringIO())
    return out


def _solution_lines(nb) -> set[str]:
    """Stripped lines between the markers, minus those that also occur outside any solution region
    (a line such as `K = len(prior)` written elsewhere in the notebook is not a leak)."""
    inside, outside = set(), set()
    for cell in nb.cells:
        in_solution = False
        for line in cell.source.split("\n"):
            text = line.strip()
            if "BEGIN SOLUTION" in text or "END SOLUTION" in text:
                in_solution = "BEGIN SOLUTION" in text
                continue
            (inside if in_solution and cell.cell_type == "code" else outside).add(text)
    return {line for line in inside - outside if line and not line.startswith("#")} | {
        line for line in inside - outside if line.startswith("#") and len(line) > 12}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_solution_line_leaks_into_the_student_copy(handouts, path):
    source = nbformat.read(str(path), as_version=4)
    solutions = _solution_lines(source)
    assert solutions, f"{path.name}: no solution lines found, so this search would prove nothing"
    text = (handouts / "student" / path.name).read_text(encoding="utf-8")
    everything = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells) + "\n" + text
    leaked = sorted(line for line in solutions if line in everything or json.dumps(line)[1:-1] in text)
    assert not leaked, f"{path.name}: solution lines in the student copy: {leaked}"
    instructor = (handouts / "instructor" / path.name).read_text(encoding="utf-8")
    assert all(json.dumps(line)[1:-1] in instructor for line in solutions), "the instructor copy keeps them"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_copy_is_clean_and_keeps_the_rest(handouts, path):
    source = nbformat.read(str(path), as_version=4)
    student = nbformat.read(str(handouts / "student" / path.name), as_version=4)
    assert student.metadata["kernelspec"]["name"] == "python3"
    assert len(student.cells) == len(source.cells)
    exercise_cells = {ex.cell_index for ex in workshop.find_exercises(source)}
    for i, (s, o) in enumerate(zip(student.cells, source.cells)):
        assert s.cell_type == o.cell_type and s.get("metadata", {}).get("tags") == o.get("metadata", {}).get("tags")
        if s.cell_type == "code":
            assert not s.outputs and s.execution_count is None, f"{path.name} cell {i} keeps outputs"
        if i not in exercise_cells:
            assert s.source == o.source, f"{path.name} cell {i} changed but holds no solution"
        else:
            assert "raise NotImplementedError(" in s.source, f"{path.name} cell {i} has no stub"


# --------------------------------------------------------------------------------------------
# 3. every exercise's check, run on the student copy (one smoke run per notebook)


def _probe_cell(cell, kind: str, index: int, raises: bool = False):
    cell = copy.deepcopy(cell)
    cell.id = f"probe-{kind}-{index}"  # copies need their own cell ids
    cell.metadata["workshop_probe"] = {"kind": kind, "cell": index}
    if raises:  # nbclient goes on after an error in a cell tagged raises-exception
        cell.metadata["tags"] = [*cell.metadata.get("tags", []), "raises-exception"]
    return cell


def probe_notebook(student, instructor):
    """The student notebook up to its last check cell, with, at each exercise: the stub (tagged
    raises-exception), the check (likewise), the reference solution; the check cell follows as usual."""
    exercises = workshop.find_exercises(instructor)
    by_cell = {ex.cell_index: ex for ex in exercises}
    checks = {ex.check_index for ex in exercises}
    last = max(max(ex.cell_index, ex.check_index or 0) for ex in exercises)
    probe = copy.deepcopy(student)
    probe.cells = []
    for i, cell in enumerate(student.cells[: last + 1]):
        ex = by_cell.get(i)
        if ex is None:
            probe.cells.append(_probe_cell(cell, "check", i) if i in checks else cell)
            continue
        probe.cells.append(_probe_cell(cell, "stub", i, raises=True))
        if ex.check_index is not None:
            probe.cells.append(_probe_cell(student.cells[ex.check_index], "unanswered", ex.check_index, raises=True))
        probe.cells.append(_probe_cell(instructor.cells[i], "solution", i))
    return probe, exercises


def _outcome(cell) -> tuple[str, str, str]:
    """(error name, error value, printed text) of an executed cell."""
    errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
    return (errors[0].ename, errors[0].evalue, printed) if errors else ("", "", printed)


def _probe_failures(executed, exercises) -> list[str]:
    by_cell = {ex.cell_index: ex for ex in exercises}
    by_check = {ex.check_index: ex for ex in exercises}
    problems = []
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        ename, evalue, printed = _outcome(cell)
        kind, index = (cell.metadata.get("workshop_probe") or {}).get("kind"), cell.metadata.get("workshop_probe", {}).get("cell")
        ex = by_cell.get(index) or by_check.get(index)
        where = f"{ex.label if ex else 'cell'} (cell {index})"
        if cell.execution_count is None:
            problems.append(f"{where} did not run: an earlier cell failed")
            break
        if kind == "stub":
            if ename != "NotImplementedError" or not all(name in evalue for name in (ex.label, *ex.answers)):
                problems.append(f"{where}: the stub must raise NotImplementedError naming {ex.answers}; got {ename}: {evalue}")
        elif kind == "unanswered":
            if ename != "AssertionError" or not evalue.startswith("Not yet:"):
                problems.append(f"{where}: with the stub's None answers the check must fail with 'Not yet: ... Hint: ...'; "
                                f"got {ename or 'no error'}: {evalue[:300]}")
        elif ename:
            problems.append(f"{where} ({kind or 'setup'}) raised {ename}: {evalue[:300]}")
        elif kind == "check" and "Correct:" not in printed:
            problems.append(f"{where}: the check with the reference solution printed no 'Correct:'; got {printed[-300:]!r}")
    return problems


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_notebook_runs_to_its_first_exercise_and_every_check_bites(tmp_path, path):
    source = nbformat.read(str(path), as_version=4)
    copies = workshop.handouts(source)
    probe, exercises = probe_notebook(copies["student"], copies["instructor"])
    assert exercises, f"{path.name} has no exercise"
    assert all(ex.check_index is not None for ex in exercises), (
        f"{path.name}: {[ex.label for ex in exercises if ex.check_index is None]} have no check cell "
        "(the next code cell must call lt.exercises.check_*)")
    nbformat.write(probe, str(tmp_path / path.name))
    (result,) = runner.run_notebooks([path.stem], profile="smoke", out_dir=PROBE_OUT, notebooks_dir=tmp_path,
                                     stream=io.StringIO())
    # papermill marks the run failed after an error even in a raises-exception cell; the executed copy
    # tells: every cell up to the first stub must run without error (the stub then raises), and so on
    assert result.output.exists(), result.error
    problems = _probe_failures(nbformat.read(str(result.output), as_version=4), exercises)
    assert not problems, f"{path.name} (executed probe: {result.output}):\n" + "\n".join(problems)


def test_used_names_reads_f_string_fields_not_string_words_on_every_python():
    # Python 3.11's tokenizer sees an f-string as one STRING token, 3.12's splits it: the syntax tree agrees on both
    src = 'print(f"balanced accuracy {my_ba:.3f}", "my_sub in words")  # my_parent in a comment\nz = w + 1'
    assert workshop.used_names(src) == {"print", "my_ba", "z", "w"}
    # IPython syntax does not parse: the tokens still name the code's identifiers
    assert {"my_ba", "timeit"} <= workshop.used_names("%timeit my_ba + 1")


def test_stub_sets_a_name_the_rest_of_the_cell_reads_in_an_f_string():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("# BEGIN SOLUTION\na = 1\nb = a + 1\n# END SOLUTION\nprint(f'{b}')"),
        nbformat.v4.new_code_cell("lt.exercises.check_close(a, 1, 'a')")])
    assert workshop.find_exercises(nb)[0].answers == ("a", "b")
