"""Workshop hand-outs, ``ltutorial student --out DIR``: ``DIR/student/`` and ``DIR/instructor/``, outputs cleared.

Each solution between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` (nbgrader's ``ClearSolutions``) becomes a stub that
names the exercise's answers, sets them to ``None`` and raises; the check cell after it then fails with its hint.
"""

import argparse
import ast
import copy
import io
import re
import sys
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

from ltutorial._validation import check_writable_dir
from ltutorial.notebooks import find_notebooks

BEGIN_MARKER = "# BEGIN SOLUTION"
END_MARKER = "# END SOLUTION"
INSTALL_HINT = "pip install 'ltutorial[workshop]'  (or: pip install nbgrader)"
# "**Exercise 2 (balanced accuracy by hand).**" or "**2.**" in the markdown above an exercise.
EXERCISE_HEADING = re.compile(r"\*\*(?:Exercise\s+)?(\d+)\s*(?:\(([^)]*)\))?\s*[.:]?\*\*")
CHECK_CALL = re.compile(r"\bexercises\.check_\w+\s*\(")


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook: its solution cell, the check cell after it, what it must set."""

    number: int
    title: str
    cell_index: int
    check_index: int | None
    answers: tuple[str, ...]
    task: str = ""

    @property
    def label(self) -> str:
        return f"Exercise {self.number}" + (f" ({self.title})" if self.title else "")


def assigned_names(lines: list[str]) -> list[str]:
    """Names the code binds (assignments, loop targets, def/class), in order of first binding."""
    try:
        tree = ast.parse(textwrap.dedent("\n".join(lines)))
    except SyntaxError:  # IPython syntax, or a region that does not parse on its own: the stub names no answer
        return []
    nodes = sorted(ast.walk(tree), key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))
    found = [n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    found += [n.name for n in nodes if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return [n for n in dict.fromkeys(found) if n != "_"]


def used_names(source: str) -> set[str]:
    """Names the code reads, f-strings' fields included, not words in strings or comments (a hint's words are not
    variables): from the syntax tree, so every Python version agrees; tokens where the code does not parse."""
    try:
        return {n.id for n in ast.walk(ast.parse(textwrap.dedent(source))) if isinstance(n, ast.Name)}
    except SyntaxError:  # IPython syntax (magics, shell lines)
        pass
    try:
        return {t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.NAME}
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return set(re.findall(r"[A-Za-z_]\w*", source))


def _heading(cells, index: int, ordinal: int) -> tuple[int, str]:
    """Number and title of the exercise at ``cells[index]`` from the nearest markdown cell above it."""
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            matches = list(EXERCISE_HEADING.finditer(cell.source))
            if matches:
                return int(matches[-1].group(1)), (matches[-1].group(2) or "").strip()
            break
        if BEGIN_MARKER in cell.source:
            break
    return ordinal, ""


def find_exercises(nb) -> list[Exercise]:
    """Every solution cell, its check (the next code cell, if it calls ``lt.exercises.check_*``) and its answers."""
    cells, exercises = nb.cells, []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or BEGIN_MARKER not in cell.source:
            continue
        lines = cell.source.split("\n")
        begin = next(k for k, line in enumerate(lines) if BEGIN_MARKER in line)
        end = next((k for k in range(begin + 1, len(lines)) if END_MARKER in lines[k]), None)
        if end is None:
            raise ValueError(f"a cell with {BEGIN_MARKER!r} must close it with {END_MARKER!r}; got none in:\n"
                             f"{cell.source}")
        if min(cell.source.count(BEGIN_MARKER), cell.source.count(END_MARKER)) > 1:  # one stub per cell: a second
            # region would get the first one's (one BEGIN inside another is nbgrader's "nested" error)
            raise ValueError(f"a cell must hold one solution region (split the others into cells of their own); "
                             f"got {cell.source.count(BEGIN_MARKER)} in:\n{cell.source}")
        before, solution, after = lines[:begin], lines[begin + 1:end], lines[end + 1:]
        nxt = next((j for j in range(i + 1, len(cells)) if cells[j].cell_type == "code"), None)
        check = nxt if nxt is not None and CHECK_CALL.search(cells[nxt].source) else None
        bound = assigned_names(solution)
        read = used_names("\n".join(after) + "\n" + (cells[check].source if check is not None else ""))
        answers = tuple(n for n in bound if n in read) or tuple(bound)
        number, title = _heading(cells, i, len(exercises) + 1)
        if any(ex.number == number for ex in exercises):
            number = len(exercises) + 1
        task = before[-1].strip().lstrip("#").strip() if before and before[-1].strip().startswith("#") else ""
        exercises.append(Exercise(number, title, i, check, answers, task))
    return exercises


def exercise_stub(ex: Exercise) -> str:
    """The code that replaces a solution: say what to write, set the answers to None, fail clearly."""
    lines = [f"# {ex.label}: your code goes here, in place of this stub."]
    if not ex.answers:
        what = ex.task or "write the code the text above asks for"
    else:
        names = " and ".join(", ".join(ex.answers).rsplit(", ", 1))
        reader = "the check cell below" if ex.check_index is not None else "the rest of this cell"
        lines.append(f"# It must set {names}; {reader} reads {'them' if len(ex.answers) > 1 else 'it'}.")
        lines += [f"{name} = None" for name in ex.answers]
        what = f"{ex.task}; your code must set {names}" if ex.task else f"write the code that sets {names}"
    message = f"{ex.label} is not answered yet: {what} (see the text above), then run the check cell."
    lines.append(f"raise NotImplementedError({message!r})")
    return "\n".join(lines)


def handouts(nb) -> dict:
    """The ``student`` (solutions replaced by stubs) and ``instructor`` copies of ``nb`` (kept as is), no outputs."""
    try:
        from nbgrader.preprocessors import ClearOutput, ClearSolutions
    except ImportError as exc:
        raise ImportError(f"ltutorial student needs nbgrader, which is not installed; install it with "
                          f"{INSTALL_HINT}.") from exc
    instructor = ClearOutput().preprocess(copy.deepcopy(nb), {})[0]
    student = copy.deepcopy(instructor)
    language = student.metadata.get("kernelspec", {}).get("language", "python")
    for ex in find_exercises(student):
        # one ClearSolutions per exercise: nbgrader's stub is a setting, ours names the exercise's answers.
        # The cells carry no nbgrader metadata (we only ever "assign"), hence enforce_metadata=False.
        clearer = ClearSolutions(code_stub={language: exercise_stub(ex)}, enforce_metadata=False,
                                 begin_solution_delimeter=BEGIN_MARKER, end_solution_delimeter=END_MARKER)
        clearer.preprocess_cell(student.cells[ex.cell_index], {"language": language}, ex.cell_index)
    # a marker left over (e.g. an END without a BEGIN) would show the student where a solution was cut
    left = [i for i, c in enumerate(student.cells)
            if c.cell_type == "code" and (BEGIN_MARKER in c.source or END_MARKER in c.source)]
    if left:
        raise ValueError(f"the student copy must hold no solution marker; got one in cells {left} after clearing.")
    return {"student": student, "instructor": instructor}


def write_workshop(out_dir: str | Path, only=None, *, notebooks_dir=None, stream=None) -> list[Path]:
    """Write the student and instructor copies of the selected notebooks; return the student copies' paths."""
    import nbformat

    stream = sys.stdout if stream is None else stream
    built = {}
    for path in find_notebooks(notebooks_dir, only):  # all built first: a broken one or no nbgrader writes nothing
        try:
            built[path] = handouts(nbformat.read(str(path), as_version=4))
        except (ValueError, RuntimeError) as exc:  # RuntimeError: nbgrader's nested or unclosed region
            raise ValueError(f"notebook {path.name}: {exc}") from exc
    out = check_writable_dir(out_dir, name="out")
    for path, copies in built.items():
        for kind, nb in copies.items():
            (out / kind).mkdir(exist_ok=True)
            nbformat.write(nb, str(out / kind / path.name))
        count = len(find_exercises(copies["instructor"]))
        print(f"{path.stem}: {count} exercise{'' if count == 1 else 's'}", file=stream)
    print(f"student copies in {out / 'student'}, instructor copies (with solutions) in {out / 'instructor'}",
          file=stream)
    return [out / "student" / path.name for path in built]


def main(argv=None, prog: str = "ltutorial student") -> int:
    """Command-line entry point; returns 0 on success, 2 on bad input or when nbgrader is missing."""
    parser = argparse.ArgumentParser(prog=prog, description="Write the workshop hand-outs: DIR/student/ (solutions "
                                     "replaced by stubs) and DIR/instructor/ (with solutions). Needs " + INSTALL_HINT)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for student/ and instructor/")
    parser.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or stems (default: all)")
    parser.add_argument("--notebooks-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        write_workshop(args.out, args.only, notebooks_dir=args.notebooks_dir)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
