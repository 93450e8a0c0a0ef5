"""Run the tutorial notebooks headless with papermill, e.g. ``ltutorial notebooks --only 01 03 --profile smoke``."""

import argparse
import contextlib
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

from ltutorial._validation import check_choice, check_number, check_writable_dir
from ltutorial.profiles import PROFILES

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PARAMS_FILE = REPO_ROOT / "ci" / "notebook_params.yml"
DEFAULT_OUT = REPO_ROOT / "build" / "executed"
RUN_PROFILES = (*PROFILES, "auto")
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")
# Per-cell time limits (s) without --timeout: smoke is the CI budget; full trains hundreds of epochs in a cell.
DEFAULT_TIMEOUTS = {"smoke": 120, "cpu": 900, "full": 6 * 3600}


@dataclass
class NotebookResult:
    """Outcome of one notebook run."""

    name: str
    output: Path
    seconds: float = 0.0
    ok: bool = False
    error: str = ""
    details: str = field(default="", repr=False)


def find_notebooks(notebooks_dir: str | Path | None = None, only=None) -> list[Path]:
    """The ``NN_slug.ipynb`` notebooks in ``notebooks_dir`` (a folder without any is refused), sorted by number, or
    those named in ``only`` (numbers such as ``"03"``/``3``, or stems) in its order."""
    folder = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS_DIR
    if not folder.is_dir():
        raise ValueError(f"notebooks_dir must be an existing folder; got {str(folder)!r} instead.")
    paths = sorted(p for p in folder.iterdir() if NOTEBOOK_PATTERN.match(p.name))
    if not paths:
        raise ValueError(f"notebooks_dir must contain NN_slug.ipynb notebooks; got none in {str(folder)!r}.")
    only = [only] if isinstance(only, (str, int)) else only  # "12" is one notebook, not notebooks 1 and 2
    if not only:
        return paths
    by_key = {**{p.stem: p for p in paths}, **{p.name[:2]: p for p in paths}}
    keys = [f"{int(k):02d}" if k.isdigit() else k for k in (str(item).removesuffix(".ipynb") for item in only)]
    bad = [item for item, key in zip(only, keys) if key not in by_key]
    if bad:
        raise ValueError(f"only must name existing notebooks (numbers {sorted(p.name[:2] for p in paths)} or their "
                         f"stems); got {bad[0]!r} instead.")
    return list(dict.fromkeys(by_key[key] for key in keys))


def resolve_profile(profile: str) -> str:
    """``auto`` -> ``full`` when CUDA is available, else ``cpu``; other profiles pass through."""
    check_choice(profile, list(RUN_PROFILES), name="profile")
    return profile if profile != "auto" else "full" if _cuda_available() else "cpu"


def _cuda_available() -> bool:
    import torch  # here, not at the top: `ltutorial notebooks --help` stays instant

    return torch.cuda.is_available()


def load_params_config(params_file: str | Path | None = None) -> dict:
    """``ci/notebook_params.yml``: ``{"defaults": {profile: {...}}, "notebooks": {NN: {profile|timeout: {...}}}}``."""
    path = Path(params_file) if params_file is not None else PARAMS_FILE
    if params_file is not None and not path.is_file():
        raise ValueError(f"params_file must be an existing YAML file; got {str(path)!r} instead.")
    import yaml

    try:
        config = (yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None) or {}
    except yaml.YAMLError as exc:  # one error line and exit 2, as for every bad input (a traceback exited 1)
        raise ValueError(f"params_file must be valid YAML; got {str(path)!r}, which is not ({exc}).") from None
    if not isinstance(config, dict) or set(config) - {"defaults", "notebooks"}:
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"params_file must hold a mapping with keys 'defaults' and 'notebooks'; got {got} in {path} "
                         "instead.")
    defaults = config.get("defaults") or {}
    # YAML reads an unquoted 01 as the integer 1: key notebooks by their two-digit number.
    notebooks = {(f"{k:02d}" if isinstance(k, int) else str(k)): v for k, v in (config.get("notebooks") or {}).items()}
    for where, keys, allowed in [("defaults", defaults, PROFILES)] + [
            (f"notebooks.{k}", v, (*PROFILES, "timeout")) for k, v in notebooks.items()]:
        if not isinstance(keys, dict) or set(keys) - set(allowed):
            raise ValueError(f"{where} in {path.name} must be keyed by a profile in {list(PROFILES)} (notebooks also "
                             f"'timeout'); got {keys!r} instead.")
        for key, value in keys.items():  # a profile's parameters, or timeout: {profile: seconds}
            if not isinstance(value, dict | None):
                raise ValueError(f"{where}.{key} in {path.name} must be a mapping; got {value!r} instead.")
            for profile, seconds in (value or {}).items() if key == "timeout" else ():
                check_choice(profile, PROFILES, name=f"{where}.timeout's key in {path.name}")
                check_number(seconds, name=f"{where}.timeout.{profile} in {path.name}", strict=True)
    return {"defaults": defaults, "notebooks": notebooks}


