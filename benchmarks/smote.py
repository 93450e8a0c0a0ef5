"""ltutorial's torch SMOTE against imbalanced-learn's, on the same data in one run.

Cases (``--quick`` shrinks both):
* cifar10-lt: CIFAR-10-LT training pixels (12,406 x 3,072, imbalance 100) as float32, balanced to
  5,000 per class (sampling_strategy="auto"). Real images when CIFAR-10 is found (or an .npz
  given with --data), else random pixels with the same class counts (speed does not depend on
  the pixel values; the run says which it used).
* tabular: 200,000 x 32 Gaussian features, 2 percent minority, minority raised to the majority.

Timings: ltutorial on the CPU always, on CUDA when present (data already on the GPU, and numpy
in/out with the transfers), imbalanced-learn on the CPU. Each library is warmed up once, then the
two are timed in alternation (the order flips every round), --repeats rounds, and the median is
reported: other processes loading the machine then hit both libraries alike. The 1-minute load
average (/proc/loadavg) is recorded with every run. Prints the times, the ratios, the threads and
the hardware; writes benchmarks/results/<device>-smote.json (device: "cpu", or "cuda" when a GPU
took part).

    python benchmarks/smote.py            # full sizes, default threads
    python benchmarks/smote.py --quick    # a small run (CI)
    python benchmarks/smote.py --threads 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ltutorial.sampling import SMOTE  # noqa: E402

CIFAR10_LT_COUNTS = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


def cifar_case(data: str, quick: bool):
    """(X float32 N x 3072, y int64, description)."""
    X = y = None
    source = None
    if data.endswith(".npz"):
        with np.load(data) as z:
            X, y = z["X"], z["y"]
        source = f"CIFAR-10-LT pixels from {data}"
    elif data not in ("auto", "cifar", "random"):  # a typo (or "cifar10") must not benchmark random pixels
        raise SystemExit(f"--data must be auto, cifar, random or a path to an .npz; got {data!r} instead.")
    elif data in ("auto", "cifar"):
        try:
            from ltutorial.data import load_dataset, resolve_dataset

            if resolve_dataset("auto") == "cifar10-lt":
                train, _ = load_dataset("cifar10-lt", imbalance_ratio=100)
                X = train.images.reshape(len(train), -1).numpy()
                y = train.labels.numpy()
                source = f"CIFAR-10-LT pixels ({train.source})"
        except Exception as err:  # a missing data module or copy: say so, then use random pixels
            print(f"could not load CIFAR-10-LT ({type(err).__name__}: {err})")
        if X is None and data == "cifar":
            raise SystemExit("--data cifar was asked but CIFAR-10 was not found")
    if X is None:
        rng = np.random.default_rng(0)
        y = np.concatenate([np.full(n, c) for c, n in enumerate(CIFAR10_LT_COUNTS)]).astype(np.int64)
        X = rng.integers(0, 256, size=(len(y), 3072), dtype=np.uint8)
        source = "random uint8 pixels with CIFAR-10-LT class counts" + (" (--data random)" if data == "random" else
                                                                          " (CIFAR-10 not found)")
    if quick:
        keep = np.concatenate([np.flatnonzero(y == c)[: max(10, n // 10)] for c, n in enumerate(np.bincount(y))])
        X, y = X[keep], y[keep]
        source += ", quick: 1/10 of every class"
    print(f"cifar10-lt case: {source}")
    return np.ascontiguousarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64), source


def tabular_case(quick: bool):
    n, d = (20_000, 32) if quick else (200_000, 32)
    rng = np.random.default_rng(1)
    n_min = int(0.02 * n)
    y = np.r_[np.zeros(n - n_min, np.int64), np.ones(n_min, np.int64)]
    X = (rng.standard_normal((n, d)) + 0.5 * y[:, None]).astype(np.float32)
    return X, y, f"{n} x {d} Gaussian, 2% minority"


def loadavg() -> float | None:
    """The 1-minute load average (None where /proc/loadavg does not exist)."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def timed_alternating(fns: dict, repeats: int, sync=None) -> dict:
    """Time every callable of ``fns`` ``repeats`` times, interleaved, after one warm-up each.

    Round r runs them in order when r is even and in reverse when odd, so a burst of load from
    another process does not always hit the same library. Returns name -> dict(median_s, runs_s,
    loadavg (1-minute, read after each run), out (the last result)).
    """
    res = {name: {"runs_s": [], "loadavg": [], "out": None} for name in fns}
    for name, fn in fns.items():  # warm-up (allocator, BLAS threads, CUDA context and cuBLAS handle)
        res[name]["out"] = fn()
        if sync:
            sync()
    names = list(fns)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            out = fns[name]()
            if sync:
                sync()
            res[name]["runs_s"].append(time.perf_counter() - t)
            res[name]["loadavg"].append(loadavg())
            res[name]["out"] = out
            del out
    for v in res.values():
        v["median_s"] = statistics.median(v["runs_s"])
    return res


