"""Package version and the notebooks' version guard."""

from __future__ import annotations

__version__ = "0.1.0"


def _parse(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        # "1rc2" counts as 1: a pre-release never satisfies a requirement above its base.
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def require(min_version: str) -> str:
    """Check that the installed ltutorial is at least ``min_version``; return the version.

    Every notebook calls this first, so a notebook newer than the installed package fails with
    an instruction instead of an ``AttributeError`` deep inside a cell (d2l's most reported
    problem).
    """
    if not isinstance(min_version, str) or not _parse(min_version):
        raise ValueError(f"min_version must be a version string such as '0.1'; got {min_version!r} instead.")
    if _parse(__version__) < _parse(min_version):
        raise ImportError(
            f"This notebook needs ltutorial >= {min_version} but {__version__} is installed. "
            "Run `pip install -e .` from the repository root (or `make setup`)."
        )
    return __version__
