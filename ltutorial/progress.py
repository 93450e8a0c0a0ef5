"""Progress bars that switch themselves off in headless runs (papermill, CI)."""

from __future__ import annotations

import os


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to draw bars: an explicit True/False wins; otherwise off under CI or papermill.

    The notebook runner sets ``LTUTORIAL_PROGRESS=0``; ``CI`` is set by CI services. tqdm's
    widget never advances in papermill logs, so bars there are only noise.
    """
    if progress is not None:
        return bool(progress)
    if os.environ.get("LTUTORIAL_PROGRESS", "").lower() in ("0", "false", "no", "off"):
        return False
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        return False
    return True


def progress_bar(iterable=None, *, progress: bool | None = None, **kwargs):
    """``tqdm.auto.tqdm`` honouring :func:`progress_enabled`."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not progress_enabled(progress), **kwargs)
