"""Reading the SSL notebooks' probes: a random-weights baseline, a noise margin, tables and class geometry.

A linear probe on a *random* encoder is far above chance on CIFAR and digits, so notebooks 10-12
put it beside every table (:func:`random_encoder_probe`), and a difference counts only beyond
:func:`accuracy_margin`: 2 sqrt(2 p (1 - p) / n), two standard errors of the difference of two
accuracies on n test images each.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ltutorial._validation import check_choice, check_labels, check_positive_int, check_probability
from ltutorial.metrics import thirds_split
from ltutorial.ssl.experiment import make_encoder
from ltutorial.ssl.simclr import linear_probe

__all__ = ["random_encoder_probe", "accuracy_margin", "compare_with_random", "group_difference", "probe_table",
           "class_geometry"]


def random_encoder_probe(settings, data: dict, *, device, epochs: int, seed: int = 0) -> dict:
    """:func:`ltutorial.ssl.linear_probe` of a fresh :func:`make_encoder` (random weights from ``seed``
    inside ``fork_rng``: the global random state is left as it was); ``data`` from ``ssl_experiment_data``."""
    if not {"probe_train", "test", "class_counts"} <= set(data):
        raise ValueError(f"data must be the dict of ssl_experiment_data; got one with keys {sorted(data)} instead.")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        encoder = make_encoder(settings, data["probe_train"].num_classes).to(device)
    return linear_probe(encoder, data["probe_train"], data["test"], group_counts=data["class_counts"], epochs=epochs)


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
    out = {}
    for name, r in probes.items():
        gain, margin = group_difference(r, baseline, "all", test_labels, group_counts)
        out[name] = {"gain": gain, "margin": margin, "learned": gain > margin}
    return out


def probe_table(results: dict):
    """A Many / Medium / Few / All table in percent (pandas) from {row name: probe result}."""
    import pandas as pd

    rows = {name: {k.capitalize(): 100 * r[k] for k in ("many", "medium", "few", "all")} for name, r in results.items()}
    return pd.DataFrame.from_dict(rows, orient="index").round(2)


@torch.no_grad()
def class_geometry(features: torch.Tensor, labels) -> dict[str, np.ndarray]:
    """Per-class geometry of L2-normalised features (GH's representation disparity, notebook 12).

    ``spread_c`` = mean over class c of 1 - cos(f_i, mu_c), mu_c its mean direction;
    ``nearest_cos_c`` = max over c' != c of cos(mu_c, mu_c'). GH's claim: plain contrastive
    learning gives head classes large regions and squeezes the tail.
    """
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
    spread = spread / torch.bincount(y, minlength=c).clamp_min(1)
    cos = (mu @ mu.T).fill_diagonal_(-2.0)
    return {"spread": spread.cpu().numpy(), "nearest_cos": cos.max(1).values.cpu().numpy()}
