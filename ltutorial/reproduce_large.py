"""``ltutorial reproduce imagenet-lt|places-lt|inat2018``: the supervised long-tailed methods on the large
benchmarks, images read from the official split files and decoded in DataLoader workers.

    ltutorial reproduce imagenet-lt --root /data --methods erm,la,ldam-drw --workers 16

The methods are ``reproduce.METHODS`` (losses, DRW / TLA hooks, post-hoc LA); the training recipe is
the benchmark's entry of ``LARGE_BENCHMARKS`` (``ltutorial.train.recipes.RECIPES``, each citing its
paper and config). One device, or several under ``torchrun --nproc_per_node=N -m ltutorial reproduce ...``
(``ltutorial.train.distributed``: DistributedDataParallel, each rank decoding its B/W rows of every global
batch of the same seeded permutation, test predictions gathered; only rank 0 prints and writes). The
table (top-1 = balanced accuracy on the balanced test sets; many / medium / few) is printed and written as
``<out>/<device>-reproduce-<benchmark>.json``. Without the data, one ``error:`` line names the files
and where they come from (exit 2). Tiny runs: ``--epochs 2 --image-size 32 --model small_cnn``.
Issue 15.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ltutorial._validation import check_choice, check_positive_int, check_writable_dir
from ltutorial.data.large_lt import LARGE_LT, load_large_lt_pair, make_loader
from ltutorial.data.prepare import stratified_subset
from ltutorial.reproduce import METHODS, device_slug
from ltutorial.train import distributed as ddp

__all__ = ["LARGE_BENCHMARKS", "run_large", "main", "train_epoch", "predict_loader"]

#: benchmark -> the recipe it trains with, per-method parameter overrides and the papers' numbers (top-1 %).
LARGE_BENCHMARKS = {
    "imagenet-lt": {
        "recipe": "decoupling-imagenet-lt", "params": {},
        "paper": {"erm": (44.4, "Kang et al. 2020 (Decoupling) README, ResNeXt-50 joint training, instance-balanced "
                                "sampling, 90 epochs (many 65.9 / medium 37.5 / few 7.7)")},
    },
    "places-lt": {"recipe": "scratch-places-lt", "params": {}, "paper": {}},
    "inat2018": {
        "recipe": "decoupling-inat2018",
        # LDAM's author (issue #2 of the LDAM-DRW repository): max_m 0.5 is too large for iNaturalist, 0.3 is enough.
        "params": {"ldam-drw": {"max_m": 0.3}},
        "paper": {},
    },
}

#: With a cosine schedule there is no lr milestone to defer re-weighting to: DRW / TLA-ADRW switch on
#: after this share of the epochs, LDAM's CIFAR ratio (epoch 160 of 200). Our choice, not a paper's.
DEFER_SHARE = 0.8


def train_epoch(model, loader, *, loss_fn, optimizer, device, amp: bool) -> float:
    """One pass over ``loader`` (SGD steps on (x, y) batches); returns the mean training loss."""
    model.train()
    total, batches = torch.zeros((), device=device), 0
    for x, y in loader:
        x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        share = ddp.loss_share(loss_fn, y)  # under torchrun: the global batch's mean loss (None in one process)
        loss = loss if share is None else loss * share
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach()
        batches += 1
    mean = float(ddp.all_reduce_sum(total)) / ddp.world_size() / max(1, batches)  # one host sync per epoch
    if not np.isfinite(mean):
        raise ValueError(f"the training loss must stay finite; got {mean} (lower the lr or check the data).")
    return mean


@torch.no_grad()
def predict_loader(model, loader, *, device, amp: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits float32 CPU, labels) of every batch of ``loader``, in order."""
    model.eval()
    logits, labels = [], []
    for x, y in loader:
        x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits.append(model(x).float().cpu())
        labels.append(y)
    return torch.cat(logits), torch.cat(labels)


