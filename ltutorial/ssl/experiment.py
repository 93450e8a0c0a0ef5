"""The shared experiment of the SSL notebooks 10-12: settings, SDCLR's subsets, and reading the probes.

SDCLR's splits (Jiang et al., ICML 2021, Table 1), per class from one random permutation: the first
``val_per_class`` held out; of the rest, D_i takes the first n_c = floor(n_max rho^(-c/(C-1))) (11,165
images on CIFAR-10), D_b the first floor(|D_i| / C), S_b the first 1%. A difference between two probes
counts beyond 2 sqrt(2 p (1 - p) / n) (:func:`accuracy_margin`), beside a random-weights probe.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ltutorial._validation import (check_choice, check_imbalance_ratio, check_labels, check_number, check_positive_int,
                                   check_probability, make_generator)
from ltutorial.data import DATASETS, load_dataset, resolve_dataset
from ltutorial.data.large_lt import refuse_large_lt
from ltutorial.data.longtail import longtail_counts
from ltutorial.metrics import thirds_split
from ltutorial.models import MODELS, build_model
from ltutorial.profiles import PROFILES, SIZES
from ltutorial.ssl.augment import resize_images
from ltutorial.ssl.simclr import PretrainConfig, linear_probe

# digits-lt keeps 124 training digits per class: 24 held out for the probe leave a pool of 100.
_DIGITS_VAL_PER_CLASS, _DIGITS_POOL = 24, 100


@dataclass(frozen=True)
class SSLSettings:
    """Resolved settings of one SSL notebook run (see :func:`ssl_settings`)."""

    profile: str
    dataset: str
    seed: int
    epochs: int
    encoder: str
    width: int | None
    n_max: int | None
    image_size: int | None
    batch_size: int
    proj_dim: int
    warmup_epochs: int
    probe_epochs: int
    val_per_class: int | None
    test_per_class: int | None
    root: object = None  # the data folder (None: LTUTORIAL_DATA, then ./data)

    def __post_init__(self):  # ``dataclasses.replace`` runs it too, so a changed copy is checked as well
        check_choice(self.profile, PROFILES, name="profile")
        check_choice(self.encoder, sorted(MODELS), name="encoder")
        if self.width is not None and self.encoder != "small_cnn":  # make_encoder would drop it silently
            raise ValueError(f"width must be None with encoder {self.encoder!r} (it sizes the small_cnn of the "
                             f"smoke/cpu profiles); got {self.width!r} instead.")
        for name in ("seed", "epochs", "width", "n_max", "image_size", "batch_size", "proj_dim", "warmup_epochs",
                     "probe_epochs", "val_per_class", "test_per_class"):  # None: the five that may be None
            value, low = getattr(self, name), 0 if name in ("seed", "warmup_epochs") else 1  # the probe trains
            if value is not None or name in ("seed", "epochs", "batch_size", "proj_dim", "warmup_epochs",
                                             "probe_epochs"):
                object.__setattr__(self, name, check_positive_int(value, name=name, minimum=low))
        PretrainConfig(epochs=self.epochs, warmup_epochs=self.warmup_epochs)  # pretrain's rule: warmup <= epochs

    digits = property(lambda self: self.dataset == "digits-lt")
    in_channels = property(lambda self: 1 if self.digits else 3)

    def train_kwargs(self, device, *, weight_decay: float) -> dict:
        """Keywords for :func:`ltutorial.ssl.pretrain`; ``weight_decay`` is the method's (SDCLR 1e-4, BCL/GH 5e-4)."""
        return dict(epochs=self.epochs, batch_size=self.batch_size, warmup_epochs=self.warmup_epochs,
                    proj_dim=self.proj_dim, device=device, seed=self.seed,
                    weight_decay=check_number(weight_decay, name="weight_decay"))

    def summary(self) -> str:
        return (f"{self.dataset}: {self.encoder}, {self.epochs} epochs, batch {self.batch_size}, "
                f"n_max {self.n_max}, image size {self.image_size or 'native'}")


