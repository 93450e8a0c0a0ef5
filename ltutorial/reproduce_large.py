"""``ltutorial reproduce imagenet-lt|places-lt|inat2018``: ``reproduce.METHODS`` on the large benchmarks, images
decoded in DataLoader workers; under ``torchrun`` each rank decodes its B/W rows of every global batch.

    ltutorial reproduce imagenet-lt --root /data --methods erm,la,ldam-drw --workers 16
"""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

import torch

from ltutorial._validation import check_positive_int
from ltutorial._version import __version__
from ltutorial.data.large_lt import LARGE_LT, load_large_lt_pair, make_loader
from ltutorial.device import seed_everything
from ltutorial.losses import init_sigmoid_bias
from ltutorial.models import build_model
from ltutorial.reproduce import (METHODS, RunOptions, build_method, command, device_slug, method_shots, option, report,
                                 subsample, table_row)
from ltutorial.train import distributed as ddp
from ltutorial.train.common import TrainState, base_lrs, check_epoch_loss, set_lr
from ltutorial.train.recipes import RECIPES

__all__ = ["LARGE_BENCHMARKS", "LargeRunConfig", "prepare", "train_and_report", "main"]

#: benchmark -> the recipe it trains with, per-method parameter overrides and the papers' numbers (top-1 %).
LARGE_BENCHMARKS = {
    "imagenet-lt": {
        "recipe": "decoupling-imagenet-lt", "params": {}, "gap_notes": {},
        "paper": {"erm": (44.4, "Kang et al. 2020 (Decoupling) README, ResNeXt-50 joint training, instance-balanced "
                                "sampling, 90 epochs (many 65.9 / medium 37.5 / few 7.7)")},
    },
    "places-lt": {"recipe": "scratch-places-lt", "params": {}, "paper": {}, "gap_notes": {}},
    "inat2018": {
        "recipe": "decoupling-inat2018",
        # LDAM's author (issue #2 of the LDAM-DRW repository): max_m 0.5 is too large for iNaturalist, 0.3 is enough.
        "params": {"ldam-drw": {"max_m": 0.3}},
        "paper": {}, "gap_notes": {},
    },
}

#: With a cosine schedule there is no lr milestone to defer re-weighting to: DRW / TLA-ADRW switch on
#: after this share of the epochs, LDAM's CIFAR ratio (epoch 160 of 200). Our choice, not a paper's.
DEFER_SHARE = 0.8


@dataclasses.dataclass(frozen=True)
class LargeRunConfig(RunOptions):
    """``prepare``'s options: ``RunOptions`` and the image size and decoding workers."""

    benchmark: str = "imagenet-lt"
    methods: tuple | str = option(("erm",), f"comma-separated, from {sorted(METHODS)}")
    image_size: int = option(224, "crop size (224; smaller for quick checks)", type=int)
    workers: int = option(8, "DataLoader processes decoding the images", type=int)

    def check(self, benchmarks=LARGE_BENCHMARKS) -> list[str]:
        check_positive_int(self.image_size, name="image_size")
        check_positive_int(self.workers, name="workers", minimum=0)
        return super().check(benchmarks)


def prepare(config: LargeRunConfig) -> SimpleNamespace:
    """Check the options, read the splits (a missing file: ``MissingDataError``, a ValueError), build the loaders."""
    names = config.check()
    recipe = RECIPES[LARGE_BENCHMARKS[config.benchmark]["recipe"]]
    recipe = dataclasses.replace(recipe.with_epochs(config.epochs or recipe.epochs), model=config.model or recipe.model,
                                 batch_size=config.batch_size or recipe.batch_size)
    name, size, seed = config.benchmark, config.image_size, config.seed
    train, test = load_large_lt_pair(name, root=config.root, image_size=size)
    n_classes, notes = LARGE_LT[name]["num_classes"], []
    if train.num_classes != n_classes:
        notes.append(f"{train.num_classes} classes in the training list instead of {name}'s {n_classes}: a made-up "
                     "or partial split, not the benchmark.")
    if size != 224:
        notes.append(f"images at {size} x {size} (--image-size) instead of 224: not the papers' setting.")
    train, test, more = subsample(train, test, config)
    notes += more
    reweight_epoch = recipe.reweight_epoch if recipe.milestones else int(DEFER_SHARE * recipe.epochs)
    if not recipe.milestones:
        notes.append(f"cosine schedule: DRW / TLA-ADRW switch on at epoch {reweight_epoch} ({DEFER_SHARE:.0%} of "
                     "the epochs, LDAM's CIFAR ratio; our choice).")
    dev = ddp.resolve_device(config.device)  # under torchrun: this rank's device, after joining the process group
    seed_everything(seed)
    pin, workers, batch = dev.type == "cuda", config.workers, recipe.batch_size
    # Every rank draws the same permutation and decodes its B/W rows of each global batch of B.
    sampler = ddp.ShardedBatchSampler(len(train), batch, seed=seed, drop_last=len(train) > batch)
    train_loader = torch.utils.data.DataLoader(train, batch_sampler=sampler, num_workers=workers, pin_memory=pin,
                                               persistent_workers=workers > 0,
                                               generator=torch.Generator().manual_seed(seed + ddp.rank()))
    lo, hi = ddp.shard_bounds(len(test))  # each rank predicts its slice of the test set
    test_loader = make_loader(test.subset(range(lo, hi)), batch_size=recipe.batch_size, shuffle=False, seed=seed,
                              num_workers=workers, pin_memory=pin)
    trained = list(dict.fromkeys(METHODS[n].posthoc_of or n for n in names))  # post-hoc rows reuse a model
    return SimpleNamespace(config=config, names=names, trained=trained, recipe=recipe, train=train, test=test,
                           notes=notes, device=dev, reweight_epoch=reweight_epoch, train_loader=train_loader,
                           test_loader=test_loader)