def _methods(methods) -> tuple[list[str], list[str]]:
    """(names as given, de-duplicated; the models to train: post-hoc rows reuse their base's)."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    names = list(dict.fromkeys(check_choice(m, sorted(METHODS), name="methods") for m in methods))
    if not names:
        raise ValueError(f"methods must name at least one of {sorted(METHODS)}; got none instead.")
    trained = list(dict.fromkeys(METHODS[n].posthoc_of or n for n in names))
    return names, trained


def _recipe(benchmark, epochs, batch_size, model):
    from ltutorial.train.recipes import RECIPES

    recipe = RECIPES[LARGE_BENCHMARKS[benchmark]["recipe"]]
    if epochs is not None:
        recipe = recipe.with_epochs(check_positive_int(epochs, name="epochs"))
    if batch_size is not None:
        recipe = dataclasses.replace(recipe, batch_size=check_positive_int(batch_size, name="batch_size"))
    if model is not None:
        from ltutorial.models import MODELS

        recipe = dataclasses.replace(recipe, model=check_choice(model, sorted(MODELS), name="model"))
    return recipe


def _data(benchmark, root, image_size, max_train, max_test, seed):
    """(train, test, notes): the splits, subsampled with the same class shares when asked."""
    train, test = load_large_lt_pair(benchmark, root=root, image_size=image_size)
    notes = []
    if train.num_classes != LARGE_LT[benchmark]["num_classes"]:
        notes.append(f"{train.num_classes} classes in the training list instead of {benchmark}'s "
                     f"{LARGE_LT[benchmark]['num_classes']}: a made-up or partial split, not the benchmark.")
    if image_size != 224:
        notes.append(f"images at {image_size} x {image_size} (--image-size) instead of 224: not the papers' setting.")
    if max_train is not None and check_positive_int(max_train, name="max_train") < len(train):
        train = train.subset(stratified_subset(train.labels, max_train, seed=seed))
        notes.append(f"training set subsampled to {len(train)} images (--max-train), same class shares.")
    if max_test is not None and check_positive_int(max_test, name="max_test") < len(test):
        test = test.subset(stratified_subset(test.labels, max_test, seed=seed))
        notes.append(f"test set subsampled to {len(test)} images (--max-test).")
    return train, test, notes


def _train_one(name, recipe, train_loader, counts, *, benchmark, device, seed, amp, reweight_epoch):
    """Build and train method ``name``'s model; returns (model, per-epoch mean losses)."""
    import ltutorial as lt
    from ltutorial.losses import init_sigmoid_bias
    from ltutorial.train import TrainState

    method = METHODS[name]
    torch.manual_seed(seed)  # the same initial weights for every method with the same architecture
    model = lt.models.build_model(recipe.model, len(counts), **method.model_kwargs)
    if method.sigmoid_bias:
        init_sigmoid_bias(model, len(counts))
    model = model.to(device).to(memory_format=torch.channels_last)
    net = ddp.wrap_model(model, device) if ddp.is_distributed() else model  # DDP averages the gradients
    params = {**method.params, **LARGE_BENCHMARKS[benchmark]["params"].get(name, {})}
    loss_fn = method.make_loss(counts, params)
    loss_fn = loss_fn.to(device) if hasattr(loss_fn, "to") else loss_fn
    hooks = method.make_hooks(loss_fn, counts, params, reweight_epoch)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    schedule, losses = recipe.schedule(), []
    for epoch in range(recipe.epochs):
        lr = recipe.lr * schedule(epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        state = TrainState(epoch=epoch, epochs=recipe.epochs, model=model, loss_fn=loss_fn, optimizer=optimizer,
                           history=None, train=train_loader.dataset, device=device, lr=lr)
        for hook in hooks:
            hook(state)
        train_loader.batch_sampler.set_epoch(epoch)
        losses.append(train_epoch(net, train_loader, loss_fn=loss_fn, optimizer=optimizer, device=device, amp=amp))
        print(f"  {name}: epoch {epoch + 1}/{recipe.epochs}, lr {lr:.4g}, loss {losses[-1]:.4f}")
    return model, losses


def _row(name, logits, labels, counts, spec) -> dict:
    from ltutorial import metrics
    from ltutorial.posthoc import logit_adjust

    method = METHODS[name]
    if method.posthoc_of:
        logits = logit_adjust(logits, counts.double() / counts.sum(), tau=method.posthoc_tau)
    shots = metrics.shot_accuracy(labels, logits.argmax(1), counts)
    paper, source = spec["paper"].get(name, (None, ""))
    top1 = 100 * shots["all"]
    return {"method": name, "label": method.label, "top1": top1, "many": 100 * shots["many"],
            "medium": 100 * shots["medium"], "few": 100 * shots["few"], "paper": paper, "paper_source": source,
            "diff": None if paper is None else top1 - paper}


def _table(rows) -> str:
    fmt = lambda v: "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.2f}"  # noqa: E731
    head = f"{'method':<14}{'top1':>8}{'many':>8}{'medium':>8}{'few':>8}{'paper':>8}{'diff':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['method']:<14}{fmt(r['top1']):>8}{fmt(r['many']):>8}{fmt(r['medium']):>8}{fmt(r['few']):>8}"
                     f"{fmt(r['paper']):>8}{fmt(r['diff']):>8}")
    return "\n".join(lines)


