"""``ltutorial reproduce imagenet-lt|places-lt|inat2018``: ``methods.METHODS`` on the large benchmarks, images
decoded in DataLoader workers; under ``torchrun`` each rank decodes its B/W rows of every global batch.

    ltutorial reproduce imagenet-lt --root /data --methods erm,la,ldam-drw --workers 16
"""

import dataclasses
import time
from types import SimpleNamespace

import torch

from ltutorial._validation import check_choice
from ltutorial._version import __version__
from ltutorial.data.large_lt import LARGE_LT, load_large_lt_pair, make_loader
from ltutorial.methods import model_of
from ltutorial.models import MODELS
from ltutorial.reproduce import (METHODS, RunOptions, command, device_slug, method_shots, method_spec, option, report,
                                 subsample, table_row)
from ltutorial.train import distributed as ddp
from ltutorial.train.common import TrainState, base_lrs
from ltutorial.train.compare import build_models
from ltutorial.train.loop import train_epoch
from ltutorial.train.recipes import RECIPES

__all__ = ["LARGE_BENCHMARKS", "LargeRunConfig", "prepare", "train_loader", "train_and_report", "main"]

#: benchmark -> its default recipe, the methods with a paper recipe of their own, per-method parameters, and the
#: papers' numbers (top-1 %) with their sources; [unconfirmed] / [secondary]: a cell not read in the paper itself.
LARGE_BENCHMARKS = {
    "imagenet-lt": {
        "recipe": "decoupling-imagenet-lt", "recipes": {}, "params": {},
        "paper": {"erm": (44.4, "Kang et al. 2020 (Decoupling) README, ResNeXt-50 joint training, instance-balanced "
                                "sampling, 90 epochs (many 65.9 / medium 37.5 / few 7.7)"),
                  "la": (51.11, "Menon et al. 2021 Table 2: 48.89% error, ResNet-50 [unconfirmed cell]"),
                  "la-posthoc": (50.34, "Menon et al. 2021 Table 2: 49.66% error, ResNet-50 [unconfirmed cell]")},
        "gap_notes": {m: "the LA paper's ImageNet-LT recipe (ResNet-50) is not confirmed in a source read here: "
                         "trained with Decoupling's (ResNeXt-50)." for m in ("la", "la-posthoc")},
    },
    "places-lt": {"recipe": "oltr-places-lt", "recipes": {}, "params": {}, "paper": {}, "gap_notes": {}},
    "inat2018": {
        "recipe": "decoupling-inat2018", "recipes": {"cb-focal": "cb-inat2018"},
        # LDAM's author (issue #2 of the LDAM-DRW repository): max_m 0.5 is too large for iNaturalist, 0.3 is enough.
        "params": {"ldam-drw": {"max_m": 0.3}, "cb-focal": {"beta": 0.999, "gamma": 0.5}},
        "paper": {"ldam-drw": (68.0, "Cao et al. 2019: 32.0% top-1 error, ResNet-50 [secondary: the paper's "
                                     "Papers-with-Code entry]"),
                  "la": (66.36, "Menon et al. 2021 Table 2: 33.64% error, ResNet-50 [unconfirmed cell]"),
                  "la-posthoc": (66.02, "Menon et al. 2021 Table 2: 33.98% error, ResNet-50 [unconfirmed cell]")},
        "gap_notes": {"ldam-drw": "the LDAM paper's iNaturalist recipe (epochs, lr, DRW epoch) is not confirmed in a "
                                  "source read here: trained with Decoupling's, DRW at 80% of the epochs.",
                      **{m: "the LA paper's iNaturalist recipe is not confirmed in a source read here: trained with "
                            "Decoupling's." for m in ("la", "la-posthoc")}},
    },
}


@dataclasses.dataclass(frozen=True)
class LargeRunConfig(RunOptions):
    """``prepare``'s options: ``RunOptions`` and the recipe, the image size and decoding workers."""

    benchmark: str = "imagenet-lt"
    methods: tuple | str = option(("erm",), f"comma-separated, from {sorted(METHODS)}")
    recipe: str | None = option(None, f"one recipe for every method, from {sorted(RECIPES)} (default: each "
                                      "method's paper recipe, else the benchmark's)")
    image_size: int = option(224, "crop size (224; smaller for quick checks)", type=int)
    workers: int = option(8, "DataLoader processes decoding the images", minimum=0, type=int)

    def check(self, benchmarks=LARGE_BENCHMARKS) -> list[str]:
        if self.recipe is not None:
            check_choice(self.recipe, sorted(RECIPES), name="recipe")
        return super().check(benchmarks)


