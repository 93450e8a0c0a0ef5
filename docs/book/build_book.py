"""Build the tutorial's book: a static HTML site of the executed notebooks, one chapter each.

    .venv/bin/python docs/book/build_book.py                          # build/executed/ -> build/book/html/
    .venv/bin/python docs/book/build_book.py --executed build/executed/smoke --out build/book-smoke
    make book                                                          # the same as the first line

The chapters are the copies that ``make tutorial`` (``ltutorial notebooks``) executed with
papermill: Sphinx with MyST-NB reads their stored outputs and runs no cell. This script checks
that every notebook of ``notebooks/`` has an executed copy that ran through, stages the copies
with a generated front page (the twelve slide sections in the slides' order) and a "Run this
notebook" box at the top of each chapter, then runs ``sphinx-build`` with ``docs/book/conf.py``.
The site opens offline: MathJax is copied into it (``sphinx-mathjax-offline``).
"""

from __future__ import annotations

import argparse
import copy
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))

from ltutorial import notebooks as runner  # noqa: E402

CONF_DIR = Path(__file__).resolve().parent
DEFAULT_EXECUTED = REPO / "build" / "executed"
DEFAULT_OUT = REPO / "build" / "book"
MARKER = ".ltutorial-book"

#: The slides' sections, in the slides' order; chapter NN is notebook ``NN_*.ipynb``.
SLIDE_SECTIONS = {
    "01": "The Imbalance Nature of Data",
    "02": "SMOTE",
    "03": "Threshold-moving",
    "04": "COG",
    "05": "Statistical consistency (plug-in for balanced accuracy)",
    "06": "Class-balanced loss",
    "07": "LDAM-DRW",
    "08": "Logit adjustment",
    "09": "VS loss, TLA/ADRW",
    "10": "SDCLR",
    "11": "BCL",
    "12": "Geometric harmonization",
}

RUN_BOX = """```{{admonition}} Run this notebook
:class: tip
Download {{download}}`{name} <_clean/{name}>` (without outputs; it is `notebooks/{name}` in the
repository), start JupyterLab from the project's environment (`make lab`), pick the kernel
*Python 3 (ltutorial)* and run all cells. The `parameters` cell chooses the profile
(`PROFILE = "cpu"` for a laptop, `"full"` on a GPU). Headless: `ltutorial notebooks --only {number}`.

The outputs below are those of a run with `PROFILE = "{profile}"`.
```"""


def executed_copies(executed_dir: Path, notebooks_dir: Path | None = None, only=None) -> list[tuple[Path, Path]]:
    """(source notebook, executed copy) for every notebook; raises ValueError naming what is missing or failed."""
    import nbformat

    sources = runner.find_notebooks(notebooks_dir, only)
    missing = [p.name for p in sources if not (executed_dir / p.name).is_file()]
    if missing:
        raise ValueError(
            f"executed_dir must hold an executed copy of every notebook (run `make tutorial` first); "
            f"got {str(executed_dir)!r} without {missing} instead.")
    unknown = sorted(p.name[:2] for p in sources if p.name[:2] not in SLIDE_SECTIONS)
    if unknown:
        raise ValueError(f"every notebook must have a slide section in SLIDE_SECTIONS; got notebooks {unknown} without one.")
    pairs = []
    for source in sources:
        executed = executed_dir / source.name
        meta = nbformat.read(str(executed), as_version=4).metadata.get("papermill")
        if meta is None:
            raise ValueError(f"executed_dir must hold papermill-executed copies; got {str(executed)!r} without papermill metadata instead.")
        if meta.get("exception"):
            raise ValueError(f"{executed.name} failed when it was executed; the book shows completed runs only: re-run it (`ltutorial notebooks --only {source.name[:2]}`).")
        pairs.append((source, executed))
    return pairs


