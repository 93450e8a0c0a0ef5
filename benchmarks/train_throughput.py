"""Training throughput: the reference-style loop against ltutorial's fast path, one model and N fused.

Same model (ResNet-32), same data (CIFAR-10-LT's shape: 12,406 training images of 3 x 32 x 32,
random uint8 unless real data is found), batch 128, same number of optimizer steps for every setup:

- reference: what the long-tailed repositories run (LDAM-DRW's cifar_train.py): torchvision PIL
  transforms RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize in a
  DataLoader with worker processes, fp32 eager, torch SGD, cudnn.benchmark;
- fast-eager (CUDA only): our engine without graph capture (uint8 data on the device, tensor
  crop/flip, bf16, channels_last);
- fast: ``ltutorial.train.fit`` on its default path (the step captured as one CUDA graph);
- fused: N ResNet-32s trained at once by ``fit_many`` (grouped network, graphed).

Train steps only (no evaluation), timed after one warm-up epoch (which includes graph capture).
Prints seconds per CIFAR-10-LT epoch, images/s and the ratios; writes
``benchmarks/results/<device-slug>-train_throughput.json``.

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


def time_reference(model_name, data, device, batch_size, steps, workers, seed):
    """The DataLoader + PIL loop, fp32 eager; seconds per step over ``steps`` steps after warm-up."""
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    images_hwc = data.images.permute(0, 2, 3, 1).contiguous().numpy()
    labels = data.labels.numpy()
    tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])

    class PILSet(Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return tf(Image.fromarray(images_hwc[i])), int(labels[i])

    loader = DataLoader(PILSet(), batch_size=batch_size, shuffle=True, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
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
    return (time.perf_counter() - t0) / steps


def time_fast(model_name, data, device, batch_size, epochs, seed, capture=True):
    """fit on the fast path (graphed on CUDA); median seconds per epoch after the first."""
    from ltutorial.train.fast import fit_fast

    model = build(model_name, seed)
    if device.type == "cuda":
        h = fit_fast(model, data, loss_fn=torch.nn.CrossEntropyLoss(), epochs=epochs + 1, batch_size=batch_size,
                     device=device, seed=seed, progress=False, capture=capture)
    else:
        h = fit(model, data, loss_fn=torch.nn.CrossEntropyLoss(), epochs=epochs + 1, batch_size=batch_size,
                device=device, seed=seed, progress=False, drop_last=True)
    return statistics.median(h.epoch_seconds[1:]), h.engine


def time_fused(model_name, data, device, batch_size, epochs, seed, n_models):
    models = [build(model_name, seed + i) for i in range(n_models)]
    hs = fit_many(models, data, loss_fns=[torch.nn.CrossEntropyLoss() for _ in models], epochs=epochs + 1,
                  batch_size=batch_size, device=device, seed=seed, progress=False, fuse=True)
    return statistics.median(hs[0].epoch_seconds[1:]), hs[0].engine


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps timed per setup (default: 3 CIFAR-10-LT epochs on CUDA, 4 steps with --quick)")
    p.add_argument("--quick", action="store_true", help="tiny CPU-friendly run (small set, batch 32)")
    p.add_argument("--models", type=int, default=8, help="models fused at once (default 8)")
    p.add_argument("--model", default="resnet32")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers of the reference loop (default 4)")
    p.add_argument("--device", default="auto")
    p.add_argument("--data", choices=("auto", "random", "real"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/<device>-train_throughput.json)")
    args = p.parse_args(argv)

    from ltutorial.device import get_device

    device = get_device(args.device)
    batch_size = args.batch_size or (32 if args.quick else 128)
    if args.quick:
        steps_per_epoch = args.steps or 4
        n_train = steps_per_epoch * batch_size
        epochs = 1
    else:
        n_train = CIFAR10_LT_TRAIN
        steps_per_epoch = n_train // batch_size
        epochs = max(1, math.ceil((args.steps or 3 * steps_per_epoch) / steps_per_epoch))
    steps = epochs * steps_per_epoch
    workers = args.workers if args.workers is not None else (0 if args.quick else 4)
    data = make_data(n_train, args.seed, "random" if args.quick and args.data == "auto" else args.data)
    hw = hardware(device)
    print(f"hardware: {hw}; torch {torch.__version__} (CUDA {torch.version.cuda}); model {args.model}, "
          f"batch {batch_size}, {steps} timed steps per setup ({steps_per_epoch} per epoch of {n_train} images)")
    full_epoch_steps = math.ceil(CIFAR10_LT_TRAIN / batch_size)

    results = {}

    def record(name, sec_per_step, per_models=1, engine=""):
        results[name] = {
            "engine": engine,
            "seconds_per_step": sec_per_step,
            "seconds_per_cifar10lt_epoch": sec_per_step * full_epoch_steps / per_models,
            "images_per_second": batch_size * per_models / sec_per_step,
            "models": per_models,
        }
        r = results[name]
        print(f"{name:>22}: {1000 * sec_per_step:8.2f} ms/step  {r['seconds_per_cifar10lt_epoch']:7.3f} s/epoch"
              f"{' per model' if per_models > 1 else ''}  {r['images_per_second']:10.0f} "
              f"{'model-' if per_models > 1 else ''}images/s")

    t_ref = time_reference(args.model, data, device, batch_size, steps, workers, args.seed)
    record(f"reference ({workers} workers)", t_ref, engine="dataloader-pil-fp32")
    ref_key = f"reference ({workers} workers)"
    if device.type == "cuda":
        sec, eng = time_fast(args.model, data, device, batch_size, epochs, args.seed, capture=False)
        record("fast, no graph", sec / steps_per_epoch, engine=eng)
    sec, eng = time_fast(args.model, data, device, batch_size, epochs, args.seed)
    record("fast (1 model)", sec / steps_per_epoch, engine=eng)
    sec, eng = time_fused(args.model, data, device, batch_size, epochs, args.seed, args.models)
    record(f"fused ({args.models} models)", sec / steps_per_epoch, per_models=args.models, engine=eng)
    if device.type == "cuda":
        import ltutorial.train.fused as fused_mod

        fused_mod.FUSED_CONV_CHANNELS_LAST = True
        try:
            sec, eng = time_fused(args.model, data, device, batch_size, epochs, args.seed, args.models)
            record("fused, NHWC convs", sec / steps_per_epoch, per_models=args.models, engine=eng + "-nhwc")
        except Exception as err:  # noqa: BLE001 - an optional variant; report and go on
            print(f"fused, NHWC convs: failed ({type(err).__name__}: {err})")
        finally:
            fused_mod.FUSED_CONV_CHANNELS_LAST = False

    ref_epoch = results[ref_key]["seconds_per_cifar10lt_epoch"]
    speedup = ref_epoch / results["fast (1 model)"]["seconds_per_cifar10lt_epoch"]
    fused_speedup = ref_epoch / results[f"fused ({args.models} models)"]["seconds_per_cifar10lt_epoch"]
    nhwc = results.get("fused, NHWC convs")
    nhwc_speedup = ref_epoch / nhwc["seconds_per_cifar10lt_epoch"] if nhwc else None
    print(f"speedup vs reference: {speedup:.1f}x (one model), {fused_speedup:.1f}x per model with {args.models} fused"
          f" (targets on an H100/H200: >= 5x and >= 15x)")
    out = {
        "device": hw,
        "device_type": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "model": args.model,
        "batch_size": batch_size,
        "timed_steps": steps,
        "train_images": n_train,
        "data": getattr(data, "source", "random uint8"),
        "quick": args.quick,
        "reference_workers": workers,
        "results": results,
        "speedup_vs_reference": speedup,
        "fused_models": args.models,
        "fused_speedup_vs_reference": fused_speedup,
        "fused_nhwc_speedup_vs_reference": nhwc_speedup,
        "targets": {"speedup_vs_reference": 5.0, "fused_speedup_vs_reference": 15.0},
        "notes": "train steps only (no evaluation); seconds per CIFAR-10-LT epoch = seconds per step x "
                 f"{full_epoch_steps} steps (per model for the fused setup); first epoch (graph capture) not timed.",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    path = Path(args.out) if args.out else REPO / "benchmarks" / "results" / f"{slug(hw)}-train_throughput.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