def notebook_plan(path: Path, profile: str, config: dict, overrides: dict | None = None,
                  timeout: float | None = None) -> tuple[dict, float]:
    """One notebook's parameters, later ones winning: ``ci/notebook_params.yml``'s profile defaults, its notebook entry,
    ``overrides`` (``-p NAME VALUE``), PROFILE; checked, as papermill only warns. And its per-cell time limit:
    ``timeout``, else its entry's ``timeout.<profile>``, else ``DEFAULT_TIMEOUTS``."""
    overrides = overrides or {}
    if overrides.get("PROFILE", profile) != profile:
        raise ValueError(f"PROFILE is chosen with profile/--profile ({profile!r}), not as a parameter; "
                         f"got the parameter PROFILE={overrides['PROFILE']!r} instead.")
    entry = config["notebooks"].get(path.name[:2]) or {}
    params = {**(config["defaults"].get(profile) or {}), **(entry.get(profile) or {}), **overrides, "PROFILE": profile}
    check_parameters(path, params)
    limit = timeout if timeout is not None else (entry.get("timeout") or {}).get(profile, DEFAULT_TIMEOUTS[profile])
    return params, float(limit)


def check_parameters(path: str | Path, parameters: dict) -> None:
    """Raise ``ValueError`` if a parameter is not defined in the notebook's ``parameters`` cell."""
    import papermill

    declared = papermill.inspect_notebook(str(path))  # the cell's names and defaults
    if not declared:
        raise ValueError(f"notebook {Path(path).name} must have a cell tagged 'parameters'; got none, so no "
                         "parameter can be passed to it.")
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        raise ValueError(f"parameter {unknown[0]!r} is not defined in the parameters cell of {Path(path).name}; "
                         f"valid parameters are {sorted(declared)}; got {sorted(unknown)} instead.")


def parse_value(text: str):
    """Type a command-line value as papermill's ``-p`` does: None, True/False, int, float, else str."""
    for cast in (int, float):
        with contextlib.suppress(ValueError):
            return cast(text)
    return {"None": None, "True": True, "False": False}.get(text, text)


def execute_notebook(path: Path, output: Path, parameters: dict, *, timeout: float | None,
                     cwd: str | Path | None = None) -> NotebookResult:
    """Execute one notebook with papermill in ``cwd`` (default its folder: a copy kept elsewhere runs in place)."""
    import papermill

    result = NotebookResult(path.stem, output)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:  # ipykernel's start-up chatter is silenced (log level ERROR): one line per notebook; errors still show
        papermill.execute_notebook(str(path), str(output), parameters=parameters, kernel_name="python3",
                                   cwd=str(path.parent if cwd is None else cwd), progress_bar=False, log_output=False,
                                   execution_timeout=timeout, extra_arguments=["--IPKernelApp.log_level=ERROR"])
        result.ok = True
    except Exception as exc:  # a failed notebook is reported, the run goes on with the next one
        evalue = str(getattr(exc, "evalue", exc)).strip().splitlines()
        ename, cell = getattr(exc, "ename", None), getattr(exc, "exec_count", None)
        where = f" in cell [{cell}]" if ename and cell is not None else ""
        result.error = f"{ename or type(exc).__name__}{where}: {evalue[0] if evalue else ''}"[:300]
        result.details = "".join(traceback.format_exception_only(type(exc), exc))
    result.seconds = time.perf_counter() - start
    return result


