"""``ltutorial reproduce <benchmark>``: the slides' supervised long-tailed methods with the LDAM-DRW recipe
(Cao et al. 2019), against the papers' numbers.

    ltutorial reproduce cifar10-lt --methods erm,focal,cb-focal,ldam-drw,la,vs,vs-tla-adrw

The methods train together through ``fit_many``; the table goes to ``<out>/<device>-reproduce-<benchmark>.json``
and ``.md``, also every ``--checkpoint-every`` epochs and on an interruption with ``"complete": false``.
"""

import argparse
import json
import math
import platform
import re
import sys
import time
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import torch

from ltutorial import data, metrics
from ltutorial._validation import check_choice, check_positive_int, check_writable_dir
from ltutorial._version import __version__
from ltutorial.data.prepare import stratified_subset
from ltutorial.device import seed_everything
from ltutorial.methods import (BENCHMARKS, DEFAULT_METHODS, GAP_NOTES, METHODS, Method, method_params, method_shots,
                               method_spec, model_of)
from ltutorial.models import MODELS
from ltutorial.train import distributed as ddp
from ltutorial.train.compare import build_models, training_recipe
from ltutorial.train.loop import evaluate, fit_many

__all__ = ["METHODS", "BENCHMARKS", "DEFAULT_METHODS", "Method", "RunOptions", "RunConfig", "option", "method_spec",
           "method_params", "method_shots", "prepare", "train_and_report", "main", "command", "subsample",
           "device_slug", "scale_caveat", "table_row", "report"]


#: ``--precision`` -> ``fit_many(amp=...)``: "auto" is bf16 autocast on CUDA and fp32 elsewhere; "fp32" may be
#: faster for the fused network's grouped convolutions (``benchmarks/train_throughput.py``).
PRECISIONS = {"auto": None, "bf16": True, "fp32": False}
#: ResNet-32 images/s of ``fit`` on 2 CPU cores (batch 128, crop+flip, measured 2026-11-27): the CPU time warning.
CPU_RESNET32_IMAGES_PER_SECOND = 650


