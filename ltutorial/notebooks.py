"""Run the tutorial notebooks headless with papermill: ``python -m ltutorial.notebooks``.

Each notebook runs under a *profile* (``smoke`` for CI, ``cpu`` for a laptop, ``full`` for a GPU
with the papers' recipes). The parameters passed to a notebook are, in order of precedence:
the command line's ``-p NAME VALUE`` overrides, then ``ci/notebook_params.yml`` (per notebook and
profile), then its ``defaults`` for the profile; ``PROFILE`` is always set. A name that the
notebook's ``parameters`` cell does not define is refused with a ``ValueError`` before anything
runs, because papermill itself only warns about it and a typo would silently change nothing.

Used by ``make tutorial`` (all notebooks, profile ``auto``), ``make test`` (through
``tests/test_notebooks.py``, profile ``smoke``) and the ``ltutorial notebooks`` command.

Examples::

    python -m ltutorial.notebooks                       # every notebook, cpu (full with CUDA)
    python -m ltutorial.notebooks --only 01 03 --profile smoke
    python -m ltutorial.notebooks --only 03 -p EPOCHS 5 --out build/mine
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ltutorial._validation import check_choice, check_writable_dir
from ltutorial.profiles import PROFILES

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PARAMS_FILE = REPO_ROOT / "ci" / "notebook_params.yml"
DEFAULT_OUT = REPO_ROOT / "build" / "executed"
KERNEL_NAME = "python3"
RUN_PROFILES = (*PROFILES, "auto")
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")

# Per-cell time limits (seconds) when --timeout is not given. smoke matches the CI budget;
# full is generous because a GPU recipe trains for hundreds of epochs in one cell.
DEFAULT_TIMEOUTS = {"smoke": 120, "cpu": 900, "full": 6 * 3600}


@dataclass
class NotebookResult:
    """Outcome of one notebook run."""

    name: str
    profile: str
    parameters: dict
    output: Path
    seconds: float = 0.0
    ok: bool = False
    error: str = ""
    details: str = field(default="", repr=False)


# --------------------------------------------------------------------------------------------
# Discovery and parameters


def find_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """All ``NN_slug.ipynb`` notebooks in ``notebooks_dir``, sorted by number."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS_DIR
    if not folder.is_dir():
        raise ValueError(f"notebooks_dir must be an existing folder; got {str(folder)!r} instead.")
    return sorted(p for p in folder.iterdir() if NOTEBOOK_PATTERN.match(p.name))


def select_notebooks(paths: list[Path], only=None) -> list[Path]:
    """Keep the notebooks named in ``only`` (numbers such as ``"03"``/``3`` or full stems)."""
    if not only:
        return list(paths)
    by_key: dict[str, Path] = {}
    for p in paths:
        by_key[p.stem] = p
        by_key[p.name[:2]] = p
    chosen = []
    for item in only:
        key = str(item)
        if key.isdigit():
            key = f"{int(key):02d}"
        if key.endswith(".ipynb"):
            key = key[: -len(".ipynb")]
        if key not in by_key:
            valid = sorted(p.name[:2] for p in paths)
            raise ValueError(f"only must name existing notebooks (numbers {valid} or their stems); got {item!r} instead.")
        if by_key[key] not in chosen:
            chosen.append(by_key[key])
    return chosen


def resolve_profile(profile: str) -> str:
    """``auto`` -> ``full`` when CUDA is available, else ``cpu``; other profiles pass through."""
    check_choice(profile, list(RUN_PROFILES), name="profile")
    if profile != "auto":
        return profile
    return "full" if _cuda_available() else "cpu"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def load_params_config(params_file: str | Path | None = None) -> dict:
    """Read ``ci/notebook_params.yml``: ``{"defaults": {profile: {...}}, "notebooks": {NN: {profile: {...}}}}``."""
    path = Path(params_file) if params_file is not None else PARAMS_FILE
    if not path.exists():
        if params_file is not None:
            raise ValueError(f"params_file must be an existing YAML file; got {str(path)!r} instead.")
        return {"defaults": {}, "notebooks": {}}
    import yaml

    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh) or {}
    if not isinstance(config, dict) or set(config) - {"defaults", "notebooks"}:
        raise ValueError(f"params_file must hold a mapping with keys 'defaults' and 'notebooks'; got {sorted(config) if isinstance(config, dict) else type(config).__name__} in {path} instead.")
    for section in ("defaults", "notebooks"):
        config[section] = config.get(section) or {}
    for prof in config["defaults"]:
        if prof not in PROFILES:
            raise ValueError(f"defaults in {path.name} must be keyed by a profile in {list(PROFILES)}; got {prof!r} instead.")
    # YAML reads an unquoted 01 as the integer 1: key notebooks by their two-digit number.
    config["notebooks"] = {(f"{k:02d}" if isinstance(k, int) else str(k)): v for k, v in config["notebooks"].items()}
    for key, per_profile in config["notebooks"].items():
        if not isinstance(per_profile, dict):
            raise ValueError(f"notebooks.{key} in {path.name} must map profiles to parameters; got {per_profile!r} instead.")
        for prof in per_profile:
            if prof not in (*PROFILES, "timeout"):
                raise ValueError(f"notebooks.{key} in {path.name} must be keyed by a profile in {list(PROFILES)} (or 'timeout'); got {prof!r} instead.")
    return config


