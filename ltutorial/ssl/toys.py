"""Small computed models of the SSL slides' claims, seconds on a CPU each (synthetic by construction).

Notebook 10: SSL keeps the instance feature e2 that supervised learning drops (Liu et al., ICLR 2022);
SimCLR still suffers from imbalance (SDCLR's D_i vs D_b). Notebook 12: sample-level uniformity weights
class pairs by n_c n_c' and squeezes the tail; GH's class-level uniformity gives the simplex ETF.
"""

import numpy as np
import torch
import torch.nn.functional as F

from ltutorial import metrics
from ltutorial._validation import check_choice, check_class_counts, check_positive_int, check_random_state
from ltutorial.data.longtail import longtail_counts
from ltutorial.ssl.gh import simplex_etf
from ltutorial.ssl.simclr import nt_xent


def label_vs_instance_features(n: int = 1000, steps: int = 300, seed: int = 0) -> dict:
    """``share`` = |W e_k| / sum_j |W e_j| of a linear encoder R^4 -> R^2 trained on labels or on views (NT-Xent),
    x = (+-1.5 label, +-1.5 attribute, 2 redrawn nuisances) + noise, and its ``label_probe`` / ``attribute_probe``."""
    n, steps = check_positive_int(n, name="n", minimum=4), check_positive_int(steps, name="steps")
    g = torch.Generator().manual_seed(seed := check_random_state(seed, name="seed") or 0)
    label, attribute = torch.randint(0, 2, (n,), generator=g), torch.randint(0, 2, (n,), generator=g)
    x = _views(label, attribute, g)
    out = {}
    for kind in ("supervised", "self-supervised"):
        torch.manual_seed(seed)
        encoder, head = torch.nn.Linear(4, 2, bias=False), torch.nn.Linear(2, 2)
        params = list(encoder.parameters()) + (list(head.parameters()) if kind == "supervised" else [])
        opt = torch.optim.Adam(params, lr=0.05, weight_decay=1e-2)
        for _ in range(steps):
            if kind == "supervised":
                loss = F.cross_entropy(head(encoder(x)), label)
            else:
                idx = torch.randint(0, n, (min(256, n),), generator=g)
                loss = nt_xent(*(encoder(_views(label[idx], attribute[idx], g)) for _ in range(2)), 0.2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        norms = encoder.weight.detach().norm(dim=0)
        feats = encoder(_views(label, attribute, g)).detach().numpy()
        out[kind] = {"share": (norms / norms.sum()).numpy(), "label_probe": _probe(feats, label.numpy()),
                     "attribute_probe": _probe(feats, attribute.numpy())}
    return out


def _views(label, attribute, g):
    x = torch.randn(label.numel(), 4, generator=g) * torch.tensor([0.3, 0.3, 2.0, 2.0])
    x[:, 0] += 3.0 * label - 1.5
    x[:, 1] += 3.0 * attribute - 1.5
    return x


def _probe(features: np.ndarray, target: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression

    half = len(target) // 2
    return float(LogisticRegression().fit(features[:half], target[:half]).score(features[half:], target[half:]))


def uniformity_centres(class_counts, dim: int, *, weighting: str = "sample", steps: int = 800,
                       seed: int = 0) -> np.ndarray:
    """Unit class centres minimising log sum_{c != c'} w_c w_c' exp(-2 |mu_c - mu_c'|^2) (Wang and Isola 2020),
    w_c = n_c / N (``"sample"``: contrastive learning) or 1 / K (``"class"``: GH; the simplex ETF)."""
    counts = check_class_counts(class_counts).double()
    check_choice(weighting, ["sample", "class"], name="weighting")
    dim, steps = check_positive_int(dim, name="dim", minimum=2), check_positive_int(steps, name="steps")
    k = counts.numel()
    w = counts / counts.sum() if weighting == "sample" else torch.full((k,), 1.0 / k, dtype=torch.float64)
    pair = (w[:, None] * w[None, :]).masked_fill(torch.eye(k, dtype=torch.bool), 0.0)
    g = torch.Generator().manual_seed(check_random_state(seed, name="seed") or 0)
    mu = torch.randn(k, dim, generator=g, dtype=torch.float64).requires_grad_(True)
    opt = torch.optim.Adam([mu], lr=0.05)
    for _ in range(steps):
        u = F.normalize(mu, dim=1)
        loss = torch.log((pair * torch.exp(-2.0 * (2 - 2 * u @ u.T))).sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return F.normalize(mu.detach(), dim=1).numpy()


def disparity_sweep(ratios, num_classes: int = 10, dim: int = 16, *, steps: int = 800, seed: int = 0) -> dict:
    """Mean cosine among the few classes' and among the many classes' centres (:func:`uniformity_centres`,
    n_c = 1000 rho^(-c/(K-1))) per ratio: ``sample_few``, ``sample_many``, ``class_few``, ``class_many``."""
    num_classes = check_positive_int(num_classes, name="num_classes", minimum=3)
    ratios = np.asarray(ratios, dtype=np.float64).reshape(-1)
    if ratios.size == 0 or not np.all(np.isfinite(ratios)) or np.any(ratios < 1):
        raise ValueError(f"ratios must be a non-empty list of imbalance ratios >= 1; got {ratios.tolist()} instead.")
    out = {key: [] for key in ("sample_few", "sample_many", "class_few", "class_many")}
    # equal class weights ignore the counts: one optimisation serves every ratio
    class_level = uniformity_centres(np.ones(num_classes), dim, weighting="class", steps=steps, seed=seed)
    for rho in ratios:
        counts = 1000 * rho ** (-np.arange(num_classes) / (num_classes - 1))
        centres = {"sample": uniformity_centres(counts, dim, steps=steps, seed=seed), "class": class_level}
        for weighting, u in centres.items():
            for name, idx in metrics.thirds_split(counts).items():
                if name in ("few", "many"):
                    block = (u @ u.T)[np.ix_(idx, idx)]
                    out[f"{weighting}_{name}"].append(float(block[~np.eye(len(idx), dtype=bool)].mean()))
    return {"ratios": ratios, **{k: np.array(v) for k, v in out.items()}}


def imbalanced_pretraining_toy(steps: int = 600, seed: int = 0, *, test_per_class: int = 200) -> dict:
    """Thirds accuracies of SimCLR on a long-tailed D_i (n_c = floor(500 * 100^(-c/9))) and on a balanced D_b of its
    size, and of random weights: class means on a simplex ETF in R^9 plus 24 redrawn nuisances, MLP 33 -> 128 -> 8."""
    steps = check_positive_int(steps, name="steps")
    test_per_class = check_positive_int(test_per_class, name="test_per_class")
    g = torch.Generator().manual_seed(seed := check_random_state(seed, name="seed") or 0)
    means = 2.5 * simplex_etf(10, 9, seed=0)
    counts_i = np.asarray(longtail_counts(500, 10, 100))

    def labels_of(counts):
        return torch.repeat_interleave(torch.arange(10), torch.as_tensor(counts))

    def signal(labels):
        return means[labels] + 0.8 * torch.randn(labels.numel(), 9, generator=g)

    probe_y, test_y = labels_of(np.full(10, 50)), labels_of(np.full(10, test_per_class))
    probe, test = (signal(probe_y), probe_y), (signal(test_y), test_y)
    out = {}
    for name, counts in (("SimCLR on D_b", np.full(10, counts_i.sum() // 10)), ("SimCLR on D_i", counts_i)):
        x = signal(labels_of(counts))
        torch.manual_seed(seed)
        encoder, head = _toy_encoder(), torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(8, 32))
        opt = torch.optim.Adam(list(encoder.parameters()) + list(head.parameters()), lr=2e-3, weight_decay=1e-5)
        for _ in range(steps):
            idx = torch.randint(0, x.shape[0], (256,), generator=g)
            loss = nt_xent(head(encoder(_toy_view(x[idx], g))), head(encoder(_toy_view(x[idx], g))), 0.2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        out[name] = _toy_probe(encoder, probe, test, counts_i, g)
    torch.manual_seed(seed + 1)  # a fresh, untrained network of the same shape
    out["random weights"] = _toy_probe(_toy_encoder(), probe, test, counts_i, g)
    out["class_counts"], out["test_labels"] = counts_i, test_y
    return out


def _toy_view(signal, g):
    # A view keeps the signal (plus a little noise) and redraws the 24 nuisance coordinates.
    nuisance = 3.0 * torch.randn(signal.shape[0], 24, generator=g)
    return torch.cat([signal + 0.2 * torch.randn(signal.shape, generator=g), nuisance], dim=1)


def _toy_encoder():
    return torch.nn.Sequential(torch.nn.Linear(33, 128), torch.nn.ReLU(), torch.nn.Linear(128, 8))


def _toy_probe(encoder, probe, test, class_counts, g) -> dict:
    from sklearn.linear_model import LogisticRegression

    f_train, f_test = (encoder(_toy_view(s, g)).detach().numpy() for s in (probe[0], test[0]))
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-6
    pred = LogisticRegression(max_iter=2000).fit((f_train - mu) / sd, probe[1].numpy()).predict((f_test - mu) / sd)
    return metrics.group_accuracy_by_thirds(test[1].numpy(), pred, class_counts)