def _train_one(run: SimpleNamespace, name: str) -> tuple:
    """Build and train method ``name``'s model (SGD steps over the train loader); (model, per-epoch mean losses)."""
    recipe, dev, counts, amp = run.recipe, run.device, run.train.class_counts, run.device.type == "cuda"
    loss_fn, hooks = build_method(name, counts, reweight_epoch=run.reweight_epoch,
                                  params={name: LARGE_BENCHMARKS[run.config.benchmark]["params"].get(name, {})})
    torch.manual_seed(run.config.seed)  # the same initial weights for every method with the same architecture
    model = build_model(recipe.model, len(counts), **METHODS[name].model_kwargs)
    if METHODS[name].sigmoid_bias:
        init_sigmoid_bias(model, len(counts))
    model = model.to(dev).to(memory_format=torch.channels_last)
    net = ddp.wrap_model(model, dev) if ddp.is_distributed() else model  # DDP averages the gradients
    loss_fn = loss_fn.to(dev) if hasattr(loss_fn, "to") else loss_fn
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    state = TrainState(0, recipe.epochs, model, loss_fn, optimizer, None, run.train, dev)
    bases, schedule, losses = base_lrs(optimizer), recipe.schedule(), []
    for epoch in range(recipe.epochs):
        state.epoch, state.lr = epoch, set_lr(optimizer, bases, schedule, epoch)
        for hook in hooks:
            hook(state)
        run.train_loader.batch_sampler.set_epoch(epoch)
        net.train()
        total, batches = torch.zeros((), device=dev), 0
        for x, y in run.train_loader:  # bf16 autocast on CUDA (weights and optimiser in fp32), fp32 elsewhere
            x = x.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = y.to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                logits = net(x)
            loss = loss_fn(logits.float(), y)
            share = ddp.loss_share(loss_fn, y)  # under torchrun: the global batch's mean loss (None in one process)
            loss = loss if share is None else loss * share
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + loss.detach(), batches + 1
        losses.append(float(ddp.all_reduce_sum(total)) / ddp.world_size() / max(1, batches))
        check_epoch_loss(losses[-1:], epoch, state.lr)
        print(f"  {name}: epoch {epoch + 1}/{recipe.epochs}, lr {state.lr:.4g}, loss {losses[-1]:.4f}")
    return model, losses


def train_and_report(run: SimpleNamespace) -> dict:
    """Train each model in turn, predict the test set, print and write the table."""
    config, recipe, dev, train, test = run.config, run.recipe, run.device, run.train, run.test
    print(f"reproduce {config.benchmark}: {run.trained} with {recipe.model}, {recipe.epochs} epochs, batch "
          f"{recipe.batch_size}, {len(train)} train / {len(test)} test images, device {dev}, {config.workers} "
          "decoding workers")
    t0, outputs, losses = time.perf_counter(), {}, {}
    for n in run.trained:
        model, losses[n] = _train_one(run, n)
        model.eval()
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            batches = [(model(x.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)).float(),
                        y.to(dev)) for x, y in run.test_loader]
        outputs[n] = [ddp.gather_rows(torch.cat(parts)).cpu() for parts in zip(*batches)]  # (logits, labels)
    bench = LARGE_BENCHMARKS[config.benchmark]
    rows = []
    for n in run.names:  # 'last': the model after its last epoch; no 'best' (no test evaluation while training)
        shots = method_shots(n, *outputs[METHODS[n].posthoc_of or n], train.class_counts)
        rows.append({**table_row(n, bench, None, shots, last=100 * shots["all"]), "epochs_done": recipe.epochs})
    result = {"benchmark": config.benchmark, "methods": run.names, "device": str(dev), "device_slug": device_slug(dev),
              "dataset": config.benchmark, "dataset_source": str(train.folder), "recipe": bench["recipe"],
              "milestones": list(recipe.milestones), "reweight_epoch": run.reweight_epoch,
              "model": recipe.model, "epochs": recipe.epochs,
              "batch_size": recipe.batch_size, "lr": recipe.lr, "weight_decay": recipe.weight_decay,
              "image_size": config.image_size, "seed": config.seed, "n_train": len(train), "n_test": len(test),
              "train_counts": train.class_counts.tolist(), "train_losses": losses, "seconds": time.perf_counter() - t0,
              "torch_version": torch.__version__, "ltutorial_version": __version__,
              **ddp.describe_processes(dev, recipe.batch_size, run.notes),
              "metric": "top-1 (%) on the balanced test split = balanced accuracy; many/medium/few: >100, "
                        "20-100, <20 train images", "rows": rows, "notes": run.notes}
    return report(result, config.out)


def main(argv=None) -> int:
    """``ltutorial reproduce imagenet-lt|places-lt|inat2018``: 0 when the table was made, 2 on bad input or data."""
    return command(argv, LargeRunConfig, LARGE_BENCHMARKS, prepare, train_and_report)