def _notebook_key(path: Path) -> str:
    return path.name[:2]


def notebook_parameters(path: Path, profile: str, config: dict, overrides: dict | None = None) -> dict:
    """The parameters for one notebook: defaults < per-notebook entry < overrides; PROFILE always set."""
    params: dict = {}
    params.update((config.get("defaults") or {}).get(profile) or {})
    per_nb = (config.get("notebooks") or {}).get(_notebook_key(path)) or {}
    params.update(per_nb.get(profile) or {})
    overrides = dict(overrides or {})
    if "PROFILE" in overrides and overrides["PROFILE"] != profile:
        raise ValueError(
            f"PROFILE is chosen with profile/--profile ({profile!r}), not as a parameter; "
            f"got the parameter PROFILE={overrides['PROFILE']!r} instead."
        )
    params.update(overrides)
    params["PROFILE"] = profile
    return params


def notebook_timeout(path: Path, profile: str, config: dict) -> float:
    """Per-cell time limit: the notebook's ``timeout.<profile>`` entry, else ``DEFAULT_TIMEOUTS``."""
    per_nb = (config.get("notebooks") or {}).get(_notebook_key(path)) or {}
    limits = per_nb.get("timeout") or {}
    return float(limits.get(profile, DEFAULT_TIMEOUTS[profile]))


def declared_parameters(path: str | Path) -> dict:
    """The names (and defaults) the notebook's ``parameters`` cell defines, via ``papermill.inspect_notebook``."""
    import papermill

    return papermill.inspect_notebook(str(path))


def check_parameters(path: str | Path, parameters: dict) -> None:
    """Raise ``ValueError`` if a parameter is not defined in the notebook's ``parameters`` cell."""
    declared = declared_parameters(path)
    if not declared:
        raise ValueError(f"notebook {Path(path).name} must have a cell tagged 'parameters'; got none, so no parameter can be passed to it.")
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        raise ValueError(
            f"parameter {unknown[0]!r} is not defined in the parameters cell of {Path(path).name}; "
            f"valid parameters are {sorted(declared)}; got {sorted(unknown)} instead."
        )


def parse_value(text: str):
    """Type a command-line value the way papermill's ``-p`` does: None, True/False, int, float, else str."""
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


# --------------------------------------------------------------------------------------------
# Execution