def prepare(config: LargeRunConfig) -> SimpleNamespace:
    """Check the options and recipes, read the splits (a missing file: ``MissingDataError``, a ValueError)."""
    names, name, size, bench = config.check(), config.benchmark, config.image_size, LARGE_BENCHMARKS[config.benchmark]
    # each method's recipe: --recipe, else its paper's, else the benchmark's (a post-hoc row: its base model's)
    trained = list(dict.fromkeys(model_of(n) for n in names))  # post-hoc rows reuse a model
    recipe_of = {n: config.recipe or bench["recipes"].get(model_of(n), bench["recipe"])
                 for n in dict.fromkeys(names + trained)}
    recipes, notes = {}, []
    for rname in dict.fromkeys(recipe_of.values()):
        r = RECIPES[rname].with_epochs(config.epochs or RECIPES[rname].epochs)
        r = recipes[rname] = dataclasses.replace(r, model=config.model or r.model,
                                                 batch_size=config.batch_size or r.batch_size)
        if r.model not in MODELS:
            raise ValueError(f"recipe {rname!r} trains a {r.model} from {r.pretrained or 'random weights'}, which "
                             f"ltutorial cannot build or download: pass --model (from {sorted(MODELS)}) to run its "
                             "schedule from random weights, not the paper's setting.")
        drw = "" if r.milestones else f" DRW / TLA-ADRW switch on at epoch {r.reweight_epoch} (our choice)."
        notes.append(f"recipe {rname} for {', '.join(n for n in names if recipe_of[n] == rname)}: {r.notes}{drw}")
        if r.pretrained:
            notes.append(f"{rname} needs {r.pretrained}: trained from random weights here, NOT the paper's setting.")
    dev = ddp.resolve_device(config.device)  # under torchrun: this rank's device, after joining the process group
    for r in recipes.values():
        ddp.check_global_batch(r.batch_size)
    train, test = load_large_lt_pair(name, root=config.root, image_size=size)
    if train.num_classes != LARGE_LT[name]["num_classes"]:
        notes.append(f"{train.num_classes} classes in the training list instead of {name}'s "
                     f"{LARGE_LT[name]['num_classes']}: a made-up or partial split, not the benchmark.")
    if size != 224:
        notes.append(f"images at {size} x {size} (--image-size) instead of 224: not the papers' setting.")
    train, test, more = subsample(train, test, config)
    lo, hi = ddp.shard_bounds(len(test))  # each rank predicts its slice of the test set
    test_loader = make_loader(test.subset(range(lo, hi)), batch_size=max(r.batch_size for r in recipes.values()),
                              shuffle=False, seed=config.seed, num_workers=config.workers,
                              pin_memory=dev.type == "cuda")
    return SimpleNamespace(config=config, names=names, trained=trained, recipe_of=recipe_of, recipes=recipes,
                           train=train, test=test, notes=notes + more, device=dev, test_loader=test_loader)


def train_loader(dataset, batch_size: int, seed: int, workers: int = 0, *, pin: bool = False):
    """This rank's loader of each epoch's seeded permutation (``loader.sampler.set_epoch``), sharded: the k-th batches
    of B/W rows of the W ranks make up the k-th global batch of B rows of one process (a set of n <= B images: one
    batch of W * (n // W) rows)."""
    sampler = torch.utils.data.DistributedSampler(dataset, ddp.world_size(), ddp.rank(), seed=seed * 1_000_003,
                                                  drop_last=True)
    return torch.utils.data.DataLoader(dataset, batch_size // ddp.world_size(), sampler=sampler,
                                       drop_last=len(dataset) > batch_size, num_workers=workers, pin_memory=pin,
                                       persistent_workers=workers > 0,
                                       generator=torch.Generator().manual_seed(seed + ddp.rank()))