def device_slug(device: torch.device) -> str:
    """A file-name-safe name of the device: "cpu" or the GPU's name, e.g. "nvidia-h100-80gb-hbm3"."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def scale_caveat(profile: str, train, test, epochs: int) -> str:
    """Why a gap of a few points may not show at this size (epochs, test images, rarest class); notebooks 06-09."""
    rare, head = int(train.class_counts.min()), int(train.class_counts.max())
    return "; ".join([f"a smoke run of {epochs} epochs is far too short to train the models"] * (profile == "smoke") + [
        f"{len(test)} test images: 1 point of balanced accuracy is {len(test) / 100:.0f} images",
        f"the rarest class has {rare} training image{'' if rare == 1 else 's'} (the head {head})"])


def option(default, help: str = "", minimum: int = 1, **argparse_options):
    """A run option that is also a command-line flag: ``--name`` with this help and these argparse options (an int
    option is at least ``minimum``)."""
    return field(default=default, metadata={"help": help, **argparse_options, "minimum": minimum})


@dataclass(frozen=True)
class RunOptions:
    """The options of every ``ltutorial reproduce`` (None: the recipe's value, or all images; out=None: no file)."""

    benchmark: str = "cifar10-lt"
    methods: tuple | str = option(DEFAULT_METHODS, f"comma-separated, from {sorted(METHODS)}")
    epochs: int | None = option(None, "default: the recipe's (its schedule rescaled otherwise)", type=int)
    device: str = option("auto")
    seed: int = option(0, minimum=0, type=int)
    out: str | None = option("benchmarks/results", "folder for the results files")
    root: str | None = option(None, "data folder (default: LTUTORIAL_DATA, then ./data)")
    model: str | None = option(None, "model name from ltutorial.models.MODELS (default: the recipe's)")
    batch_size: int | None = option(None, type=int)
    max_train: int | None = option(None, "subsample the training set, same class shares (quick checks)", type=int)
    max_test: int | None = option(None, "subsample the test set (quick checks)", type=int)

    def check(self, benchmarks=BENCHMARKS) -> list[str]:
        """The method names (de-duplicated) once every option is checked, before any data is read."""
        check_choice(self.benchmark, sorted(benchmarks), name="benchmark")
        if self.model is not None:
            check_choice(self.model, sorted(MODELS), name="model")
        for f in fields(self):  # an integer flag is at least its minimum, a flag with choices takes one
            value = getattr(self, f.name)
            if f.metadata.get("type") is int and value is not None:
                check_positive_int(value, name=f.name, minimum=f.metadata["minimum"])
            elif "choices" in f.metadata:
                check_choice(value, f.metadata["choices"], name=f.name)
        if self.out is not None:
            check_writable_dir(self.out, name="out")
        names = [n.strip() for n in self.methods.split(",") if n.strip()] if isinstance(self.methods, str) \
            else list(self.methods)
        bad = [n for n in names if n not in METHODS]
        if not names or bad:
            raise ValueError(f"methods must be a comma-separated list of {sorted(METHODS)}; got {bad or names!r} "
                             "instead.")
        return list(dict.fromkeys(names))


@dataclass(frozen=True)
class RunConfig(RunOptions):
    """``prepare``'s options: ``RunOptions`` and how often to evaluate and write, and the precision."""

    # evaluating 10,000 test images every epoch adds about a quarter to a GPU run (est.)
    eval_every: int = option(5, "evaluate the test set every N epochs and after the last", type=int)
    checkpoint_every: int = option(10, "rewrite the results files every N epochs while training", type=int)
    precision: str = option("auto", "auto: bf16 autocast on CUDA, fp32 elsewhere", choices=sorted(PRECISIONS))


def prepare(config: RunConfig) -> SimpleNamespace:
    """Check the options, read the data and build the models (a bad option or missing data: ValueError)."""
    names = config.check()
    recipe = training_recipe(config.epochs or 200, **({"batch_size": config.batch_size} if config.batch_size else {}))
    dev = ddp.resolve_device(config.device)  # under torchrun, this rank's device; only rank 0 writes
    seed_everything(config.seed)
    spec = BENCHMARKS[config.benchmark]
    train, test = data.load_dataset(spec["dataset"], root=config.root, imbalance_ratio=spec["imbalance_ratio"], seed=0)
    train, test, notes = subsample(train, test, config)
    trained = list(dict.fromkeys(model_of(n) for n in names))  # post-hoc rows reuse a model
    specs = [method_spec(n, train.class_counts, benchmark=config.benchmark, reweight_epoch=recipe.reweight_epoch)
             for n in trained]
    model = config.model or recipe.model
    models = build_models(specs, train.num_classes, train.images.shape[1], model, None, config.seed)
    device = torch.cuda.get_device_name(dev) if dev.type == "cuda" else \
        f"{dev.type} ({platform.processor() or platform.machine()})"
    print(f"reproduce {config.benchmark}: {len(trained)} model(s) {trained}, {model}, {recipe.epochs} epochs, "
          f"device {device}, data {train.source}")
    hours = len(trained) * recipe.epochs * len(train) / CPU_RESNET32_IMAGES_PER_SECOND / 3600
    if dev.type == "cpu" and model == "resnet32" and hours > 1 / 6:
        print(f"reproduce: on the CPU this takes about {hours:.1f} h (ResNet-32 trains at about "
              f"{CPU_RESNET32_IMAGES_PER_SECOND} images/s on 2 CPU cores, measured; more cores are faster); for a "
              "quick check pass --epochs, --max-train/--max-test or --model small_cnn.")
    amp = PRECISIONS[config.precision]
    notes += [note for cond, note in (
        ("jpeg" in train.source.lower(), "CIFAR read from a JPEG copy (lossy re-encoding of the official images): "
                                         "expect small shifts."),
        (recipe.epochs != 200, f"{recipe.epochs} epochs instead of the recipe's 200: numbers are not comparable with "
                               "the papers'."),
        (config.precision != "auto", f"precision {config.precision} (--precision; the default is bf16 autocast on "
                                     "CUDA)."),
        (amp is not False and (dev.type == "cuda" or amp), "trained with bf16 autocast (weights and optimizer in "
                                                           "fp32); the papers trained in fp32."),
        (recipe.augment and not train.augment, f"{train.name}: crop+flip switched off (the dataset says it does not "
                                               "suit its images)."),
        (config.eval_every > 1, f"test set evaluated every {config.eval_every} epochs and after the last: 'best' is "
                                "the best of the evaluated epochs.")) if cond]
    header = {
        "benchmark": config.benchmark, "methods": names, "device": device, "device_slug": device_slug(dev),
        "dataset": spec["dataset"], "dataset_source": train.source, "imbalance_ratio": spec["imbalance_ratio"],
        "n_train": len(train), "n_test": len(test), "train_counts": train.class_counts.tolist(), "model": model,
        "recipe": "ldam-drw-cifar", "epochs": recipe.epochs, "batch_size": recipe.batch_size, "seed": config.seed,
        "milestones": list(recipe.milestones), "reweight_epoch": recipe.reweight_epoch, "eval_every": config.eval_every,
        "precision": config.precision, "ltutorial_version": __version__, "torch_version": torch.__version__,
        "metric": "balanced accuracy (%), top-1 on the balanced test set; many/medium/few: >100, 20-100, <20 "
                  "train images", **ddp.describe_processes(dev, recipe.batch_size, notes)}  # world_size, devices
    return SimpleNamespace(config=config, names=names, trained=trained, recipe=recipe, train=train, test=test,
                           device=dev, models=models, specs=specs, header=header, notes=notes)


def subsample(train, test, config: RunOptions):
    """(train, test, notes): the splits cut to ``max_train`` / ``max_test`` images with the same class shares."""
    splits, notes = {"train": train, "test": test}, []
    for name, split in splits.items():
        cap = getattr(config, f"max_{name}")
        if cap is not None and cap < len(split):
            splits[name] = split.subset(stratified_subset(split.labels, cap, seed=config.seed))
            notes.append(f"{name} set subsampled to {len(splits[name])} images (--max-{name}), same class shares.")
    return splits["train"], splits["test"], notes


def train_and_report(exp: SimpleNamespace) -> dict:
    """Train the prepared models (results files kept current while they train), then print and write the table."""
    config, t0 = exp.config, time.perf_counter()
    write = config.out is not None and ddp.is_main_process()
    progress = [None] * len(exp.trained)  # each model's History so far, for the partial tables
    kw = {**exp.recipe.fit_kwargs(), "amp": PRECISIONS[config.precision]}

    def results(histories, reason: str | None = None) -> dict:
        """The table of these Histories: final, or partial for a ``reason`` ('last': each model's latest evaluation)."""
        done = min(len(getattr(h, "epoch", ())) for h in histories)
        cut = [f"PARTIAL ({reason}): every trained model has finished {done} of {exp.recipe.epochs} epochs; "
                   "'last' is each model's latest evaluation."] * (reason is not None)
        return {**exp.header, "complete": reason is None, "epochs_reached": done,
                "engine": ",".join(sorted({h.engine for h in histories if h is not None})),
                "seconds": time.perf_counter() - t0, "rows": _rows(exp, histories, kw["amp"], reason is None),
                "notes": exp.notes + cut}  # after the rows: a final row may add a note

    def checkpoint(reason: str = "checkpoint while training") -> None:
        try:
            _write_files(results(progress, reason), config.out)
        except OSError as err:  # a full disk must not stop the training
            print(f"reproduce: could not write the partial results ({err}).")

    def record_progress(i: int, state) -> None:
        """Model i's epoch hook: ``checkpoint()`` when the last model running at an epoch sees a multiple of
        ``checkpoint_every`` (fused: all at the same epoch) or a model starts after the previous one finished (one
        after another, on the CPU). Graph-safe: no device sync."""
        progress[i] = state.history
        last_running = i == len(progress) - 1 or progress[i + 1] is None
        previous_done = i > 0 and progress[i - 1] is not None and len(progress[i - 1].epoch) == state.epochs
        if (state.epoch > 0 and state.epoch % config.checkpoint_every == 0 and last_running) or \
                (state.epoch == 0 and previous_done):
            checkpoint()

    hooks = [[*s["hooks"], *[partial(record_progress, i)] * write] for i, s in enumerate(exp.specs)]
    try:
        histories = fit_many(exp.models, exp.train, loss_fns=[s["loss"] for s in exp.specs], hooks=hooks,
                             test=exp.test, device=exp.device, seed=config.seed, eval_every=config.eval_every, **kw)
    except BaseException as err:  # a time limit's SIGINT too: keep what was trained, re-raise
        if write and any(h is not None for h in progress):
            checkpoint(f"interrupted by {type(err).__name__}")
            print(f"reproduce: interrupted ({type(err).__name__}); partial results written to {config.out}.")
        raise
    return report(results(histories), config.out)


def report(result: dict, out) -> dict:
    """Print the table as markdown; under torchrun rank 0 writes ``<out>/<device>-reproduce-<benchmark>.{json,md}``."""
    print(_markdown(result))
    if out is not None and ddp.is_main_process():
        result["files"] = _write_files(result, out)
        print("wrote", ", ".join(result["files"]))
    return result


def _rows(exp: SimpleNamespace, histories, amp, final: bool) -> list[dict]:
    """Each method's row: final, from its trained model's test logits (one pass per model: a post-hoc row reuses its
    base's); partial, from its History's last evaluation (post-hoc rows need the model's logits: final table only)."""
    spec, counts, rows, logits = BENCHMARKS[exp.config.benchmark], exp.train.class_counts, [], {}
    by_name = dict(zip(exp.trained, zip(exp.models, histories)))
    for n in exp.names:
        base = model_of(n)
        model, hist = by_name[base]
        if final:
            if base not in logits:
                logits[base] = evaluate(model, exp.test, device=exp.device, amp=amp)["logits"].float()
            shots = method_shots(n, logits[base], exp.test.labels.cpu(), counts, benchmark=spec)
        else:
            per_class = None if hist is None or base != n else hist.per_class_accuracy
            shots = None if per_class is None else metrics.shot_means(per_class, counts.numpy())
        rows.append(table_row(n, spec, hist, shots, last=100 * shots["all"] if final and base != n else None))
        if final and base == n and abs(100 * shots["all"] - rows[-1]["last"]) > 0.5:
            exp.notes.append(f"{n}: the trained model evaluates at {100 * shots['all']:.2f} but the last epoch logged "
                             f"{rows[-1]['last']:.2f}; many/medium/few come from the model as returned by fit_many.")
    return rows


def table_row(name: str, spec: dict, hist, shots: dict | None, last=None) -> dict:
    """One table row: balanced accuracy (last and best evaluated epoch of ``hist``), shot accuracies, paper."""
    method, shots = METHODS[name], shots or {}
    best = best_epoch = None
    if hist is not None and not method.posthoc_of and hist.final_balanced_accuracy is not None:
        last = 100 * float(hist.final_balanced_accuracy) if last is None else last
        best, best_epoch = 100 * float(hist.best_balanced_accuracy), int(hist.best_epoch)
    paper, source = spec["paper"].get(name, (None, ""))
    return {"method": name, "label": method.label, "params": method_params(name, benchmark=spec),
            "last": last, "best": best, "best_epoch": best_epoch,
            **{k: None if shots.get(k) is None else 100 * shots[k] for k in ("many", "medium", "few")},
            "paper": paper, "paper_source": source, "gap_note": spec.get("gap_notes", GAP_NOTES).get(name, ""),
            "diff": None if paper is None or last is None else last - paper,
            "seconds": float(getattr(hist, "seconds", float("nan"))), "epochs_done": len(getattr(hist, "epoch", []))}


def _fmt(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _markdown(r: dict) -> str:
    lines = [
        f"# Reproduction: {r['benchmark']}", "", f"- device: {r['device']}",
        f"- dataset: {r['dataset']} ({r['dataset_source']}); train {r['n_train']} images "
        f"(per class {r['train_counts']}), test {r['n_test']} images",
        f"- model: {r['model']}; epochs: {r['epochs']} (recipe {r['recipe']}, lr milestones {r['milestones']}, "
        f"re-weighting epoch {r['reweight_epoch']}); batch {r['batch_size']}; seed {r['seed']}",
        f"- wall time: {r['seconds']:.1f} s for all methods together (ltutorial {r['ltutorial_version']}, "
        f"torch {r['torch_version']}{', engine ' + r['engine'] if r.get('engine') else ''}"
        f"{', precision ' + r['precision'] if r.get('precision') else ''})"]
    if r.get("complete") is False:
        lines.append(f"- **PARTIAL RESULTS**: {r.get('epochs_reached', 0)} of {r['epochs']} epochs done "
                     "(the run was cut short or is still going); 'last' is each model's latest evaluation.")
    lines += ["", "| method | last | best (epoch) | many | medium | few | paper | last - paper |", "|" + "---|" * 8]
    for x in r["rows"]:
        best = "-" if x["best"] is None else f"{x['best']:.2f} ({x['best_epoch']})"
        lines.append(" | ".join(["", x["method"], _fmt(x["last"]), best,
                                 *[_fmt(x[k]) for k in ("many", "medium", "few", "paper", "diff")], ""]).strip())
    lines += ["", "Balanced accuracy in % (= top-1 on the balanced test set)."]
    for title, key in (("Paper numbers and their sources:", "paper_source"),
                       ("Known differences from the papers' setups (read these before a gap):", "gap_note")):
        items = [f"- {x['method']}: {x[key]}" for x in r["rows"] if x[key]]
        lines += ["", title, "", *items] * bool(items)
    return "\n".join(lines + ["", *[f"Note: {n}" for n in r["notes"]]] * bool(r.get("notes"))) + "\n"


def _write_files(result: dict, out) -> list[str]:
    stem, paths = Path(out) / f"{result['device_slug']}-reproduce-{result['benchmark']}", []
    stem.parent.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(result, indent=2, default=float) + "\n"), (".md", _markdown(result))):
        stem.with_suffix(suffix + ".tmp").write_text(text)
        stem.with_suffix(suffix + ".tmp").replace(stem.with_suffix(suffix))  # a reader never sees half a file
        paths.append(str(stem.with_suffix(suffix)))
    return paths