@contextlib.contextmanager
def _kernel_environment(extra: dict[str, str]):
    """Set environment variables for the kernels started inside the block (they inherit ours)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _describe_error(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)
    if ename:
        evalue = str(getattr(exc, "evalue", "")).strip().splitlines()
        cell = getattr(exc, "exec_count", None)
        where = f" in cell [{cell}]" if cell is not None else ""
        return f"{ename}{where}: {evalue[0] if evalue else ''}"[:300]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def execute_notebook(path: Path, output: Path, parameters: dict, *, timeout: float | None,
                     cwd: str | Path | None = None) -> NotebookResult:
    """Execute one notebook with papermill (kernel ``python3``, cwd = ``cwd``, default the notebook's
    folder: a modified copy kept elsewhere runs where the original would)."""
    import papermill

    result = NotebookResult(name=path.stem, profile=str(parameters.get("PROFILE")), parameters=dict(parameters), output=output)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(path),
            str(output),
            parameters=parameters,
            kernel_name=KERNEL_NAME,
            cwd=str(path.parent if cwd is None else cwd),
            progress_bar=False,
            log_output=False,
            execution_timeout=timeout,
            # quiet kernel start-up chatter (ipykernel 7 warns on every start about TCP transport),
            # so the runner prints one line per notebook; errors still show
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
        result.ok = True
    except Exception as exc:  # a failed notebook is reported, the run goes on with the next one
        result.error = _describe_error(exc)
        result.details = "".join(traceback.format_exception_only(type(exc), exc))
    result.seconds = time.perf_counter() - start
    return result


def run_notebooks(
    only=None,
    *,
    profile: str = "auto",
    parameters: dict | None = None,
    out_dir: str | Path | None = None,
    timeout: float | None = None,
    notebooks_dir: str | Path | None = None,
    params_file: str | Path | None = None,
    stream=None,
) -> list[NotebookResult]:
    """Execute the selected notebooks one after another and print one line per notebook.

    Every parameter set is checked against each notebook's ``parameters`` cell before the first
    notebook starts, so a typo fails in a second instead of after an hour. Notebooks run even if
    an earlier one failed; the caller decides the exit status from ``result.ok``.
    Kernels see ``LTUTORIAL_PROGRESS=0`` (tqdm widgets only add noise to a saved notebook).
    """
    stream = sys.stdout if stream is None else stream
    resolved = resolve_profile(profile)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout <= 0):
        raise ValueError(f"timeout must be a positive number of seconds or None; got {timeout!r} instead.")
    config = load_params_config(params_file)
    paths = select_notebooks(find_notebooks(notebooks_dir), only)
    if not paths:
        raise ValueError(f"notebooks_dir must contain NN_slug.ipynb notebooks; got none in {notebooks_dir or NOTEBOOKS_DIR}.")
    plans = []
    for path in paths:
        params = notebook_parameters(path, resolved, config, parameters)
        check_parameters(path, params)
        plans.append((path, params, timeout if timeout is not None else notebook_timeout(path, resolved, config)))
    out = check_writable_dir(out_dir if out_dir is not None else DEFAULT_OUT, name="out_dir")

    width = max(len(p.stem) for p in paths)
    print(f"profile {resolved}" + (" (auto)" if profile == "auto" else "") + f"; executed copies in {out}", file=stream)
    if resolved == "full" and not _cuda_available():
        print("profile full without CUDA: the notebooks follow the papers' GPU recipes (hundreds of epochs) and "
              "take many hours on a CPU; `make dry-full` runs the same code path at tiny sizes.", file=stream)
    print(f"{'notebook':<{width}}  {'seconds':>8}  result", file=stream, flush=True)
    results = []
    with _kernel_environment({"LTUTORIAL_PROGRESS": "0"}):
        for path, params, limit in plans:
            res = execute_notebook(path, out / path.name, params, timeout=limit)
            results.append(res)
            status = "pass" if res.ok else f"FAIL  {res.error}"
            print(f"{res.name:<{width}}  {res.seconds:8.1f}  {status}", file=stream, flush=True)
    n_fail = sum(not r.ok for r in results)
    total = sum(r.seconds for r in results)
    print(f"notebooks: {len(results) - n_fail} passed, {n_fail} failed in {total:.1f} s", file=stream, flush=True)
    return results


# --------------------------------------------------------------------------------------------
# Command line


def build_parser(prog: str = "python -m ltutorial.notebooks") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Execute the tutorial notebooks headless with papermill and print a summary table.")
    parser.add_argument("--profile", default="auto", choices=RUN_PROFILES, help="smoke (CI), cpu (laptop), full (GPU recipes), auto: full with CUDA else cpu (default)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or stems to run (default: all)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="override a parameter (typed like papermill: None, True/False, int, float, else str)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for the executed copies (default: build/executed)")
    parser.add_argument("--timeout", type=float, default=None, help="per-cell time limit in seconds (default: by profile)")
    parser.add_argument("--notebooks-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--params-file", default=None, help="parameters file (default: ci/notebook_params.yml)")
    parser.add_argument("--list", action="store_true", help="list the notebooks and their parameters, then exit")
    return parser


def main(argv=None, prog: str = "python -m ltutorial.notebooks") -> int:
    """Command-line entry point; returns 0 when every notebook passed, 1 on a failure, 2 on bad input."""
    args = build_parser(prog).parse_args(argv)
    overrides = {name: parse_value(value) for name, value in args.parameter}
    try:
        if args.list:
            for path in select_notebooks(find_notebooks(args.notebooks_dir), args.only):
                declared = declared_parameters(path)
                listing = ", ".join(f"{name}={info['default']}" for name, info in declared.items())
                print(f"{path.stem}: {listing}")
            return 0
        results = run_notebooks(
            args.only,
            profile=args.profile,
            parameters=overrides,
            out_dir=args.out,
            timeout=args.timeout,
            notebooks_dir=args.notebooks_dir,
            params_file=args.params_file,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
