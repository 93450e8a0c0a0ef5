"""Sphinx configuration of the tutorial's book (``make book``; built by ``docs/book/build_book.py``).

The chapters are the notebooks as ``make tutorial`` executed them: MyST-NB reads their stored
outputs and never runs a cell (``nb_execution_mode = "off"``). ``docs/book/build_book.py`` stages the
executed copies and a generated front page into a source folder and points ``sphinx-build -c`` here.
"""

project = "Trustworthy Machine Learning on Imbalanced Data"
author = "ltutorial"
copyright = "the ltutorial authors"

extensions = [
    "myst_nb",
    # MathJax 3 shipped inside the wheel and copied into _static/mathjax: the equations typeset
    # without a network (Sphinx's default loads MathJax from a CDN).
    "sphinx-mathjax-offline",
]

# Outputs as executed by papermill; nothing runs during the build.
nb_execution_mode = "off"
# $...$ and $$...$$ in the notebooks' markdown, and LaTeX environments such as align.
myst_enable_extensions = ["dollarmath", "amsmath"]
# Headings inside a chapter are anchors, so "see the SMOTE section" links can be written.
myst_heading_anchors = 3
# A failed cell's traceback would be shown, not hidden: the book says what the run said.
nb_output_stderr = "show"
# No widget JavaScript from a CDN: the runner turns progress bars off, and a static page could
# not drive a widget anyway (an executed copy with bars shows their text form instead).
nb_ipywidgets_js = {}

exclude_patterns = ["_build", "_clean/**", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = "Trustworthy ML on Imbalanced Data"
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "home_page_in_toc": True,
}
html_last_updated_fmt = None
# The theme's search index and copy buttons need no network; nothing else is fetched.
html_copy_source = False
# The theme reads its colour mode from here; left empty it logs a console error and resets.
html_context = {"default_mode": "light"}
