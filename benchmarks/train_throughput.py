"""Training throughput: the reference-style loop against ltutorial's fast path, one model and N fused.

Same model (ResNet-32), same data (CIFAR-10-LT's shape: 12,406 training images of 3 x 32 x 32,
random uint8 unless real data is found), batch 128, same number of optimizer steps for every setup:

- reference: what the long-tailed repositories run (LDAM-DRW's cifar_train.py): torchvision PIL
  transforms RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize (the same
  written with PIL and numpy where torchvision is missing) in a DataLoader with min(8, cores)
  forked worker processes and pinned memory, fp32 eager, torch SGD, cudnn.benchmark;
- fast-eager (CUDA only): our engine without graph capture (uint8 data on the device, tensor
  crop/flip, bf16, channels_last);
- fast: ``ltutorial.train.fit`` on its default path (the step captured as one CUDA graph);
- fused: N ResNet-32s trained at once by ``fit_many`` (grouped network, graphed; the engine tier's
  ``ltutorial.fast.fused``);
- fused, fp32 (CUDA only): the fused setup without bf16 autocast (fp32 weights, TF32 convolutions):
  cuDNN's grouped kernels differ by dtype, so which is faster is measured, not assumed.

The JSON's ``recommended`` names the faster of the two several-models setups as the precision
``benchmarks/gpu_check.sh`` passes to the reproduction (``reproduce --precision``).

Train steps only (no evaluation), timed after one warm-up epoch (which includes graph capture).
Prints seconds per CIFAR-10-LT epoch, images/s and the ratios; writes
``benchmarks/results/<device-slug>-train_throughput.json`` (or ``--out``) after every setup, so a
run cut short keeps what it measured; a setup that fails is recorded under ``errors`` and the
others still run (exit status 1 then).

    python3 benchmarks/train_throughput.py            # GPU: about 1-2 minutes
    python3 benchmarks/train_throughput.py --quick    # CPU smoke run: seconds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.utils.data

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ltutorial.train import fit, fit_many  # noqa: E402

CIFAR10_LT_TRAIN = 12406
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


class _Data:
    """The attributes fit reads (an ImageDataset stand-in that needs no other module)."""

    def __init__(self, images, labels, num_classes, augment=True, source="random uint8"):
        self.images, self.labels = images, labels
        self.mean, self.std, self.augment = CIFAR_MEAN, CIFAR_STD, augment
        self.classes = [str(c) for c in range(num_classes)]
        self.num_classes = num_classes
        self.source = source


def hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def make_data(n: int, seed: int, source: str):
    """CIFAR-10-LT-shaped training data: real (load_dataset) when asked/found, else random uint8."""
    if source in ("auto", "real"):
        try:
            from ltutorial.data import load_dataset

            train, _ = load_dataset("cifar10-lt")
            if n < len(train):
                train = train.subset(torch.arange(n))
            print(f"data: {train.source} ({len(train)} images)")
            return _Data(train.images, train.labels, train.num_classes, source=train.source)
        except Exception as err:  # noqa: BLE001 - the benchmark runs on random data then, and says so
            if source == "real":
                raise
            print(f"data: random uint8 of CIFAR-10-LT's shape (real data not loaded: {type(err).__name__}: {err})")
    else:
        print("data: random uint8 of CIFAR-10-LT's shape")
    g = torch.Generator().manual_seed(seed)
    counts = [int(5000 * 0.01 ** (i / 9)) for i in range(10)]
    labels = torch.cat([torch.full((k,), c, dtype=torch.int64) for c, k in enumerate(counts)])
    labels = labels[torch.randperm(labels.numel(), generator=g)][:n]
    if labels.numel() < n:
        labels = labels.repeat(math.ceil(n / labels.numel()))[:n]
    images = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return _Data(images, labels, 10)


def build(model_name: str, seed: int):
    from ltutorial.models import build_model

    torch.manual_seed(seed)
    return build_model(model_name, 10)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _ManualCropFlip:
    """RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize on one PIL image, written
    out with PIL and numpy for machines without torchvision (the same per-image CPU work)."""

    def __init__(self, padding=4, mean=CIFAR_MEAN, std=CIFAR_STD):
        self.padding = padding
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)

    def __call__(self, img):
        import numpy as np
        from PIL import Image

        w, h = img.size
        p = self.padding
        canvas = Image.new(img.mode, (w + 2 * p, h + 2 * p))
        canvas.paste(img, (p, p))
        i, j = (int(v) for v in torch.randint(0, 2 * p + 1, (2,)))
        img = canvas.crop((j, i, j + w, i + h))
        if torch.rand(1).item() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.array(img, copy=True)).permute(2, 0, 1).float().div(255)
        return (x - self.mean) / self.std


def reference_transform():
    """(transform, name): torchvision's PIL pipeline of the LDAM-DRW code, or the same by hand."""
    try:
        from torchvision import transforms
    except ImportError:
        return _ManualCropFlip(), "PIL + numpy by hand (torchvision not installed)"
    return transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                               transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)]), "torchvision"