def ssl_settings(profile: str, *, dataset: str = "auto", seed: int = 0, root=None, **overrides) -> SSLSettings:
    """The ``profiles.SIZES[profile]["ssl"]`` row with ``overrides`` (``None`` keeps the row's value); an ``epochs``
    override keeps the warm-up share; digits-lt caps ``n_max`` at its pool of 100, keeps 8x8 and the test split;
    ``root``: the data folder "auto" looks in and the data are read from, as ``load_dataset``'s."""
    row = SIZES[check_choice(profile, PROFILES, name="profile")]["ssl"]
    if unknown := sorted(overrides.keys() - row.keys()):
        raise ValueError(f"overrides must be settings of {list(row)}; got {unknown} instead.")
    check_choice(dataset, ["auto", *sorted(DATASETS)], name="dataset")
    refuse_large_lt(dataset, argument="dataset")  # issue 15: the large benchmarks are file-backed
    v = {k: row[k] if overrides.get(k) is None else overrides[k] for k in row}
    if v["encoder"] != "small_cnn" and overrides.get("width") is None:  # the row's width is its small_cnn's
        v["width"] = None
    if overrides.get("epochs") is not None and overrides.get("warmup_epochs") is None:  # keep the warm-up share
        epochs = check_positive_int(v["epochs"], name="epochs")
        v["warmup_epochs"] = min(epochs, round(row["warmup_epochs"] * epochs / row["epochs"]))
    settings = SSLSettings(profile=profile, dataset=resolve_dataset(dataset, root), seed=seed, root=root, **v)
    if settings.digits:
        n_max, image_size = overrides.get("n_max"), overrides.get("image_size")
        if n_max is not None and n_max > _DIGITS_POOL:
            print(f"digits-lt: n_max={n_max} exceeds the {_DIGITS_POOL}-image pool per class; using {_DIGITS_POOL}.")
        if image_size is not None:
            print(f"digits-lt: image_size={image_size} ignored; the 8x8 digits are used at their native size.")
        split = {k: d for k, d in (("val_per_class", _DIGITS_VAL_PER_CLASS), ("test_per_class", None))
                 if overrides.get(k) is None}
        settings = dataclasses.replace(settings, n_max=min(settings.n_max or _DIGITS_POOL, _DIGITS_POOL),
                                       image_size=None, **split)
    return settings


def make_encoder(settings: SSLSettings, num_classes: int, *, seed: int | None = None):
    """A fresh backbone of ``settings.encoder`` initialised from ``seed`` (None: ``settings.seed``), so every encoder
    of a comparison starts from the same weights; torch's global random state is left as it was."""
    if not isinstance(settings, SSLSettings):
        raise ValueError(f"settings must be an SSLSettings (from ssl_settings); got {type(settings).__name__} instead.")
    seed = settings.seed if seed is None else check_positive_int(seed, name="seed", minimum=0)
    kw = {"width": settings.width} if settings.encoder == "small_cnn" and settings.width is not None else {}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build_model(settings.encoder, num_classes=num_classes, in_channels=settings.in_channels, **kw)


def ssl_subsets(labels, *, imbalance_ratio: float = 100, n_max: int | None = None, val_per_class: int | None = None,
                seed: int = 0) -> dict:
    """Sorted index tensors ``imbalanced`` (D_i), ``balanced`` (D_b), ``few_shot`` (S_b), ``val`` and D_i's
    ``class_counts`` from balanced ``labels``; ``val_per_class`` defaults to 10% of the smallest class."""
    y, ratio = check_labels(labels).cpu(), check_imbalance_ratio(imbalance_ratio)
    available = torch.bincount(y, minlength=int(y.max()) + 1 if y.numel() else 1)
    num_classes, smallest = available.numel(), int(available.min())
    if smallest == 0:
        raise ValueError(f"labels must be non-empty and contain every class 0..{num_classes - 1}; "
                         f"got {y.numel()} labels with an empty class instead.")
    val_per_class = check_positive_int(smallest // 10 if val_per_class is None else val_per_class,
                                       name="val_per_class", minimum=0)
    pool = smallest - val_per_class
    if pool < 1:
        raise ValueError(f"val_per_class must leave images in the pool (< {smallest}); got {val_per_class} instead.")
    n_max = pool if n_max is None else check_positive_int(n_max, name="n_max")
    if n_max > pool:
        raise ValueError(f"n_max must be <= {pool} (the smallest class minus val_per_class); got {n_max} instead.")
    counts = longtail_counts(n_max, num_classes, ratio)
    per_class_b, few = sum(counts) // num_classes, max(1, n_max // 100)
    g, class_counts = make_generator(seed, name="seed"), torch.tensor(counts, dtype=torch.int64)
    parts = {"imbalanced": [], "balanced": [], "few_shot": [], "val": []}
    for c, n_c in enumerate(counts):  # one permutation per class: val first, then prefixes of the rest
        idx_c = torch.nonzero(y == c).flatten()
        perm = idx_c[torch.randperm(idx_c.numel(), generator=g)]
        val, rest = perm[:val_per_class], perm[val_per_class:]
        for part, idx in zip(parts.values(), (rest[:n_c], rest[:per_class_b], rest[:few], val)):
            part.append(idx)
    return {**{k: torch.sort(torch.cat(v)).values for k, v in parts.items()}, "class_counts": class_counts}


