"""Reading the SSL notebooks' probe tables honestly: a random-weights baseline and a noise margin.

A linear probe on a *randomly initialised* encoder is far above chance on CIFAR and digits, so
"far above chance" says nothing about pre-training. Notebooks 10-12 therefore put the probe of
the same architecture with random weights beside every table (:func:`random_encoder_probe`) and
print their takeaways from the numbers: a difference counts only when it exceeds
:func:`accuracy_margin`, two standard errors of the difference of two accuracies measured on
the same number of test images (:func:`compare_with_random`, :func:`group_difference`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ltutorial._validation import check_positive_int

__all__ = ["random_encoder_probe", "accuracy_margin", "compare_with_random", "group_difference"]

_GROUPS = ("many", "medium", "few", "all")


def random_encoder_probe(settings, data: dict, *, device, epochs: int, seed: int = 0) -> dict:
    """:func:`ltutorial.ssl.linear_probe` of a fresh, untrained :func:`make_encoder` (random weights).

    The weights come from ``seed`` inside ``torch.random.fork_rng``, so the global random state
    (and every later cell) is the same as without this call; the probe itself uses
    ``linear_probe``'s default seed, as the notebooks' other probes do. ``data`` is the dict of
    :func:`ltutorial.ssl.ssl_experiment_data`. Notebooks 10-12.
    """
    from ltutorial.ssl.experiment import make_encoder
    from ltutorial.ssl.simclr import linear_probe

    missing = [k for k in ("probe_train", "test", "class_counts") if k not in data]
    if missing:
        raise ValueError(f"data must be the dict of ssl_experiment_data; got one without {missing} instead.")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        encoder = make_encoder(settings, data["probe_train"].num_classes).to(device)
    return linear_probe(encoder, data["probe_train"], data["test"], group_counts=data["class_counts"], epochs=epochs)


def accuracy_margin(accuracy: float, n: int) -> float:
    """Two standard errors of the difference of two accuracies near ``accuracy`` on ``n`` images each.

    margin = 2 sqrt(2 p (1 - p) / n) (binomial variance, two independent estimates). A difference
    smaller than this is within the noise of the test set alone, before any seed-to-seed noise.
    """
    n = check_positive_int(n, name="n")
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float, np.floating)) or not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be a number in [0, 1]; got {accuracy!r} instead.")
    p = min(max(float(accuracy), 1.0 / n), 1 - 1.0 / n)  # keep the margin > 0 at 0 % or 100 %
    return 2 * math.sqrt(2 * p * (1 - p) / n)


def _group_sizes(test_labels, group_counts) -> dict[str, int]:
    from ltutorial.metrics import thirds_split

    labels = np.asarray(torch.as_tensor(test_labels).cpu()).reshape(-1)
    per_class = np.bincount(labels, minlength=len(group_counts))
    sizes = {g: int(per_class[idx].sum()) for g, idx in thirds_split(group_counts).items()}
    sizes["all"] = int(per_class.sum())
    return sizes


def group_difference(a: dict, b: dict, group: str, test_labels, group_counts) -> tuple[float, float]:
    """(a - b, margin) in points for one group of two :func:`linear_probe` results on the same test set.

    The margin is :func:`accuracy_margin` at the mean of the two accuracies and the group's
    number of test images. Notebooks 10-12.
    """
    if group not in _GROUPS:
        raise ValueError(f"group must be one of {list(_GROUPS)}; got {group!r} instead.")
    n = _group_sizes(test_labels, group_counts)[group]
    diff = float(a[group]) - float(b[group])
    return 100 * diff, 100 * accuracy_margin(0.5 * (float(a[group]) + float(b[group])), n)


def compare_with_random(probes: dict, baseline: dict, test_labels, group_counts) -> dict[str, dict]:
    """Per pre-trained encoder: its ``gain`` over the random-weights probe (All, points), the
    ``margin`` and ``learned`` = gain > margin. Notebooks 10-12 print their takeaways from it."""
    out = {}
    for name, r in probes.items():
        gain, margin = group_difference(r, baseline, "all", test_labels, group_counts)
        out[name] = {"gain": gain, "margin": margin, "learned": gain > margin}
    return out