def command(argv, config_class, benchmarks: dict, prepare: Callable, report: Callable,
            epilog: str | None = None) -> int:
    """Parse ``argv`` (the benchmark, then one flag per ``config_class`` field), check the options and read the data
    (a ValueError: one ``error:`` line naming it, exit 2), then train and report (an error while training keeps its
    traceback). Under torchrun only rank 0 prints."""
    p = argparse.ArgumentParser(prog="ltutorial reproduce", description=__doc__.split("\n\n")[0], epilog=epilog)
    p.add_argument("benchmark", choices=sorted(benchmarks), help="which table to reproduce")
    for f in fields(config_class)[1:]:
        flags = ["--" + f.name.replace("_", "-")] + ["--data"] * (f.name == "root")  # README: --root (alias --data)
        argparse_options = {k: v for k, v in f.metadata.items() if k != "minimum"}
        p.add_argument(*flags, default=",".join(f.default) if isinstance(f.default, tuple) else f.default,
                       **argparse_options)
    p.add_argument("--no-write", action="store_true", help="print only")
    args = vars(p.parse_args(argv))
    args["out"] = None if args.pop("no_write") else args["out"]
    try:
        with ddp.quiet_unless_main():
            try:
                experiment = prepare(config_class(**args))
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            report(experiment)
    finally:
        ddp.close_distributed()
    return 0


def main(argv=None) -> int:
    """``ltutorial reproduce cifar10-lt|cifar100-lt|digits-lt``: 0 when the table was made, 2 on bad input."""
    return command(argv, RunConfig, BENCHMARKS, prepare, train_and_report, epilog="imagenet-lt, places-lt and inat2018 "
                   "(read from your own copy) take more options: ltutorial reproduce imagenet-lt --help")
