"""Contrastive pre-training throughput: device-side augmentation vs a torchvision DataLoader pipeline.

Same encoder (CIFAR ResNet-18), same SimCLR step (bf16 autocast + channels_last on CUDA, fp32 on
the CPU), same run, three ways of producing the two views of each batch:

1. ``bare``: the step on views built once before timing (no augmentation): the ceiling;
2. ``device``: ``ltutorial.ssl.ContrastiveAugment`` on the uint8 batch on the device, every step;
3. ``dataloader``: torchvision transforms on PIL images in DataLoader workers (RandomResizedCrop
   32 scale (0.1, 1) bicubic, flip, ColorJitter(0.4, 0.4, 0.4, 0.1) p=0.8, grayscale p=0.2,
   ToTensor, Normalize; two views per image), the reference repositories' pipeline.

Also times ``ltutorial.ssl.pretrain`` end to end for each method (SimCLR, SDCLR, BCL, SimCLR+GH)
on ``--pretrain-images`` images. Images are random uint8 of CIFAR shape (speed does not depend on
the pixel values). Prints images/s (source images, two views each), the ratio device/dataloader
and the hardware; writes ``benchmarks/results/<device>-ssl_throughput.json``.

    python benchmarks/ssl_throughput.py            # GPU: batch 512
    python benchmarks/ssl_throughput.py --quick    # CPU: small batch, few steps

Target (issue 5): on one H200 the bare bf16 SimCLR step at batch 512 ran at ~29,000 img/s;
the device path should keep at least half of that. Measured on one H200 (PyTorch 2.11, 16 cores;
results/nvidia-h200-ssl_throughput.json): bare 28,300 img/s, device-side augmentation + step
20,900 img/s (74% of bare), torchvision DataLoader with 16 workers 7,850 img/s (ratio 2.7x);
pretrain() end to end 19,000 (SimCLR), 11,800 (SDCLR), 15,300 (BCL), 9,000 (SimCLR + GH) img/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ltutorial as lt  # noqa: E402
from ltutorial import models, ssl  # noqa: E402
from ltutorial.data import ImageDataset  # noqa: E402

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _make_step(net, opt, dev, amp, channels_last, temperature=0.2):
    autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=amp)

    def step(x):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast:
            z1, z2 = net(x).chunk(2)
        loss = ssl.nt_xent(z1, z2, temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def _timeit(fn, steps, warmup, dev, batch):
    for _ in range(warmup):
        fn()
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(dev)
    dt = time.perf_counter() - t0
    return {"images_per_second": steps * batch / dt, "seconds": dt, "steps": steps, "batch_size": batch}


class _PILTwoViews(torch.utils.data.Dataset):
    def __init__(self, images_hwc: np.ndarray, transform):
        self.images = images_hwc
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i])
        return self.transform(img), self.transform(img)


def _torchvision_transform():
    from torchvision import transforms as T

    return T.Compose([
        T.RandomResizedCrop(32, scale=(0.1, 1.0), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.ToTensor(),
        T.Normalize(MEAN, STD),
    ])


def _device_slug(dev) -> str:
    if dev.type == "cuda":
        return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(dev).lower()).strip("-")
    return dev.type


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small CPU-sized run")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: all CPU cores)")
    p.add_argument("--pretrain-images", type=int, default=None, help="images for the pretrain() timings (0 skips them)")
    p.add_argument("--pretrain-epochs", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)

    dev = lt.get_device(args.device)
    quick = args.quick
    batch = (32 if quick else 512) if args.batch_size is None else args.batch_size
    steps = (2 if quick else 30) if args.steps is None else args.steps
    warmup = args.warmup if args.warmup is not None else (1 if quick else 5)
    workers = args.workers if args.workers is not None else (os.cpu_count() or 1)
    pre_n = args.pretrain_images if args.pretrain_images is not None else (32 if quick else 12_406)
    pre_epochs = (1 if quick else 3) if args.pretrain_epochs is None else args.pretrain_epochs
    for flag, value in (("--batch-size", batch), ("--steps", steps), ("--pretrain-epochs", pre_epochs)):
        if value < 1:  # 0 used to mean the default, silently
            raise SystemExit(f"{flag} must be a positive integer; got {value} instead.")
    amp = channels_last = dev.type == "cuda"
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    hardware = {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "precision": "bf16 autocast, channels_last" if amp else "fp32",
    }
    print(f"hardware: {hardware}")

    torch.manual_seed(0)
    n_images = max(batch * 4, 2048 if not quick else batch * 2)
    images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8)
    images_dev = images.to(dev)
    net = ssl.SimCLRNet(models.resnet18_cifar(10)).to(dev)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    step = _make_step(net, opt, dev, amp, channels_last)
    aug = ssl.ContrastiveAugment(mean=MEAN, std=STD)
    g = torch.Generator(device=dev).manual_seed(0)
    results = {}

    # 1. bare step on fixed views
    fixed = aug(torch.cat([images_dev[:batch]] * 2), g)
    results["bare"] = _timeit(lambda: step(fixed), steps, warmup, dev, batch)
    print(f"bare step (no augmentation): {results['bare']['images_per_second']:,.0f} img/s")

    # 2. device-side augmentation, a fresh random batch every step
    def device_step():
        idx = torch.randint(0, n_images, (batch,), device=dev, generator=g)
        b = images_dev[idx]
        step(aug(torch.cat([b, b]), g))

    results["device"] = _timeit(device_step, steps, warmup, dev, batch)
    print(f"device-side augmentation + step: {results['device']['images_per_second']:,.0f} img/s")

    # augmentation alone, for the record
    def aug_only():
        idx = torch.randint(0, n_images, (batch,), device=dev, generator=g)
        b = images_dev[idx]
        aug(torch.cat([b, b]), g)

    results["augment_only"] = _timeit(aug_only, steps, warmup, dev, batch)
    print(f"device-side augmentation alone: {results['augment_only']['images_per_second']:,.0f} img/s")

    # 3. torchvision DataLoader pipeline
    # Enough images that the timed steps fall inside one epoch: no worker restart or prefetch
    # stall at an epoch boundary is charged to the loader.
    n_loader = batch * (steps + max(warmup, 2) + 4)
    reps = -(-n_loader // n_images)
    hwc = images.repeat(reps, 1, 1, 1)[:n_loader].permute(0, 2, 3, 1).contiguous().numpy()
    loader = torch.utils.data.DataLoader(
        _PILTwoViews(hwc, _torchvision_transform()), batch_size=batch, shuffle=True, num_workers=workers,
        pin_memory=dev.type == "cuda", drop_last=True, persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )

    def batches():
        while True:
            for v1, v2 in loader:
                yield v1, v2

    it = batches()

    def loader_step():
        v1, v2 = next(it)
        x = torch.cat([v1, v2]).to(dev, non_blocking=True)
        step(x)

    results["dataloader"] = _timeit(loader_step, steps, max(warmup, 2), dev, batch)
    results["dataloader"]["workers"] = workers
    print(f"torchvision DataLoader ({workers} workers) + step: {results['dataloader']['images_per_second']:,.0f} img/s")
    del it, loader

    ratio = results["device"]["images_per_second"] / results["dataloader"]["images_per_second"]
    keep = results["device"]["images_per_second"] / results["bare"]["images_per_second"]
    print(f"ratio device / dataloader: {ratio:.2f}x; device path keeps {100 * keep:.0f}% of the bare step")

    # 4. the package's pretrain() end to end, per method
    pre = {}
    if pre_n > 0:
        data = ImageDataset(torch.randint(0, 256, (pre_n, 3, 32, 32), dtype=torch.uint8), torch.arange(pre_n) % 10,
                            [str(c) for c in range(10)], mean=MEAN, std=STD)
        methods = {
            "simclr": ssl.SimCLR,
            "sdclr": ssl.SDCLR,
            "bcl": ssl.BCL,
            "simclr+gh": lambda: ssl.GH(ssl.SimCLR(), ssl.GHConfig(start_epoch=0, ramp_epochs=1)),
        }
        for name, method in methods.items():
            ssl.pretrain(models.resnet18_cifar(10), data, method(), epochs=1, batch_size=batch, warmup_epochs=0,
                         device=dev, progress=False)  # warm-up run (cudnn autotuning)
            h = ssl.pretrain(models.resnet18_cifar(10), data, method(), epochs=pre_epochs, batch_size=batch,
                             warmup_epochs=0, device=dev, progress=False)
            ips = pre_epochs * pre_n / h.seconds
            pre[name] = {"images_per_second": ips, "seconds": h.seconds, "epochs": pre_epochs,
                         "images": pre_n, "seconds_per_epoch": h.seconds / pre_epochs}
            print(f"pretrain {name}: {ips:,.0f} img/s ({h.seconds / pre_epochs:.2f} s per {pre_n}-image epoch)")

    out = {
        "benchmark": "ssl_throughput",
        "hardware": hardware,
        "quick": quick,
        "results": results,
        "ratio_device_over_dataloader": ratio,
        "device_fraction_of_bare": keep,
        "pretrain": pre,
        "target": "device >= 0.5 x 29,000 img/s (bare bf16 SimCLR step, batch 512, H200)",
    }
    path = Path(args.out) if args.out else Path(__file__).resolve().parent / "results" / f"{_device_slug(dev)}-ssl_throughput.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
