"""Two small computed models of the self-supervised slides' claims, each runs in seconds on a CPU.

- :func:`label_vs_instance_features`: the slide "supervised learning extracts only the features
  useful for the labels (e1); self-supervised learning also learns label-irrelevant ones (e1, e2)"
  (Liu et al., "Self-supervised learning is more robust to dataset imbalance", ICLR 2022), with a
  linear encoder trained once with cross-entropy and once with NT-Xent on the same toy data.
  Notebook 10.
- :func:`imbalanced_pretraining_toy`: the slide's "self-supervised learning still suffers from
  data imbalance" (SDCLR's D_i vs D_b comparison) on synthetic vectors whose class structure an
  encoder must discover, with a random-weights baseline. Notebook 10.
- :func:`uniformity_centres` and :func:`disparity_sweep`: the slide "contrastive learning causes
  severer representation learning disparity when enlarging the imbalance ratios" (Zhou et al.,
  "Combating Representation Learning Disparity with Geometric Harmonization", NeurIPS 2023), in the
  model where every sample of a class sits at its class centre, so the uniformity term of the
  contrastive loss counts pairs of *samples* (weights n_c n_c'); GH's geometric uniformity counts
  pairs of *classes* (equal weights) and gives the simplex ETF whatever the class sizes. Notebook 12.

These are models of the mechanisms, synthetic by construction, not image experiments.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ltutorial._validation import check_choice, check_class_counts, check_positive_int, check_random_state

__all__ = ["label_vs_instance_features", "imbalanced_pretraining_toy", "uniformity_centres", "disparity_sweep"]


def _toy_views(label: torch.Tensor, attribute: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # e1 carries the label (+-1.5), e2 an attribute the label ignores (+-1.5), e3 and e4 are
    # nuisance that every view redraws (std 2, the role colour jitter plays for images).
    x = torch.randn(label.numel(), 4, generator=generator) * torch.tensor([0.3, 0.3, 2.0, 2.0])
    x[:, 0] += 3.0 * label - 1.5
    x[:, 1] += 3.0 * attribute - 1.5
    return x


def _probe_accuracy(features: np.ndarray, target: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression

    half = len(target) // 2
    return float(LogisticRegression().fit(features[:half], target[:half]).score(features[half:], target[half:]))


def label_vs_instance_features(n: int = 1000, steps: int = 300, seed: int = 0) -> dict:
    """What a linear encoder R^4 -> R^2 learns from labels (cross-entropy) vs from views (NT-Xent).

    Data: x = (+-1.5, +-1.5, nuisance, nuisance) + noise; the label is the sign of x_1 (feature
    e1), the sign of x_2 is an attribute no label mentions (e2), and each view redraws x_3, x_4.
    Both encoders train ``steps`` Adam steps (lr 0.05, weight decay 1e-2): supervised with a
    linear head on the label, self-supervised with NT-Xent (tau = 0.2) between two views of
    batches of 256. Returns, per encoder (``"supervised"``, ``"self-supervised"``), ``share``:
    |W e_k| / sum_j |W e_j| for the four input directions, and ``label_probe`` /
    ``attribute_probe``: a logistic-regression probe's test accuracy on the frozen 2-d features
    (trained on one half of fresh views, tested on the other). Notebook 10.
    """
    from ltutorial.ssl.simclr import nt_xent

    n = check_positive_int(n, name="n", minimum=4)
    steps = check_positive_int(steps, name="steps")
    seed = check_random_state(seed, name="seed") or 0
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 2, (n,), generator=g)
    attribute = torch.randint(0, 2, (n,), generator=g)
    x = _toy_views(label, attribute, g)
    out = {}
    for kind in ("supervised", "self-supervised"):
        torch.manual_seed(seed)
        encoder = torch.nn.Linear(4, 2, bias=False)
        head = torch.nn.Linear(2, 2)
        params = list(encoder.parameters()) + (list(head.parameters()) if kind == "supervised" else [])
        opt = torch.optim.Adam(params, lr=0.05, weight_decay=1e-2)
        for _ in range(steps):
            if kind == "supervised":
                loss = F.cross_entropy(head(encoder(x)), label)
            else:
                idx = torch.randint(0, n, (min(256, n),), generator=g)
                v1, v2 = _toy_views(label[idx], attribute[idx], g), _toy_views(label[idx], attribute[idx], g)
                loss = nt_xent(encoder(v1), encoder(v2), 0.2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        w = encoder.weight.detach()
        norms = w.norm(dim=0)
        with torch.no_grad():
            feats = encoder(_toy_views(label, attribute, g)).numpy()
        out[kind] = {"share": (norms / norms.sum()).numpy(),
                     "label_probe": _probe_accuracy(feats, label.numpy()),
                     "attribute_probe": _probe_accuracy(feats, attribute.numpy())}
    return out


_WEIGHTING = ("sample", "class")


def uniformity_centres(class_counts, dim: int, *, weighting: str = "sample", t: float = 2.0, steps: int = 800, seed: int = 0) -> np.ndarray:
    """Class centres on the unit sphere that minimise a weighted uniformity loss (one row per class).

    With every sample of class c at its centre mu_c, the uniformity term of a contrastive loss
    (Wang and Isola 2020) over all pairs of samples is, up to constants,
    log sum_{c != c'} w_c w_c' exp(-t |mu_c - mu_c'|^2) with w_c = n_c / N (``weighting="sample"``);
    GH's class-level uniformity gives every class the same weight (``weighting="class"``), whose
    minimiser for K <= dim + 1 is the simplex ETF. Minimised by Adam (lr 0.05) on unnormalised
    vectors, normalised in the loss, from a seeded Gaussian start. Notebook 12.
    """
    counts = check_class_counts(class_counts).double()
    check_choice(weighting, list(_WEIGHTING), name="weighting")
    dim = check_positive_int(dim, name="dim", minimum=2)
    steps = check_positive_int(steps, name="steps")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
        raise ValueError(f"t must be a number > 0; got {t!r} instead.")
    seed = check_random_state(seed, name="seed") or 0
    k = counts.numel()
    w = counts / counts.sum() if weighting == "sample" else torch.full((k,), 1.0 / k, dtype=torch.float64)
    pair = (w[:, None] * w[None, :]).masked_fill(torch.eye(k, dtype=torch.bool), 0.0)
    mu = torch.randn(k, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).requires_grad_(True)
    opt = torch.optim.Adam([mu], lr=0.05)
    for _ in range(steps):
        u = F.normalize(mu, dim=1)
        loss = torch.log((pair * torch.exp(-t * (2 - 2 * u @ u.T))).sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return F.normalize(mu.detach(), dim=1).numpy()


def disparity_sweep(ratios, num_classes: int = 10, dim: int = 16, *, n_max: int = 1000, steps: int = 800, seed: int = 0) -> dict:
    """Mean cosine between the centres of the few classes, and of the many classes, per imbalance ratio.

    For each ratio rho, n_c = n_max rho^(-c/(K-1)) (the long-tail profile), the centres of
    :func:`uniformity_centres` with sample-level weights (contrastive learning) and with class-level
    weights (GH's target). Groups: the thirds of :func:`ltutorial.metrics.thirds_split`. A higher
    mean cosine among the few classes means they are squeezed together (the "passive collapse" of
    the tail); the simplex ETF keeps every pair at -1/(K-1). Returns arrays over ``ratios``:
    ``sample_few``, ``sample_many``, ``class_few``, ``class_many``, and ``ratios``. Notebook 12.
    """
    from ltutorial.metrics import thirds_split

    num_classes = check_positive_int(num_classes, name="num_classes", minimum=3)
    ratios = np.asarray(ratios, dtype=np.float64).reshape(-1)
    if ratios.size == 0 or not np.all(np.isfinite(ratios)) or np.any(ratios < 1):
        raise ValueError(f"ratios must be a non-empty list of imbalance ratios >= 1; got {ratios.tolist()} instead.")
    out = {key: [] for key in ("sample_few", "sample_many", "class_few", "class_many")}
    class_level = None  # equal class weights ignore the counts: one optimisation serves every ratio
    for rho in ratios:
        counts = n_max * rho ** (-np.arange(num_classes) / (num_classes - 1))
        groups = thirds_split(counts)
        for weighting in _WEIGHTING:
            if weighting == "class":
                if class_level is None:
                    class_level = uniformity_centres(counts, dim, weighting="class", steps=steps, seed=seed)
                u = class_level
            else:
                u = uniformity_centres(counts, dim, weighting=weighting, steps=steps, seed=seed)
            cos = u @ u.T
            for name in ("few", "many"):
                idx = np.asarray(groups[name])
                block = cos[np.ix_(idx, idx)]
                out[f"{weighting}_{name}"].append(float(block[~np.eye(idx.size, dtype=bool)].mean()))
    return {"ratios": ratios, **{k: np.array(v) for k, v in out.items()}}


# ---------------------------------------------------------------------- D_i vs D_b on vectors (notebook 10)
_SIGNAL_DIM, _NUISANCE_DIM = 9, 24


def _toy_signal(labels: torch.Tensor, means: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return means[labels] + 0.8 * torch.randn(labels.numel(), means.shape[1], generator=g, dtype=means.dtype)


def _toy_view(signal: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    # A view keeps the signal (plus a little noise) and redraws the 24 nuisance coordinates.
    nuisance = 3.0 * torch.randn(signal.shape[0], _NUISANCE_DIM, generator=g, dtype=signal.dtype)
    return torch.cat([signal + 0.2 * torch.randn(signal.shape, generator=g, dtype=signal.dtype), nuisance], dim=1)


def _toy_encoder(feature_dim: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(_SIGNAL_DIM + _NUISANCE_DIM, 128), torch.nn.ReLU(), torch.nn.Linear(128, feature_dim))


def _toy_simclr(signal: torch.Tensor, feature_dim: int, steps: int, seed: int, g: torch.Generator) -> torch.nn.Module:
    from ltutorial.ssl.simclr import nt_xent

    torch.manual_seed(seed)
    encoder = _toy_encoder(feature_dim)
    head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(feature_dim, 32))
    opt = torch.optim.Adam(list(encoder.parameters()) + list(head.parameters()), lr=2e-3, weight_decay=1e-5)
    for _ in range(steps):
        idx = torch.randint(0, signal.shape[0], (256,), generator=g)
        loss = nt_xent(head(encoder(_toy_view(signal[idx], g))), head(encoder(_toy_view(signal[idx], g))), 0.2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return encoder


def _toy_probe(encoder, probe: tuple, test: tuple, class_counts, g: torch.Generator) -> dict:
    from sklearn.linear_model import LogisticRegression

    from ltutorial import metrics

    with torch.no_grad():
        f_train, f_test = (encoder(_toy_view(s, g)).numpy() for s in (probe[0], test[0]))
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    pred = LogisticRegression(max_iter=2000).fit((f_train - mu) / sd, probe[1].numpy()).predict((f_test - mu) / sd)
    out = metrics.group_accuracy_by_thirds(test[1].numpy(), pred, class_counts)
    out["per_class_accuracy"] = metrics.per_class_accuracy(test[1].numpy(), pred, num_classes=len(class_counts))
    return out


def imbalanced_pretraining_toy(steps: int = 600, seed: int = 0, *, num_classes: int = 10, n_max: int = 500,
                               imbalance_ratio: float = 100, feature_dim: int = 8, test_per_class: int = 200) -> dict:
    """SimCLR on a long-tailed set D_i and a balanced set D_b of the same size, synthetic vectors.

    Data (synthetic by construction): the K class means are the vertices of a simplex ETF of
    radius 2.5 in R^9 (every pair of classes equally far apart), within-class noise 0.8, and 24
    nuisance coordinates of std 3 that every view redraws (views add noise 0.2 to the rest), so a
    random network's features are dominated by nuisance and an encoder must discover the classes.
    D_i has n_c = floor(n_max rho^(-c/(K-1))) images, D_b floor(|D_i| / K) per class (SDCLR's
    construction). Each encoder (MLP 33 -> 128 -> ``feature_dim``, projection head to 32) trains
    ``steps`` Adam steps of NT-Xent (tau 0.2, batch 256); a logistic-regression probe on 50
    labelled images per class is tested on ``test_per_class`` per class. Returns
    {"SimCLR on D_b", "SimCLR on D_i", "random weights"} -> group accuracies (many / medium / few /
    all by D_i's counts, as :func:`ltutorial.ssl.linear_probe`), plus "class_counts" (D_i's) and
    "test_labels". Notebook 10.
    """
    steps = check_positive_int(steps, name="steps")
    num_classes = check_positive_int(num_classes, name="num_classes", minimum=3)
    if num_classes > _SIGNAL_DIM + 1:
        raise ValueError(f"num_classes must be <= {_SIGNAL_DIM + 1} (an ETF in R^{_SIGNAL_DIM}); got {num_classes} instead.")
    n_max = check_positive_int(n_max, name="n_max", minimum=num_classes)
    feature_dim = check_positive_int(feature_dim, name="feature_dim")
    test_per_class = check_positive_int(test_per_class, name="test_per_class")
    if isinstance(imbalance_ratio, bool) or not isinstance(imbalance_ratio, (int, float)) or not imbalance_ratio >= 1:
        raise ValueError(f"imbalance_ratio must be a number >= 1; got {imbalance_ratio!r} instead.")
    seed = check_random_state(seed, name="seed") or 0
    from ltutorial.ssl.gh import simplex_etf

    g = torch.Generator().manual_seed(seed)
    means = 2.5 * simplex_etf(num_classes, _SIGNAL_DIM, seed=0)
    counts_i = np.floor(n_max * float(imbalance_ratio) ** (-np.arange(num_classes) / (num_classes - 1))).astype(int)
    counts_b = np.full(num_classes, counts_i.sum() // num_classes)
    labels_of = lambda counts: torch.repeat_interleave(torch.arange(num_classes), torch.as_tensor(counts))
    probe_y, test_y = labels_of(np.full(num_classes, 50)), labels_of(np.full(num_classes, test_per_class))
    probe, test = (_toy_signal(probe_y, means, g), probe_y), (_toy_signal(test_y, means, g), test_y)
    out = {}
    for name, counts in (("SimCLR on D_b", counts_b), ("SimCLR on D_i", counts_i)):
        encoder = _toy_simclr(_toy_signal(labels_of(counts), means, g), feature_dim, steps, seed, g)
        out[name] = _toy_probe(encoder, probe, test, counts_i, g)
    torch.manual_seed(seed + 1)  # a fresh, untrained network of the same shape
    out["random weights"] = _toy_probe(_toy_encoder(feature_dim), probe, test, counts_i, g)
    out["class_counts"], out["test_labels"] = counts_i, test_y
    return out
