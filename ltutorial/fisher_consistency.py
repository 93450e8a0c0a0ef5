"""Fisher consistency for the balanced error, checked numerically on a small discrete problem (notebook 08).

A scorer on n_x points is an n_x x K table f: a loss's population risk is minimised directly and its argmax compared
with the balanced Bayes rule argmax_y P(y|x) / P(y) (Menon et al., ICLR 2021, Theorem 1).
"""

from dataclasses import dataclass

import numpy as np
import torch

from ltutorial.posthoc import as_float_tensor

PLAIN_CE = "plain CE (alpha=1, Delta=0)"


def pairwise_risk(f: torch.Tensor, joint: torch.Tensor, alpha: torch.Tensor, log_delta: torch.Tensor) -> torch.Tensor:
    """The slide's R(f) = sum_{x,y} P(x, y) alpha_y log(1 + sum_{y' != y} exp(Delta_yy' + f_y'(x) - f_y(x))),
    Delta_yy' = log_delta[y'] - log_delta[y], ``joint`` = P(y, x) (K x n_x); alpha = 1, Delta = 0 is CE."""
    diff = f[:, None, :] - f[:, :, None] + log_delta[None, None, :] - log_delta[None, :, None]  # [x, y, y']
    diff = diff.masked_fill(torch.eye(f.shape[1], dtype=torch.bool)[None], float("-inf"))
    return (joint.T * (alpha[None, :] * torch.log1p(torch.exp(diff).sum(-1)))).sum()


def minimise_pairwise_risk(joint, alpha, log_delta) -> torch.Tensor:
    """The n_x x K table f* minimising ``pairwise_risk`` (L-BFGS, float64), unique up to a constant per x."""
    pxy, a, d = float64(joint, "joint", 2), float64(alpha, "alpha", 1), float64(log_delta, "log_delta", 1)
    f = torch.zeros(pxy.shape[1], pxy.shape[0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([f], max_iter=3000, tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        risk = pairwise_risk(f, pxy, a, d)
        risk.backward()
        return risk

    opt.step(closure)
    return f.detach()


def balanced_error(p_x_given_y, h) -> float:
    """BER = 1 - (1/K) sum_y P(h(x) = y | y) of a classifier h, one label per x (Brodersen et al. 2010)."""
    cond, h = float64(p_x_given_y, "p_x_given_y", 2).numpy(), np.asarray(h)
    if h.shape != (cond.shape[1],) or h.dtype.kind not in "iu" or h.min(initial=0) < 0 or h.max(initial=0) >= len(cond):
        raise ValueError(f"h must hold one label in [0, {len(cond)}) per x ({cond.shape[1]}); got {h.tolist()!r} "
                         "instead.")
    return float(1 - np.mean([cond[y, h == y].sum() for y in range(cond.shape[0])]))


@dataclass
class FisherCheck:
    """Per loss name: the minimiser f*, its argmax per x and balanced error; the balanced Bayes rule and its error."""

    minimisers: dict
    predictions: dict
    balanced_errors: dict
    balanced_bayes: np.ndarray
    bayes_balanced_error: float


def fisher_consistency(priors, p_x_given_y, deltas: dict) -> FisherCheck:
    """Minimise Theorem 1's risk per delta in ``deltas`` (alpha_y = delta_y / P(y), Delta_yy' = log(delta_y' / delta_y):
    consistent for every delta > 0) and for ``PLAIN_CE``, the counter-example; compare with the balanced Bayes rule."""
    pri, cond = float64(priors, "priors", 1), float64(p_x_given_y, "p_x_given_y", 2)
    if pri.numel() < 2 or bool((pri <= 0).any()) or abs(float(pri.sum()) - 1) > 1e-6:
        raise ValueError(f"priors must hold >= 2 positive probabilities summing to 1; got {pri.tolist()} instead.")
    if cond.shape[0] != pri.numel():
        raise ValueError(f"p_x_given_y must have one row per class ({pri.numel()}); got shape {tuple(cond.shape)}.")
    if bool((cond < 0).any()) or not torch.allclose(cond.sum(1), torch.ones_like(pri), atol=1e-6):
        raise ValueError("p_x_given_y must hold non-negative rows summing to 1 (a distribution over x per class); "
                         f"got row sums {cond.sum(1).tolist()} instead.")
    if not isinstance(deltas, dict) or PLAIN_CE in deltas:
        raise ValueError(f"deltas must be a dict name -> delta (length {pri.numel()}, > 0) without the name "
                         f"{PLAIN_CE!r}; got {deltas!r} instead.")
    losses = {}
    for name, delta in deltas.items():
        d = float64(delta, f"deltas[{name!r}]", 1)
        if d.numel() != pri.numel() or bool((d <= 0).any()):
            raise ValueError(f"deltas[{name!r}] must hold {pri.numel()} positive numbers; got {d.tolist()} instead.")
        losses[name] = (d / pri, torch.log(d))
    losses[PLAIN_CE] = (torch.ones_like(pri), torch.zeros_like(pri))
    joint = pri[:, None] * cond  # P(y, x)
    balanced_bayes = (torch.log((joint / joint.sum(0)).T) - torch.log(pri)).argmax(1).numpy()
    minimisers = {name: minimise_pairwise_risk(joint, a, d) for name, (a, d) in losses.items()}
    predictions = {name: f.argmax(1).numpy() for name, f in minimisers.items()}
    return FisherCheck(minimisers, predictions, {name: balanced_error(cond, p) for name, p in predictions.items()},
                       balanced_bayes, balanced_error(cond, balanced_bayes))


def float64(x, name: str, ndim: int) -> torch.Tensor:
    return as_float_tensor(x, name, ndim).to("cpu", torch.float64)
