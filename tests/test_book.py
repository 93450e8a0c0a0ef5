"""The book (``make book``, ``docs/book/build_book.py``): built from executed notebooks, read in a browser.

Two groups:
1. the builder's checks on its input (no browser): every notebook needs an executed copy that ran
   through, and the slide sections match the README's notebook table;
2. (marker ``browser``) the book built from the smoke-executed copies (``build/executed/smoke/``,
   written by ``tests/test_notebooks.py``; missing or stale ones are executed here first), opened
   in headless Chromium: the front page lists the sections in the slides' order, and in every
   chapter each figure decodes, each equation is typeset by the bundled MathJax, the console has no
   errors and nothing outside the site is requested. A screenshot of one chapter goes to
   ``build/book-chapter.png``.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import re
import shutil
import threading
from pathlib import Path

import nbformat
import pytest

from ltutorial import notebooks as runner

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = runner.find_notebooks(REPO_ROOT / "notebooks")
SMOKE_OUT = REPO_ROOT / "build" / "executed" / "smoke"
SCREENSHOT = REPO_ROOT / "build" / "book-chapter.png"
SCRIPT = REPO_ROOT / "docs" / "book" / "build_book.py"


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_book", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


book_builder = _load_builder()


def _executed_copy(folder: Path, source: Path, *, failed: bool = False) -> Path:
    nb = nbformat.read(str(source), as_version=4)
    nb.metadata["papermill"] = {"parameters": {"PROFILE": "smoke"}, "exception": failed}
    target = folder / source.name
    nbformat.write(nb, str(target))
    return target


# --------------------------------------------------------------------------------------------
# 1. the builder's input checks


def test_a_missing_executed_copy_is_named(tmp_path):
    for source in NOTEBOOKS[1:]:
        _executed_copy(tmp_path, source)
    with pytest.raises(ValueError, match=rf"make tutorial.*\['{NOTEBOOKS[0].name}'\]"):
        book_builder.executed_copies(tmp_path)
    assert book_builder.main(["--executed", str(tmp_path), "--out", str(tmp_path / "book")]) == 2
    assert not (tmp_path / "book").exists(), "nothing may be built when a chapter is missing"


def test_a_failed_or_unexecuted_copy_is_refused(tmp_path):
    first, second = NOTEBOOKS[:2]
    _executed_copy(tmp_path, first, failed=True)
    with pytest.raises(ValueError, match=rf"{first.name} failed when it was executed"):
        book_builder.executed_copies(tmp_path, only=[first.name[:2]])
    shutil.copy2(second, tmp_path / second.name)  # a clean notebook, never executed
    with pytest.raises(ValueError, match="without papermill metadata"):
        book_builder.executed_copies(tmp_path, only=[second.name[:2]])


def test_out_folder_of_something_else_is_not_emptied(tmp_path):
    _executed_copy(tmp_path, NOTEBOOKS[0])
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="out must be a new folder or one this script built before"):
        book_builder.build(tmp_path, precious, only=[NOTEBOOKS[0].name[:2]])
    assert (precious / "notes.txt").read_text() == "keep"


def test_slide_sections_are_the_readme_table_in_order():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \[(\d\d)\]\(notebooks/\d\d_\w+\.ipynb\) \| ([^|]+?) \|", readme, re.M)
    assert rows, "README.md has no notebook table"
    assert list(book_builder.SLIDE_SECTIONS.items()) == rows
    assert list(book_builder.SLIDE_SECTIONS) == [p.name[:2] for p in NOTEBOOKS]


def test_chapter_gets_a_run_box_after_its_title(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {"PROFILE": "smoke"}}
    nb.cells = [nbformat.v4.new_markdown_cell("# 02 · Title"), nbformat.v4.new_code_cell("1")]
    folder = tmp_path
    nbformat.write(nb, str(folder / "02_smote.ipynb"))
    out, profile = book_builder.chapter(folder / "02_smote.ipynb", NOTEBOOKS[1])
    assert profile == "smoke" and [c.cell_type for c in out.cells] == ["markdown", "markdown", "code"]
    assert "Run this notebook" in out.cells[1].source and f"_clean/{NOTEBOOKS[1].name}" in out.cells[1].source
    assert len(nbformat.read(str(folder / "02_smote.ipynb"), as_version=4).cells) == 2, "the executed copy is not changed"


def test_setup_installs_the_book_and_browser_extras_and_ci_installs_chromium():
    """make setup (so CI) installs what the book and the browser tests import; .ci/run brings Chromium."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", r, maxsplit=1)[0].lower() for extra in ("docs", "browser") for r in extras[extra]}
    conf = (SCRIPT.parent / "conf.py").read_text()
    needed = {"sphinx", "myst-nb", "sphinx-book-theme", "sphinx-mathjax-offline", "playwright"}
    assert needed <= names, sorted(needed - names)
    assert all(ext in conf for ext in ('"myst_nb"', '"sphinx-mathjax-offline"', '"sphinx_book_theme"'))
    makefile = (REPO_ROOT / "Makefile").read_text()
    installs = re.findall(r'install\b.*-e\s+"?\.\[([\w,]+)\]', makefile)
    assert installs and all({"docs", "browser"} <= set(e.split(",")) for e in installs), installs
    assert re.search(r"apt-get install[^\n]*\bchromium\b", (REPO_ROOT / ".ci" / "run").read_text())


