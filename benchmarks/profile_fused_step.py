"""Where a fused train step spends its time: kernel time by operation, N fused models against one.

The throughput benchmark says how fast the fused step is (H200: 15.3 ms for 8 ResNet-32s, against
the 9.4 ms target in benchmarks/README.md), not why. This script trains the same
models eagerly (``fit_many(..., fuse=True, fast=False)`` and ``fit(..., fast path, no graph)``: the
very step the CUDA graph captures) under ``torch.profiler`` and reports, per optimizer step:

- the device (kernel) time of each operation, grouped as convolution forward / backward,
  batch norm, optimizer, loss and the rest; summed over the step it is the floor of the graphed
  step's time (a graph removes launch gaps, not kernel time);
- the same for one model, and the ratio "fused kernel time / (N x one model's)": above 1, the
  grouped kernels do the models' work less efficiently than N plain ones would.

On the CPU (no CUDA) the CPU self time stands in for the kernel time (a smoke run of the script).
Writes ``--out`` (JSON) and prints the table.

    python3 benchmarks/profile_fused_step.py                 # CUDA: ~20 s
    python3 benchmarks/profile_fused_step.py --quick         # CPU smoke run: seconds
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from train_throughput import hardware, make_data, slug  # noqa: E402

#: Operation-name fragments -> group. The first group whose fragment occurs in the name wins, so
#: the backward entries come before the forward ones they contain.
GROUPS = (
    ("conv backward", ("convolution_backward", "cudnn_convolution_backward", "conv_depthwise2d_backward")),
    ("conv forward", ("cudnn_convolution", "convolution", "conv2d", "mkldnn_convolution", "conv_depthwise2d")),
    ("batch norm", ("batch_norm",)),
    ("optimizer", ("_foreach", "sgd")),
    ("loss", ("cross_entropy", "log_softmax", "nll_loss")),
)

#: Profiler steps: one per epoch, advanced by an epoch-start hook (setup, first epoch with cuDNN
#: autotuning, a warm-up epoch, then the one epoch that is recorded, closed by the next epoch's
#: hook so that what follows training, such as unfusing the weights, stays out of the record).
_WAIT, _WARMUP, _ACTIVE = 2, 1, 1


def group_of(name: str) -> str:
    """The group of an operation name (see ``GROUPS``), "other" when none matches."""
    lowered = name.lower()
    for group, fragments in GROUPS:
        if any(f in lowered for f in fragments):
            return group
    return "other"


def _self_time_us(event, on_cuda: bool) -> float:
    if on_cuda:
        for attr in ("self_device_time_total", "self_cuda_time_total"):
            if hasattr(event, attr):
                return float(getattr(event, attr))
        return 0.0
    return float(event.self_cpu_time_total)


def summarize(events, steps: int, on_cuda: bool, top: int = 15) -> dict:
    """Per-step self time (ms) by group and the ``top`` operations, from ``key_averages()`` rows."""
    rows = [(e.key, _self_time_us(e, on_cuda), int(e.count)) for e in events]
    rows = [r for r in rows if r[1] > 0 and not r[0].startswith("ProfilerStep")]
    by_group: dict[str, float] = {}
    for name, us, _ in rows:
        g = group_of(name)
        by_group[g] = by_group.get(g, 0.0) + us / 1000 / steps
    rows.sort(key=lambda r: -r[1])
    return {
        "ms_per_step": sum(by_group.values()),
        "groups_ms_per_step": dict(sorted(by_group.items(), key=lambda kv: -kv[1])),
        "top_ops": [{"op": name, "ms_per_step": us / 1000 / steps, "calls_per_step": count / steps}
                    for name, us, count in rows[:top]],
    }


def profile_training(train_call, device, steps_per_epoch: int) -> tuple[dict, float]:
    """Run ``train_call(hook)`` (which trains _WAIT + _WARMUP + _ACTIVE epochs with ``hook`` at each
    epoch start) under the profiler; (summary of the recorded epoch, its wall seconds per step)."""
    from torch.profiler import ProfilerActivity, profile, schedule

    on_cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
    marks = []

    with profile(activities=activities, schedule=schedule(wait=_WAIT, warmup=_WARMUP, active=_ACTIVE, repeat=1)) as prof:
        def hook(state):
            if on_cuda:
                torch.cuda.synchronize(device)
            marks.append(time.perf_counter())
            prof.step()

        train_call(hook)
        if on_cuda:
            torch.cuda.synchronize(device)
    recorded = _WAIT + _WARMUP - 1  # index in marks of the recorded epoch's start
    wall = (marks[recorded + 1] - marks[recorded]) / steps_per_epoch
    return summarize(prof.key_averages(), steps_per_epoch, on_cuda), wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=int, default=8, help="models fused at once (default 8)")
    p.add_argument("--model", default="resnet32")
    p.add_argument("--batch-size", type=int, default=None, help="default 128 (32 with --quick)")
    p.add_argument("--steps", type=int, default=None, help="steps per epoch; one epoch is recorded (default 10, 2 with "
                   "--quick)")
    p.add_argument("--precision", choices=("auto", "fp32"), default="auto",
                   help="auto: bf16 autocast on CUDA (the engine's default); fp32: no autocast")
    p.add_argument("--quick", action="store_true", help="tiny CPU smoke run (batch 32, 2 steps)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/<device>-profile_fused_step.json)")
    args = p.parse_args(argv)

    from ltutorial.device import get_device
    from ltutorial.models import build_model
    from ltutorial.train import fit, fit_many
    from ltutorial.fast.engine import fit_fast

    device = get_device(args.device)
    batch_size = (32 if args.quick else 128) if args.batch_size is None else args.batch_size
    steps = (2 if args.quick else 10) if args.steps is None else args.steps  # an explicit --steps wins over --quick
    for flag, value in (("--batch-size", batch_size), ("--steps", steps)):
        if value < 1:  # 0 used to mean the default, silently
            raise SystemExit(f"{flag} must be a positive integer; got {value} instead.")
    data = make_data(steps * batch_size, 0, "random")
    epochs = _WAIT + _WARMUP + _ACTIVE  # the hook at epoch e's start ends profiler step e
    amp = None if args.precision == "auto" else False
    hw = hardware(device)
    print(f"hardware: {hw}; torch {torch.__version__}; model {args.model}, batch {batch_size}, "
          f"{args.models} fused, precision {args.precision}; {steps} steps recorded", flush=True)

    def build(seed):
        torch.manual_seed(seed)
        return build_model(args.model, 10)

    def fused(fuse):
        def call(hook):
            from ltutorial.fast.fused import FusedModels

            models = [build(i) for i in range(args.models)]
            hooks = [[hook]] + [[] for _ in models[1:]]
            # Before each epoch's hooks the engine copies the fused weights back into the models (a
            # hook may read them); that is per epoch, not per step, and would land in the recorded
            # epoch, so it is switched off here (the profiler hook reads no weights).
            unfuse = FusedModels.unfuse_into
            FusedModels.unfuse_into = lambda self, models: None
            try:
                fit_many(models, data, loss_fns=[torch.nn.CrossEntropyLoss() for _ in models], hooks=hooks,
                         epochs=epochs, batch_size=batch_size, device=device, progress=False, fuse=fuse, fast=False,
                         amp=amp)
            finally:
                FusedModels.unfuse_into = unfuse
        return call

    def single(hook):
        kw = dict(loss_fn=torch.nn.CrossEntropyLoss(), hooks=[hook], epochs=epochs, batch_size=batch_size,
                  device=device, progress=False, amp=amp)
        if device.type == "cuda":  # the fast path's step, not graphed
            fit_fast(build(0), data, capture=False, **kw)
        else:
            fit(build(0), data, drop_last=True, **kw)

    setups = [(f"fused ({args.models} models)", fused(True)), ("one model", single)]
    results = {}
    for name, call in setups:
        summary, wall = profile_training(call, device, steps)
        summary["wall_ms_per_step_eager"] = 1000 * wall
        results[name] = summary
    one = results["one model"]
    kind = "kernel" if device.type == "cuda" else "CPU self"
    ratios, group_ratios = {}, {}
    for name, f in results.items():
        if name == "one model":
            continue
        ratios[name] = f["ms_per_step"] / (args.models * one["ms_per_step"])
        group_ratios[name] = {g: f["groups_ms_per_step"][g] / (args.models * one["groups_ms_per_step"][g])
                              for g in f["groups_ms_per_step"] if one["groups_ms_per_step"].get(g)}
        print(f"\n{name}: {kind} time per step {f['ms_per_step']:.2f} ms; one model {one['ms_per_step']:.2f} "
              f"(x{args.models} = {args.models * one['ms_per_step']:.2f}); fused / (N x one) = {ratios[name]:.2f}")
        print(f"{'group':>16} {'fused':>9} {'one':>9} {'fused/(N one)':>14}")
        for g, ms in f["groups_ms_per_step"].items():
            print(f"{g:>16} {ms:9.3f} {one['groups_ms_per_step'].get(g, 0.0):9.3f} "
                  f"{group_ratios[name].get(g, float('nan')):14.2f}")
        print(f"top operations ({kind} ms per step, calls per step):")
        for row in f["top_ops"]:
            print(f"  {row['ms_per_step']:8.3f}  {row['calls_per_step']:6.1f}  {row['op'][:100]}")
    print("eager wall time per step (profiler on): " + ", ".join(
        f"{name} {r['wall_ms_per_step_eager']:.1f} ms" for name, r in results.items()))

    out = {
        "device": hw, "device_type": device.type, "torch": torch.__version__, "cuda": torch.version.cuda,
        "python": platform.python_version(), "model": args.model, "batch_size": batch_size, "models": args.models,
        "precision": args.precision, "steps_recorded": steps, "quick": args.quick, "time_kind": kind,
        "results": results, "fused_over_n_single": ratios, "group_fused_over_n_single": group_ratios,
        "notes": "eager steps of the engines' own step code (fit_many fuse=True fast=False; fit's fast path "
                 "without a graph on CUDA), one epoch recorded after two; per-step times are that epoch's "
                 "totals / steps. Kernel time is the floor of a graphed step's time.",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"{slug(hw)}-profile_fused_step.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