def ssl_experiment_data(settings: SSLSettings) -> dict:
    """``settings.dataset``'s balanced training split cut by :func:`ssl_subsets` into ``imbalanced``, ``balanced`` and
    ``probe_train`` (the held-out ``val``), and ``test`` (``test_per_class`` per class), at ``image_size``."""
    if not isinstance(settings, SSLSettings):
        raise ValueError(f"settings must be an SSLSettings (from ssl_settings); got {type(settings).__name__} instead.")
    train, test = load_dataset(settings.dataset, root=settings.root, imbalance_ratio=1, seed=settings.seed)
    sub = ssl_subsets(train.labels, n_max=settings.n_max, val_per_class=settings.val_per_class, seed=settings.seed)
    if settings.test_per_class is not None:
        y = test.labels.cpu()
        keep = torch.cat([torch.nonzero(y == c).flatten()[: settings.test_per_class] for c in range(test.num_classes)])
        test = test.subset(torch.sort(keep).values)
    out = {"imbalanced": train.subset(sub["imbalanced"]), "balanced": train.subset(sub["balanced"]),
           "probe_train": train.subset(sub["val"]), "test": test}
    if settings.image_size is not None:  # only the images kept (resizing is per image)
        out = {k: dataclasses.replace(d, images=resize_images(d.images, settings.image_size)) for k, d in out.items()}
    return {**out, "class_counts": sub["class_counts"], "subsets": sub}


def random_encoder_probe(settings, data: dict, *, device, epochs: int, seed: int = 0) -> dict:
    """:func:`linear_probe` (its head seeded as the other probes') of a fresh :func:`make_encoder` seeded by ``seed``,
    inside ``fork_rng``: torch's global random state is the same after the call as before it."""
    with torch.random.fork_rng():
        encoder = make_encoder(settings, data["probe_train"].num_classes, seed=seed).to(device)
        return linear_probe(encoder, data["probe_train"], data["test"], group_counts=data["class_counts"],
                            epochs=epochs)


def accuracy_margin(accuracy: float, n: int) -> float:
    """2 sqrt(2 p (1 - p) / n): two standard errors of a difference of two accuracies on ``n`` images each."""
    n = check_positive_int(n, name="n")
    p = min(max(check_probability(accuracy, name="accuracy"), 1.0 / n), 1 - 1.0 / n)  # margin > 0 at 0 % or 100 %
    return 2 * math.sqrt(2 * p * (1 - p) / n)


def group_difference(a: dict, b: dict, group: str, test_labels, group_counts) -> tuple[float, float]:
    """(a - b, margin) in points for one group of two probe results, the margin at their mean accuracy."""
    check_choice(group, ["many", "medium", "few", "all"], name="group")
    per_class = np.bincount(np.asarray(torch.as_tensor(test_labels).cpu()).reshape(-1), minlength=len(group_counts))
    n = int(per_class.sum() if group == "all" else per_class[thirds_split(group_counts)[group]].sum())
    pa, pb = float(a[group]), float(b[group])
    return 100 * (pa - pb), 100 * accuracy_margin(0.5 * (pa + pb), n)


def compare_with_random(probes: dict, baseline: dict, test_labels, group_counts) -> dict[str, dict]:
    """Per encoder: ``gain`` over the random-weights probe (All, points), ``margin``, ``learned`` = gain > margin."""
    diffs = {name: group_difference(r, baseline, "all", test_labels, group_counts) for name, r in probes.items()}
    return {name: {"gain": gain, "margin": margin, "learned": gain > margin} for name, (gain, margin) in diffs.items()}


def probe_table(results: dict):
    """A Many / Medium / Few / All table in percent (pandas) from {row name: probe result}."""
    import pandas as pd

    rows = {name: {k.capitalize(): 100 * r[k] for k in ("many", "medium", "few", "all")} for name, r in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index").round(2)


@torch.no_grad()
def class_geometry(features: torch.Tensor, labels) -> dict[str, np.ndarray]:
    """GH's representation disparity (notebook 12): ``spread_c`` = mean over class c of 1 - cos(f_i, mu_c),
    mu_c its mean direction, and ``nearest_cos_c`` = max over c' != c of cos(mu_c, mu_c'); NaN for a class id absent
    from ``labels`` (``nearest_cos`` also NaN without another class)."""
    if not isinstance(features, torch.Tensor) or features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(f"features must be a 2-D tensor N x d with N >= 1; "
                         f"got {getattr(features, 'shape', type(features).__name__)} instead.")
    y = check_labels(labels, name="labels").to(features.device)
    if y.numel() != features.shape[0]:
        raise ValueError(f"labels must have one entry per row of features ({features.shape[0]}); "
                         f"got {y.numel()} instead.")
    f = F.normalize(features.float(), dim=1)
    c = int(y.max()) + 1
    mu = F.normalize(torch.zeros(c, f.shape[1], device=f.device).index_add_(0, y, f), dim=1)
    spread = torch.zeros(c, device=f.device).index_add_(0, y, 1 - (f * mu[y]).sum(1))
    count, nan = torch.bincount(y, minlength=c), torch.tensor(float("nan"), device=f.device)
    cos = (mu @ mu.T).fill_diagonal_(-2.0)
    cos[:, count == 0] = -2.0  # an absent class has no direction (mu = 0, cos 0): it is no class's nearest
    nearest = cos.max(1).values
    spread, nearest = (torch.where(count > 0, v, nan) for v in (spread / count.clamp_min(1), nearest))
    return {"spread": spread.cpu().numpy(), "nearest_cos": torch.where(nearest > -2, nearest, nan).cpu().numpy()}