class _PILSet(torch.utils.data.Dataset):
    """uint8 HWC arrays decoded to PIL images one by one, as torchvision's CIFAR10 dataset does
    (module level, so worker processes can unpickle it under any start method)."""

    def __init__(self, images_hwc, labels, transform):
        self.images_hwc, self.labels, self.transform = images_hwc, labels, transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images_hwc[i])), int(self.labels[i])


def time_reference(model_name, data, device, batch_size, steps, workers, seed):
    """The DataLoader + PIL loop, fp32 eager; seconds per step over ``steps`` steps after warm-up."""
    import multiprocessing

    from torch.utils.data import DataLoader

    tf, tf_name = reference_transform()
    dataset = _PILSet(data.images.permute(0, 2, 3, 1).contiguous().numpy(), data.labels.numpy(), tf)
    # fork: no pickling of the dataset (Python 3.14 defaults to forkserver on Linux); the workers
    # only run PIL and numpy, so forking after CUDA initialisation is safe.
    context = "fork" if workers > 0 and "fork" in multiprocessing.get_all_start_methods() else None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0, drop_last=True,
                        generator=torch.Generator().manual_seed(seed), multiprocessing_context=context)
    model = build(model_name, seed).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=2e-4)
    crit = torch.nn.CrossEntropyLoss()
    torch.backends.cudnn.benchmark = True
    model.train()

    def batches():
        while True:
            yield from loader

    it = batches()
    warmup = min(steps, 10)
    try:
        for i in range(warmup + steps):
            if i == warmup:
                sync(device)
                t0 = time.perf_counter()
            x, y = next(it)
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = crit(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        seconds = (time.perf_counter() - t0) / steps
    finally:
        # Stop the workers and the pin-memory thread now: a thread that pins memory (and queries
        # CUDA events) while a later setup captures a CUDA graph would invalidate that capture.
        it.close()
        worker_iter = getattr(loader, "_iterator", None)
        if worker_iter is not None and hasattr(worker_iter, "_shutdown_workers"):
            worker_iter._shutdown_workers()
        del it, loader
    return seconds, tf_name


def time_fast(model_name, data, device, batch_size, epochs, seed, capture=True):
    """fit on the fast path (graphed on CUDA); median seconds per epoch after the first."""
    from ltutorial.fast.engine import fit_fast

    model = build(model_name, seed)
    if device.type == "cuda":
        h = fit_fast(model, data, loss_fn=torch.nn.CrossEntropyLoss(), epochs=epochs + 1, batch_size=batch_size,
                     device=device, seed=seed, progress=False, capture=capture)
    else:
        h = fit(model, data, loss_fn=torch.nn.CrossEntropyLoss(), epochs=epochs + 1, batch_size=batch_size,
                device=device, seed=seed, progress=False, drop_last=True)
    return statistics.median(h.epoch_seconds[1:]), h.engine


def time_fused(model_name, data, device, batch_size, epochs, seed, n_models, amp=None):
    models = [build(model_name, seed + i) for i in range(n_models)]
    hs = fit_many(models, data, loss_fns=[torch.nn.CrossEntropyLoss() for _ in models], epochs=epochs + 1,
                  batch_size=batch_size, device=device, seed=seed, progress=False, fuse=True, amp=amp)
    return statistics.median(hs[0].epoch_seconds[1:]), hs[0].engine


#: The several-models setups and the ``reproduce --precision`` that selects each: JSON speed-up key -> precision.
SEVERAL_MODELS_SETUPS = {
    "fused_speedup_vs_reference": "auto",
    "fused_fp32_speedup_vs_reference": "fp32",
}


def targets_met(single, speedups: dict, device_type: str, n_models: int) -> dict:
    """Whether the issue's targets hold: >= 5x for one model and >= 15x per model with 8 trained at
    once (the fastest several-models setup); None where unmeasured or off a CUDA run with 8 models."""
    if device_type != "cuda":
        return {"speedup_vs_reference": None, "several_models_speedup_vs_reference": None}
    best = max((v for v in speedups.values() if v is not None), default=None)
    return {"speedup_vs_reference": None if single is None else single >= 5.0,
            "several_models_speedup_vs_reference": None if best is None or n_models != 8 else best >= 15.0}


def recommend(speedups: dict, device_type: str) -> dict:
    """The fastest measured several-models setup as the settings that select it.

    ``speedups``: the JSON's ``*_speedup_vs_reference`` values (None where a setup did not run).
    Off CUDA, or with nothing measured, the default (bf16 on CUDA): the CPU numbers say nothing
    about a GPU. fp32 must beat the plain fused setup by 5 % to be picked, so timing noise does not
    flip the setting between runs.
    """
    default = {"setup": "fused_speedup_vs_reference", "precision": "auto",
               "speedup_vs_reference": speedups.get("fused_speedup_vs_reference")}
    if device_type != "cuda":
        return default
    base = speedups.get("fused_speedup_vs_reference")
    best_key, best = None, None
    for key in SEVERAL_MODELS_SETUPS:
        value = speedups.get(key)
        if value is None:
            continue
        needed = 1.05 * base if base is not None and key != "fused_speedup_vs_reference" else 0.0
        if value > needed and (best is None or value > best):
            best_key, best = key, value
    if best_key is None:
        return default
    return {"setup": best_key, "precision": SEVERAL_MODELS_SETUPS[best_key], "speedup_vs_reference": best}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps timed per setup (default: 3 CIFAR-10-LT epochs on CUDA, 4 steps with --quick)")
    p.add_argument("--quick", action="store_true", help="tiny CPU-friendly run (small set, batch 32)")
    p.add_argument("--models", type=int, default=8, help="models fused at once (default 8)")
    p.add_argument("--model", default="resnet32")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--workers", type=int, default=None,
                   help="DataLoader workers of the reference loop (default min(8, CPU cores); 0 with --quick)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", choices=("auto", "random", "real"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/<device>-train_throughput.json)")
    args = p.parse_args(argv)

    from ltutorial.device import get_device

    device = get_device(args.device)
    batch_size = (32 if args.quick else 128) if args.batch_size is None else args.batch_size
    for flag, value in (("--batch-size", batch_size), ("--steps", args.steps)):
        if value is not None and value < 1:  # 0 used to mean the default, silently
            raise SystemExit(f"{flag} must be a positive integer; got {value} instead.")
    if args.quick:
        steps_per_epoch = args.steps or 4
        n_train = steps_per_epoch * batch_size
        epochs = 1
    else:
        n_train = CIFAR10_LT_TRAIN
        steps_per_epoch = n_train // batch_size
        epochs = max(1, math.ceil((args.steps or 3 * steps_per_epoch) / steps_per_epoch))
    steps = epochs * steps_per_epoch
    workers = args.workers if args.workers is not None else (0 if args.quick else min(8, os.cpu_count() or 1))
    data = make_data(n_train, args.seed, "random" if args.quick and args.data == "auto" else args.data)
    hw = hardware(device)
    print(f"hardware: {hw}; torch {torch.__version__} (CUDA {torch.version.cuda}); model {args.model}, "
          f"batch {batch_size}, {steps} timed steps per setup ({steps_per_epoch} per epoch of {n_train} images)",
          flush=True)
    full_epoch_steps = math.ceil(CIFAR10_LT_TRAIN / batch_size)

    results, errors = {}, {}
    extra = {}

    def record(name, sec_per_step, per_models=1, engine=""):
        results[name] = {
            "engine": engine,
            "seconds_per_step": sec_per_step,
            "seconds_per_cifar10lt_epoch": sec_per_step * full_epoch_steps / per_models,
            "images_per_second": batch_size * per_models / sec_per_step,
            "models": per_models,
        }
        r = results[name]
        print(f"{name:>38}: {1000 * sec_per_step:8.2f} ms/step  {r['seconds_per_cifar10lt_epoch']:7.3f} s/epoch"
              f"{' per model' if per_models > 1 else ''}  {r['images_per_second']:10.0f} "
              f"{'model-' if per_models > 1 else ''}images/s", flush=True)

    def attempt(name, fn):
        """Run one setup; a failure is printed and recorded, and the other setups still run."""
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - one broken setup must not cost the others' numbers
            import traceback

            traceback.print_exc()
            errors[name] = f"{type(err).__name__}: {err}"[:2000]
            print(f"{name}: FAILED ({errors[name][:300]})", flush=True)
        finally:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
                torch.cuda.empty_cache()
            print(f"  [{name}: {time.perf_counter() - t0:.1f} s wall]", flush=True)

    ref_key = f"reference ({workers} workers)"

    def run_reference():
        sec, tf_name = time_reference(args.model, data, device, batch_size, steps, workers, args.seed)
        extra["reference_transforms"] = tf_name
        record(ref_key, sec, engine="dataloader-pil-fp32")

    def run_fast(name, capture):
        def go():
            sec, eng = time_fast(args.model, data, device, batch_size, epochs, args.seed, capture=capture)
            record(name, sec / steps_per_epoch, engine=eng)
        return go

    def run_fused(name, amp=None):
        def go():
            sec, eng = time_fused(args.model, data, device, batch_size, epochs, args.seed, args.models, amp=amp)
            record(name, sec / steps_per_epoch, per_models=args.models, engine=eng + ("-fp32" if amp is False else ""))
        return go

    fused_key = f"fused ({args.models} models)"

    def ratio(key):
        if ref_key in results and key in results:
            return results[ref_key]["seconds_per_cifar10lt_epoch"] / results[key]["seconds_per_cifar10lt_epoch"]
        return None

    path = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"{slug(hw)}-train_throughput.json"

    def write(complete):
        """The JSON so far: written after every setup, so a run cut short keeps what it measured."""
        speedups = {
            "fused_speedup_vs_reference": ratio(fused_key),
            "fused_fp32_speedup_vs_reference": ratio("fused, fp32"),
        }
        out = {
            "device": hw,
            "device_type": device.type,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "python": platform.python_version(),
            "model": args.model,
            "batch_size": batch_size,
            "timed_steps": steps,
            "train_images": n_train,
            "data": getattr(data, "source", "random uint8"),
            "quick": args.quick,
            "complete": complete,
            "reference_workers": workers,
            "reference_transforms": extra.get("reference_transforms"),
            "results": results,
            "errors": errors,
            "speedup_vs_reference": ratio("fast (1 model)"),
            "fused_models": args.models,
            **speedups,
            "recommended": recommend(speedups, device.type),
            # 15x per model for 8 trained at once, by whichever several-models setup is fastest
            "targets": {"speedup_vs_reference": 5.0, "several_models_speedup_vs_reference": 15.0},
            # the targets, for the one model and for the fastest way to train N at once
            "targets_met": targets_met(ratio("fast (1 model)"), speedups, device.type, args.models),
            "notes": "train steps only (no evaluation); seconds per CIFAR-10-LT epoch = seconds per step x "
                     f"{full_epoch_steps} steps (per model for the fused setups); first epoch (graph "
                     "capture) not timed; fast/fused timings are whole epochs (per-epoch permutation and "
                     "crop/flip included).",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
        return out

    # The most telling setups first: a run cut short by its time limit keeps those.
    setups = [(ref_key, run_reference), ("fast (1 model)", run_fast("fast (1 model)", None)),
              (fused_key, run_fused(fused_key))]
    if device.type == "cuda":
        setups += [("fused, fp32", run_fused("fused, fp32", amp=False)),
                   ("fast, no graph", run_fast("fast, no graph", False))]
    for name, fn in setups:
        attempt(name, fn)
        write(complete=False)
    out = write(complete=True)
    fmt = lambda v: "n/a" if v is None else f"{v:.1f}x"  # noqa: E731
    print(f"speedup vs reference: {fmt(out['speedup_vs_reference'])} (one model), "
          f"{fmt(out['fused_speedup_vs_reference'])} per model with {args.models} fused, "
          f"{fmt(out['fused_fp32_speedup_vs_reference'])} fused in fp32 "
          "(targets on an H100/H200: >= 5x and >= 15x)")
    rec = out["recommended"]
    print(f"fastest several-models setup: {rec['setup']} (precision {rec['precision']})")
    print(f"targets met: {out['targets_met']}")
    print(f"wrote {path}")
    if errors:
        print(f"FAILED setups: {sorted(errors)}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