def run_large(benchmark: str, methods=("erm",), *, epochs: int | None = None, device="auto", seed: int = 0,
              out="benchmarks/results", root=None, model: str | None = None, batch_size: int | None = None,
              image_size: int = 224, workers: int = 8, max_images: tuple | None = None) -> dict:
    """Train ``methods`` on ``benchmark`` (``LARGE_BENCHMARKS``) with its recipe and return the result table.

    Options are checked, then the split files are read (a missing one raises ``MissingDataError``, a
    ValueError), before any model is built. ``out=None`` writes nothing. ``image_size``, ``model`` and
    ``max_images`` = (max train, max test) images (None = all) shrink a run for checks; the notes in the
    result say when the setting is not the papers'.
    """
    import ltutorial as lt

    benchmark = check_choice(benchmark, sorted(LARGE_BENCHMARKS), name="benchmark")
    names, trained = _methods(methods)
    recipe = _recipe(benchmark, epochs, batch_size, model)
    image_size = check_positive_int(image_size, name="image_size")
    workers = check_positive_int(workers, name="workers", minimum=0)
    if out is not None:
        check_writable_dir(out, name="out")
    max_train, max_test = (None, None) if max_images is None else max_images
    train, test, notes = _data(benchmark, root, image_size, max_train, max_test, seed)
    dev = ddp.resolve_device(device)  # under torchrun: this rank's device, after joining the process group
    lt.seed_everything(seed)
    amp = dev.type == "cuda"  # bf16 autocast on CUDA (weights and optimiser in fp32), fp32 elsewhere
    counts = train.class_counts
    reweight_epoch = recipe.reweight_epoch if recipe.milestones else int(DEFER_SHARE * recipe.epochs)
    if not recipe.milestones:
        notes.append(f"cosine schedule: DRW / TLA-ADRW switch on at epoch {reweight_epoch} ({DEFER_SHARE:.0%} of "
                     "the epochs, LDAM's CIFAR ratio; our choice).")
    pin = dev.type == "cuda"
    # Every rank draws the same permutation and decodes its B/W rows of each global batch of B.
    sampler = ddp.ShardedBatchSampler(len(train), recipe.batch_size, seed=seed, drop_last=len(train) > recipe.batch_size)
    train_loader = torch.utils.data.DataLoader(train, batch_sampler=sampler, num_workers=workers, pin_memory=pin,
                                               persistent_workers=workers > 0,
                                               generator=torch.Generator().manual_seed(seed + ddp.rank()))
    lo, hi = ddp.shard_bounds(len(test))  # each rank predicts its slice of the test set
    test_loader = make_loader(test.subset(range(lo, hi)), batch_size=recipe.batch_size, shuffle=False, seed=seed,
                              num_workers=workers, pin_memory=pin)
    print(f"reproduce {benchmark}: {trained} with {recipe.model}, {recipe.epochs} epochs, batch {recipe.batch_size}, "
          f"{len(train)} train / {len(test)} test images, device {dev}, {workers} decoding workers")
    t0 = time.perf_counter()
    outputs, losses = {}, {}
    for n in trained:
        net, losses[n] = _train_one(n, recipe, train_loader, counts, benchmark=benchmark, device=dev, seed=seed,
                                    amp=amp, reweight_epoch=reweight_epoch)
        outputs[n] = [ddp.gather_rows(t.to(dev)).cpu() for t in predict_loader(net, test_loader, device=dev, amp=amp)]
    rows = [_row(n, *outputs[METHODS[n].posthoc_of or n], counts, LARGE_BENCHMARKS[benchmark]) for n in names]
    result = {"benchmark": benchmark, "methods": names, "device": str(dev), "device_slug": device_slug(dev),
              "recipe": LARGE_BENCHMARKS[benchmark]["recipe"], "model": recipe.model, "epochs": recipe.epochs,
              "batch_size": recipe.batch_size, "lr": recipe.lr, "weight_decay": recipe.weight_decay,
              "image_size": image_size, "seed": seed, "n_train": len(train), "n_test": len(test),
              "train_counts": counts.tolist(), "train_losses": losses, "seconds": time.perf_counter() - t0,
              "torch_version": torch.__version__, "ltutorial_version": lt.__version__,
              **ddp.describe_processes(dev, recipe.batch_size, notes),
              "metric": "top-1 (%) on the balanced test split = balanced accuracy; many/medium/few: >100, "
                        "20-100, <20 train images", "rows": rows, "notes": notes}
    print(_table(rows))
    for note in notes:
        print("note:", note)
    if out is not None and ddp.is_main_process():
        path = Path(out) / f"{result['device_slug']}-reproduce-{benchmark}.json"
        path.write_text(json.dumps(result, indent=2, default=float) + "\n")
        result["files"] = [str(path)]
        print("wrote", path)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltutorial reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("benchmark", choices=sorted(LARGE_BENCHMARKS), help="which large benchmark")
    p.add_argument("--methods", default="erm", help=f"comma-separated, from {sorted(METHODS)}")
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's (schedule rescaled otherwise)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--root", "--data", dest="root", default=None,
                   help="folder holding <benchmark>/ with the split files (default: LTUTORIAL_DATA, then ./data)")
    p.add_argument("--model", default=None, help="model name from ltutorial.models.MODELS (default: the recipe's)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--image-size", type=int, default=224, help="crop size (224; smaller only for quick checks)")
    p.add_argument("--workers", type=int, default=8, help="DataLoader processes decoding the images")
    p.add_argument("--max-train", type=int, default=None, help="subsample the training set (quick checks)")
    p.add_argument("--max-test", type=int, default=None, help="subsample the test set (quick checks)")
    p.add_argument("--no-write", action="store_true", help="print only")
    return p


def main(argv=None) -> int:
    """Command-line entry point: 0 when the table was made, 2 on bad input or missing data (one ``error:`` line).
    Under torchrun only rank 0 prints (every rank's errors reach stderr)."""
    args = _parser().parse_args(argv)
    try:
        with ddp.quiet_unless_main():
            run_large(args.benchmark, args.methods, epochs=args.epochs, device=args.device, seed=args.seed,
                      root=args.root, model=args.model, batch_size=args.batch_size, image_size=args.image_size,
                      workers=args.workers, max_images=(args.max_train, args.max_test),
                      out=None if args.no_write else args.out)
    except ValueError as exc:  # option checks and MissingDataError (a ValueError too) name what is wrong
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        ddp.close_distributed()
    return 0