def _train_one(run: SimpleNamespace, name: str) -> tuple:
    """Build and train method ``name``'s model with its recipe (SGD steps over the training images); (model,
    per-epoch mean losses)."""
    config, dev, counts, amp = run.config, run.device, run.train.class_counts, run.device.type == "cuda"
    recipe = run.recipes[run.recipe_of[name]]
    spec = method_spec(name, counts, benchmark=LARGE_BENCHMARKS[config.benchmark], reweight_epoch=recipe.reweight_epoch)
    model = build_models([spec], len(counts), 3, recipe.model, None, config.seed)[0]
    model = model.to(dev).to(memory_format=torch.channels_last)
    net = ddp.wrap_model(model, dev) if ddp.is_distributed() else model  # DDP averages the gradients
    loss_fn, hooks = spec["loss"].to(dev), spec["hooks"]
    loader = train_loader(run.train, recipe.batch_size, config.seed, config.workers, pin=amp)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    state = TrainState(0, recipe.epochs, model, loss_fn, optimizer, None, run.train, dev)
    bases, schedule, losses = base_lrs(optimizer), recipe.schedule(), []
    for epoch in range(recipe.epochs):  # bf16 autocast on CUDA (weights and optimiser in fp32), fp32 elsewhere
        state.epoch = epoch
        loader.sampler.set_epoch(epoch)
        # under torchrun: the global batch's mean loss, every rank holding B/W rows
        batches = ((x, y, None, y.shape[0] * ddp.world_size()) for x, y in loader)
        losses.append(train_epoch(state, net, batches, hooks, schedule, bases, amp, True, len(counts)))
        print(f"  {name}: epoch {epoch + 1}/{recipe.epochs}, lr {state.lr:.4g}, loss {losses[-1]:.4f}")
    return model, losses


def train_and_report(run: SimpleNamespace) -> dict:
    """Train each model in turn, predict the test set, print and write the table (each row names its recipe)."""
    config, dev, train, test, recipes = run.config, run.device, run.train, run.test, run.recipes
    print(f"reproduce {config.benchmark}: {run.trained} with recipes {list(recipes)}, {len(train)} train / {len(test)} "
          f"test images, device {dev}, {config.workers} decoding workers")
    t0, outputs, losses = time.perf_counter(), {}, {}
    for n in run.trained:
        model, losses[n] = _train_one(run, n)
        model.eval()
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            batches = [(model(x.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)).float(),
                        y.to(dev)) for x, y in run.test_loader]
        outputs[n] = [ddp.gather_rows(torch.cat(parts)).cpu() for parts in zip(*batches)]  # (logits, labels)
    bench, rows = LARGE_BENCHMARKS[config.benchmark], []
    per_recipe = {k: [list(v) if k == "milestones" else v
                      for v in dict.fromkeys(getattr(r, k) for r in recipes.values())]
                  for k in ("model", "epochs", "batch_size", "lr", "weight_decay", "milestones", "reweight_epoch")}
    for n in run.names:  # 'last': the model after its last epoch; no 'best' (no test evaluation while training)
        rname = run.recipe_of[n]
        shots = method_shots(n, *outputs[model_of(n)], train.class_counts, benchmark=bench)
        rows.append({**table_row(n, bench, None, shots, last=100 * shots["all"]), "recipe": rname,
                     "epochs_done": recipes[rname].epochs})
        if recipes[rname].pretrained:
            rows[-1]["gap_note"] = f"needs {recipes[rname].pretrained}; trained from random weights here. " \
                                   f"{rows[-1]['gap_note']}"
    result = {"benchmark": config.benchmark, "methods": run.names, "device": str(dev), "device_slug": device_slug(dev),
              "dataset": config.benchmark, "dataset_source": str(train.folder), "recipe": ", ".join(recipes),
              "recipes": {k: dataclasses.asdict(r) for k, r in recipes.items()},
              **{k: v[0] if len(v) == 1 else v for k, v in per_recipe.items()},  # a list where the recipes differ
              "image_size": config.image_size, "seed": config.seed,
              "n_train": len(train), "n_test": len(test), "train_counts": train.class_counts.tolist(),
              "train_losses": losses, "seconds": time.perf_counter() - t0, "torch_version": torch.__version__,
              "ltutorial_version": __version__,
              **ddp.describe_processes(dev, max(r.batch_size for r in recipes.values()), run.notes),
              "metric": "top-1 (%) on the balanced test split = balanced accuracy; many/medium/few: >100, "
                        "20-100, <20 train images", "rows": rows, "notes": run.notes}
    return report(result, config.out)


def main(argv=None) -> int:
    """``ltutorial reproduce imagenet-lt|places-lt|inat2018``: 0 when the table was made, 2 on bad input or data."""
    return command(argv, LargeRunConfig, LARGE_BENCHMARKS, prepare, train_and_report)