def run_notebooks(only=None, *, profile: str = "auto", parameters: dict | None = None, out_dir=None,
                  timeout: float | None = None, notebooks_dir=None, params_file=None, stream=None) -> list:
    """Execute the selected notebooks, every parameter set checked first; a ``NotebookResult`` and a line each.

    A failed one does not stop the others; LTUTORIAL_PROGRESS=0, as progress widgets only clutter saved copies."""
    stream, resolved = sys.stdout if stream is None else stream, resolve_profile(profile)
    if timeout is not None:
        check_number(timeout, name="timeout", strict=True)
    config = load_params_config(params_file)
    paths = find_notebooks(notebooks_dir, only)
    plans = {p: notebook_plan(p, resolved, config, parameters, timeout) for p in paths}
    out = check_writable_dir(out_dir if out_dir is not None else DEFAULT_OUT, name="out_dir")
    say = lambda text: print(text, file=stream, flush=True)  # noqa: E731
    say(f"profile {resolved}" + (" (auto)" if profile == "auto" else "") + f"; executed copies in {out}")
    if resolved == "full" and not _cuda_available():
        say("profile full without CUDA: the notebooks follow the papers' GPU recipes (hundreds of epochs) and take "
            "many hours on a CPU; `make dry-full` runs the same code path at tiny sizes.")
    width = max(len(p.stem) for p in paths)
    say(f"{'notebook':<{width}}  {'seconds':>8}  result")
    results = []
    with mock.patch.dict(os.environ, LTUTORIAL_PROGRESS="0"):  # the kernels inherit our environment
        for path, (params, limit) in plans.items():
            results.append(execute_notebook(path, out / path.name, params, timeout=limit))
            say(f"{results[-1].name:<{width}}  {results[-1].seconds:8.1f}  "
                + ("pass" if results[-1].ok else f"FAIL  {results[-1].error}"))
    n_fail = sum(not r.ok for r in results)
    say(f"notebooks: {len(results) - n_fail} passed, {n_fail} failed in {sum(r.seconds for r in results):.1f} s")
    return results


def main(argv=None, prog: str = "python -m ltutorial.notebooks") -> int:
    """Command-line entry point; 0 when every notebook passed, 1 on a failure, 2 on bad input."""
    p = argparse.ArgumentParser(prog=prog, description="Execute the tutorial notebooks headless with papermill.")
    p.add_argument("--profile", default="auto", choices=RUN_PROFILES,
                   help="smoke (CI), cpu (laptop), full (GPU recipes), auto: full with CUDA else cpu (default)")
    p.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or stems to run (default: all)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="override a parameter (typed like papermill: None, True/False, int, float, else str)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="folder for the executed copies (default: build/executed)")
    p.add_argument("--timeout", type=float, help="per-cell time limit in seconds (default: by profile)")
    p.add_argument("--notebooks-dir", help=argparse.SUPPRESS)
    p.add_argument("--params-file", help="parameters file (default: ci/notebook_params.yml)")
    p.add_argument("--list", action="store_true", help="list the notebooks and their parameters, then exit")
    args = p.parse_args(argv)
    try:
        if args.list:
            import papermill

            for path in find_notebooks(args.notebooks_dir, args.only):
                declared = papermill.inspect_notebook(str(path))
                print(f"{path.stem}: " + ", ".join(f"{k}={v['default']}" for k, v in declared.items()))
            return 0
        results = run_notebooks(args.only, profile=args.profile, parameters=dict(
            (name, parse_value(value)) for name, value in args.parameter), out_dir=args.out, timeout=args.timeout,
            notebooks_dir=args.notebooks_dir, params_file=args.params_file)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