# --------------------------------------------------------------------------------------------
# 2. the built book in Chromium


def _stale(source: Path) -> bool:
    copy = SMOKE_OUT / source.name
    if not copy.exists() or copy.stat().st_mtime < source.stat().st_mtime:
        return True
    return bool(nbformat.read(str(copy), as_version=4).metadata.get("papermill", {}).get("exception"))


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """The book built from the smoke-executed notebooks; yields (html folder, base URL of a local server)."""
    todo = [p.stem for p in NOTEBOOKS if _stale(p)]
    if todo:  # `make test` runs the smoke notebooks first; a lone run of this file executes them here
        results = runner.run_notebooks(todo, profile="smoke", out_dir=SMOKE_OUT)
        failed = [r.name for r in results if not r.ok]
        assert not failed, f"smoke runs failed, no book without them: {failed}"
    index = book_builder.build(SMOKE_OUT, tmp_path_factory.mktemp("book") / "book")
    handler = functools.partial(_QuietHandler, directory=str(index.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index.parent, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


def _open(chromium, url: str, base: str):
    """Open ``url``; returns (page, problems): console errors, page errors, failed and outside requests."""
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)  # generous on a busy 2-core machine
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))

    def only_local(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:  # the site must work offline: anything outside it is a fault
            problems.append(f"outside request: {route.request.url}")
            route.abort()

    page.route("**/*", only_local)
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: HTTP {response.status if response else 'no response'}"
    return page, problems


def _typeset(page, problems: list[str]) -> dict:
    """Wait for MathJax (when the page has math) and count the equations, typeset ones and TeX errors."""
    if page.locator(".math").count():
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=45_000)
        except PlaywrightTimeout:
            pytest.fail(f"MathJax did not load within 45 s; the page's problems: {problems}")
        page.evaluate("() => MathJax.startup.promise.then(() => true)")
    return page.evaluate("""() => ({
        math: document.querySelectorAll('.math').length,
        typeset: [...document.querySelectorAll('.math')].filter(e => e.querySelector('mjx-container')).length,
        errors: document.querySelectorAll('mjx-merror').length,
    })""")


def _images(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('.cell_output img')].map(
        img => ({src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth}))""")


def _png_outputs(path: Path) -> int:
    nb = nbformat.read(str(path), as_version=4)
    return sum("image/png" in out.get("data", {}) for c in nb.cells if c.cell_type == "code" for out in c.outputs)


@pytest.mark.browser
def test_front_page_lists_the_slide_sections_in_order(chromium, book):
    _, base = book
    page, problems = _open(chromium, base + "index.html", base)
    rows = page.locator("article table tbody tr")
    assert rows.count() == len(NOTEBOOKS)
    for i, source in enumerate(NOTEBOOKS):
        cells = rows.nth(i).locator("td")
        assert cells.nth(0).inner_text().strip() == source.name[:2]
        assert cells.nth(1).inner_text().strip() == book_builder.SLIDE_SECTIONS[source.name[:2]]
        assert cells.nth(2).locator("a").get_attribute("href") == f"{source.stem}.html"
    page.close()
    assert not problems, problems


@pytest.mark.browser
@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_shows_figures_equations_and_a_run_link(chromium, book, source):
    html, base = book
    page, problems = _open(chromium, base + f"{source.stem}.html", base)
    images = _images(page)
    assert len(images) == _png_outputs(SMOKE_OUT / source.name), "one <img> per image/png output of the executed notebook"
    broken = [im["src"] for im in images if not (im["complete"] and im["width"] > 0)]
    assert not broken, f"figures that do not decode: {broken}"
    math = _typeset(page, problems)
    assert math["typeset"] == math["math"] and math["errors"] == 0, math
    run = page.locator(".admonition", has_text="Run this notebook")
    link = run.locator("a.download").get_attribute("href")
    downloaded = nbformat.reads((html / link).read_text(encoding="utf-8"), as_version=4)
    assert downloaded == nbformat.read(str(source), as_version=4), "the run link gives the notebook without outputs"
    if source == NOTEBOOKS[1]:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=False)
    page.close()
    assert not problems, problems


@pytest.mark.browser
def test_the_book_has_figures_and_equations(book):
    """The chapter checks above are not vacuous: the book as a whole holds figures and equations."""
    html, _ = book
    pages = [(html / f"{p.stem}.html").read_text(encoding="utf-8") for p in NOTEBOOKS]
    assert sum(p.count('class="math') for p in pages) > 0
    assert sum(p.count("<img") for p in pages) >= len(NOTEBOOKS)
    scripts = {s for p in pages for s in re.findall(r'<script[^>]+src="([^"]+)"', p)}
    assert not [s for s in scripts if s.startswith(("http:", "https:", "//"))], scripts