def chapter(executed: Path, source: Path):
    """The executed notebook with a "Run this notebook" box after its title cell."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    profile = nb.metadata["papermill"].get("parameters", {}).get("PROFILE", "?")
    box = nbformat.v4.new_markdown_cell(RUN_BOX.format(name=source.name, number=source.name[:2], profile=profile))
    first = nb.cells[0] if nb.cells else None
    at = 1 if first is not None and first.cell_type == "markdown" and first.source.lstrip().startswith("# ") else 0
    nb = copy.deepcopy(nb)
    nb.cells.insert(at, box)
    return nb, profile


def notebook_title(nb, fallback: str) -> str:
    """The text of the notebook's first ``# `` heading."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def front_page(rows: list[tuple[str, str, str]], profiles: set[str]) -> str:
    """The book's index.md: the slide sections in order, each linked to its chapter, and the toctree."""
    lines = [
        "# Trustworthy Machine Learning on Imbalanced Data",
        "",
        "The companion notebooks of the tutorial, one chapter per section of the slides and in the",
        "slides' order. Each chapter is a notebook as it was executed, with its figures and outputs"
        f" (profile {', '.join(f'`{p}`' for p in sorted(profiles))}); the box at its top says how to run it yourself.",
        "",
        "| # | slide section | chapter |",
        "|---|---|---|",
    ]
    lines += [f"| {number} | {SLIDE_SECTIONS[number]} | {{doc}}`{title} <{stem}>` |" for number, stem, title in rows]
    lines += ["", "```{toctree}", ":hidden:", ":caption: Chapters", ""]
    lines += [stem for _, stem, _ in rows]
    lines += ["```", ""]
    return "\n".join(lines)


def _clear(folder: Path) -> None:
    """Empty a folder this script made before (it holds ``MARKER``); refuse to empty any other."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise ValueError(f"out must be a new folder or one this script built before (holding {MARKER}); got {str(folder)!r} instead.")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("built by docs/book/build_book.py; emptied on every build\n", encoding="utf-8")


def stage(pairs: list[tuple[Path, Path]], src_dir: Path) -> None:
    """Write the chapters, the clean notebooks (for download) and the front page into ``src_dir``."""
    import nbformat

    (src_dir / "_clean").mkdir(parents=True)
    rows, profiles = [], set()
    for source, executed in pairs:
        nb, profile = chapter(executed, source)
        nbformat.write(nb, str(src_dir / source.name))
        shutil.copy2(source, src_dir / "_clean" / source.name)
        rows.append((source.name[:2], source.stem, notebook_title(nb, source.stem)))
        profiles.add(profile)
    (src_dir / "index.md").write_text(front_page(rows, profiles), encoding="utf-8")


def build(executed_dir: Path = DEFAULT_EXECUTED, out_dir: Path = DEFAULT_OUT, *, only=None,
          notebooks_dir: Path | None = None, quiet: bool = True) -> Path:
    """Stage and build the book in ``out_dir`` (``src/``, ``html/``); returns ``out_dir/html/index.html``.

    MyST-NB writes the figures it extracts to ``jupyter_execute/`` beside the HTML folder, so
    everything the build makes stays inside ``out_dir``.
    """
    executed_dir, out_dir = Path(executed_dir).resolve(), Path(out_dir).resolve()
    pairs = executed_copies(executed_dir, notebooks_dir, only)
    _clear(out_dir)
    stage(pairs, out_dir / "src")
    html = out_dir / "html"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(CONF_DIR), "-d", str(out_dir / "doctrees"),
           str(out_dir / "src"), str(html)]
    if quiet:
        cmd.append("-q")
    done = subprocess.run(cmd, cwd=REPO, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"sphinx-build failed with exit status {done.returncode}: {' '.join(cmd)}")
    return html / "index.html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="docs/book/build_book.py", description=__doc__.splitlines()[0])
    parser.add_argument("--executed", type=Path, default=DEFAULT_EXECUTED, help="folder of the executed notebooks (default build/executed, what `make tutorial` writes)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the build (default build/book; the site is its html/ folder)")
    parser.add_argument("--only", nargs="+", default=None, metavar="NN", help="build these chapters only")
    parser.add_argument("--verbose", action="store_true", help="show sphinx-build's progress")
    args = parser.parse_args(argv)
    try:
        index = build(args.executed, args.out, only=args.only, quiet=not args.verbose)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"book: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