def digest(arr) -> str:
    a = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def hardware() -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            info["cpu_model"] = names[0]
    except OSError:
        pass
    try:
        import imblearn
        import sklearn

        info["imblearn"] = imblearn.__version__
        info["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [{"lib": p.get("prefix"), "api": p.get("user_api"), "num_threads": p.get("num_threads")}
                               for p in threadpool_info()]
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def run_case(name, X, y, repeats, use_cuda, k=5):
    from imblearn.over_sampling import SMOTE as ImbSMOTE

    row = {"case": name, "shape": list(X.shape), "class_counts": np.bincount(y).tolist(), "loadavg_start": loadavg()}
    res = timed_alternating({
        "imblearn": lambda: ImbSMOTE(k_neighbors=k, random_state=0).fit_resample(X, y),
        "ltutorial": lambda: SMOTE(k_neighbors=k, random_state=0).fit_resample(X, y),
    }, repeats)
    (Xi, yi), (Xo, yo) = res["imblearn"]["out"], res["ltutorial"]["out"]
    t_imb, t_cpu = res["imblearn"]["median_s"], res["ltutorial"]["median_s"]
    row["imblearn_cpu_s"], row["imblearn_cpu_runs"] = t_imb, res["imblearn"]["runs_s"]
    row["imblearn_loadavg"] = res["imblearn"]["loadavg"]
    row["imblearn_digest"] = digest(Xi)
    row["ltutorial_cpu_s"], row["ltutorial_cpu_runs"] = t_cpu, res["ltutorial"]["runs_s"]
    row["ltutorial_loadavg"] = res["ltutorial"]["loadavg"]
    row["ltutorial_digest"] = digest(Xo)
    row["counts_equal"] = bool(np.array_equal(np.bincount(yo), np.bincount(yi)))
    row["speedup_cpu"] = t_imb / t_cpu
    row["speedup_cpu_per_round"] = [a / b for a, b in zip(row["imblearn_cpu_runs"], row["ltutorial_cpu_runs"])]
    row["torch_threads_after"] = torch.get_num_threads()
    row["loadavg_end"] = loadavg()

    def runs(v):
        return ", ".join(f"{t:.3f}" for t in v)

    print(f"  imbalanced-learn (CPU): {t_imb:8.3f} s median of [{runs(row['imblearn_cpu_runs'])}]  counts {np.bincount(yi).tolist()}")
    print(f"  ltutorial        (CPU): {t_cpu:8.3f} s median of [{runs(row['ltutorial_cpu_runs'])}]  counts equal: {row['counts_equal']}")
    print(f"  ratio imbalanced-learn / ltutorial: x{t_imb / t_cpu:.2f} (per round: "
          f"{', '.join(f'x{r:.2f}' for r in row['speedup_cpu_per_round'])})   load average {row['loadavg_start']} -> "
          f"{row['loadavg_end']}, torch threads {torch.get_num_threads()}")
    del Xi, yi, res
    if use_cuda:
        Xg, yg = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()
        sync = torch.cuda.synchronize
        g = timed_alternating({
            "cuda": lambda: SMOTE(k_neighbors=k, random_state=0).fit_resample(Xg, yg),
            "cuda_numpy_io": lambda: SMOTE(k_neighbors=k, random_state=0, device="cuda").fit_resample(X, y),
        }, repeats, sync)
        t_gpu, t_gpu_np, Xgo = g["cuda"]["median_s"], g["cuda_numpy_io"]["median_s"], g["cuda"]["out"][0]
        row.update(ltutorial_cuda_s=t_gpu, ltutorial_cuda_runs=g["cuda"]["runs_s"], ltutorial_cuda_numpy_io_s=t_gpu_np,
                   speedup_cuda=t_imb / t_gpu, speedup_cuda_numpy_io=t_imb / t_gpu_np)
        # same seed -> same draws on both devices; a row can still differ where float32 rounding
        # swaps two (nearly) tied neighbours, so report the share of identical synthetic rows
        same = np.isclose(Xgo.cpu().numpy(), Xo, rtol=1e-4, atol=1e-3).all(axis=1)[len(X):]
        row["cuda_rows_matching_cpu"] = float(same.mean()) if same.size else 1.0
        print(f"  ltutorial       (CUDA): {t_gpu:8.3f} s   speed-up x{t_imb / t_gpu:.1f} (data on the GPU)")
        print(f"  ltutorial  (CUDA, I/O): {t_gpu_np:8.3f} s   speed-up x{t_imb / t_gpu_np:.1f} (numpy in and out)")
        print(f"  synthetic rows identical on CUDA and CPU: {100 * row['cuda_rows_matching_cpu']:.2f}%")
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    ap.add_argument("--data", default="auto", help="auto | cifar | random | path to an .npz with X (N x 3072 uint8) and y")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds per library (median; default 5, quick 3)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu"], help="auto: add CUDA when present")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for both libraries (torch and the BLAS under scikit-learn); default: all cores")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    repeats = (3 if args.quick else 5) if args.repeats is None else args.repeats  # an explicit 0 is refused
    if repeats < 1:
        raise SystemExit(f"--repeats must be a positive integer; got {repeats} instead.")
    use_cuda = args.device == "auto" and torch.cuda.is_available()
    hw = hardware()
    print("hardware:", json.dumps(hw))
    print(f"threads: torch {torch.get_num_threads()} ({'--threads ' + str(args.threads) if args.threads else 'default'}), "
          f"cores {os.cpu_count()}, load average at start: {loadavg()}")
    results = {"hardware": hw, "quick": args.quick, "repeats": repeats, "threads": args.threads, "cases": []}
    X, y, src = cifar_case(args.data, args.quick)
    print(f"[cifar10-lt] X {X.shape} float32, balanced to {np.bincount(y).max()} per class")
    row = run_case("cifar10-lt", X, y, repeats, use_cuda)
    row["source"] = src
    results["cases"].append(row)
    del X, y
    X, y, src = tabular_case(args.quick)
    print(f"[tabular] {src}")
    row = run_case("tabular", X, y, repeats, use_cuda)
    row["source"] = src
    results["cases"].append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ("-quick" if args.quick else "") + (f"-{args.threads}threads" if args.threads else "")
    path = out / f"{'cuda' if use_cuda else 'cpu'}-smote{suffix}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return results


if __name__ == "__main__":
    main()
