"""Progress bars that switch themselves off in headless runs (papermill, CI), where tqdm's widget is only noise."""

import os


def progress_enabled(progress: bool | None = None) -> bool:
    """An explicit True/False wins; else off when ``LTUTORIAL_PROGRESS`` (the notebook runner's) or ``CI`` say so."""
    if progress is not None:
        return bool(progress)
    off = os.environ.get("LTUTORIAL_PROGRESS", "").lower() in ("0", "false", "no", "off")
    return not (off or os.environ.get("CI", "").lower() in ("1", "true", "yes"))


def progress_bar(iterable=None, *, progress: bool | None = None, **kwargs):
    """``tqdm.auto.tqdm`` honouring :func:`progress_enabled`."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not progress_enabled(progress), **kwargs)
