"""Package version and the notebooks' version guard."""

import re

__version__ = "0.1.0"


def _parse(version: str) -> tuple[int, ...]:
    """The leading numbers of a version without trailing zeros: "0.10.1" -> (0, 10, 1); "1rc2" counts as 1,
    "2.0.dev" as (2,)."""
    leading = re.match(r"\d+(?:\.\d+)*", version)
    parts = [int(d) for d in leading.group().split(".")] if leading else []
    while len(parts) > 1 and parts[-1] == 0:  # 0.2 == 0.2.0 (PEP 440)
        parts.pop()
    return tuple(parts)


def require(min_version: str) -> str:
    """The version if it is at least ``min_version``: a notebook newer than the package fails with an instruction."""
    if not isinstance(min_version, str) or not _parse(min_version):
        raise ValueError(f"min_version must be a version string such as '0.1'; got {min_version!r} instead.")
    if _parse(__version__) < _parse(min_version):
        raise ImportError(f"This notebook needs ltutorial >= {min_version} but {__version__} is installed. "
                          "Run `pip install -e .` from the repository root (or `make setup`).")
    return __version__
