"""Fisher consistency for the balanced error, checked numerically on a small discrete problem.

A discrete problem is given by class priors P(y) (length K) and class-conditionals P(x|y) (K rows
over n_x values of x). A scorer f is then just an n_x x K table, so the population risk of a loss
can be minimised directly and its argmax compared with the balanced Bayes rule
argmax_y P(y|x) / P(y) (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021,
Theorem 1). Notebook 08, section 4, uses this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ltutorial._validation import check_choice

PLAIN_CE = "plain CE (alpha=1, Delta=0)"


def _as_float64(x, name: str, ndim: int) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu", torch.float64)
    else:
        try:
            t = torch.as_tensor(np.asarray(x, dtype=np.float64))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a {ndim}-D array of numbers; got {type(x).__name__} instead.") from None
    if t.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {tuple(t.shape)} instead.")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite; got NaN or inf values instead.")
    return t


def _check_problem(priors, p_x_given_y) -> tuple[torch.Tensor, torch.Tensor]:
    pri = _as_float64(priors, "priors", 1)
    if pri.numel() < 2 or bool((pri <= 0).any()) or abs(float(pri.sum()) - 1) > 1e-6:
        raise ValueError(f"priors must hold >= 2 positive probabilities summing to 1; got {pri.tolist()} instead.")
    cond = _as_float64(p_x_given_y, "p_x_given_y", 2)
    if cond.shape[0] != pri.numel():
        raise ValueError(f"p_x_given_y must have one row per class ({pri.numel()}); got shape {tuple(cond.shape)} instead.")
    if bool((cond < 0).any()) or not torch.allclose(cond.sum(1), torch.ones(cond.shape[0], dtype=torch.float64), atol=1e-6):
        raise ValueError("p_x_given_y must hold non-negative rows summing to 1 (a distribution over x per class); "
                         f"got row sums {cond.sum(1).tolist()} instead.")
    return pri, cond


def pairwise_risk(f: torch.Tensor, joint: torch.Tensor, alpha: torch.Tensor, log_delta: torch.Tensor) -> torch.Tensor:
    """Population risk of the slide's pairwise loss on a discrete problem.

    R(f) = sum_{x,y} P(x, y) alpha_y log(1 + sum_{y' != y} exp(Delta_{yy'} + f_{y'}(x) - f_y(x))),
    Delta_{yy'} = log_delta[y'] - log_delta[y]. ``f``: n_x x K scores, ``joint``: K x n_x table of
    P(y, x). Theorem 1 (Menon et al., ICLR 2021) takes alpha_y = delta_y / P(y); alpha = 1 with
    Delta = 0 is plain softmax cross-entropy. Differentiable in ``f``; notebook 08.
    """
    num_classes = f.shape[1]
    diff = f[:, None, :] - f[:, :, None] + log_delta[None, None, :] - log_delta[None, :, None]  # [x, y, y']
    diff = diff.masked_fill(torch.eye(num_classes, dtype=torch.bool)[None], float("-inf"))
    per_xy = alpha[None, :] * torch.log1p(torch.exp(diff).sum(-1))  # [x, y]
    return (joint.T * per_xy).sum()


def minimise_pairwise_risk(joint, alpha, log_delta, *, max_iter: int = 3000) -> torch.Tensor:
    """The n_x x K table f* minimising ``pairwise_risk`` (L-BFGS in float64 from f = 0).

    The risk is convex in f but only determined up to a constant per x, and for an x where one
    class has no mass the optimum is at infinity; the argmax per x is what a consistency check
    reads. ``joint``: K x n_x P(y, x); ``alpha``, ``log_delta``: length K. Notebook 08.
    """
    pxy = _as_float64(joint, "joint", 2)
    a = _as_float64(alpha, "alpha", 1)
    d = _as_float64(log_delta, "log_delta", 1)
    num_classes = pxy.shape[0]
    if a.numel() != num_classes or d.numel() != num_classes:
        raise ValueError(f"alpha and log_delta must have one entry per class ({num_classes}); "
                         f"got {a.numel()} and {d.numel()} instead.")
    if bool((a <= 0).any()):
        raise ValueError(f"alpha must be > 0 for every class; got {a.tolist()} instead.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r} instead.")
    f = torch.zeros(pxy.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([f], max_iter=int(max_iter), tolerance_grad=1e-12, tolerance_change=1e-14,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        risk = pairwise_risk(f, pxy, a, d)
        risk.backward()
        return risk

    opt.step(closure)
    return f.detach()


def balanced_error(p_x_given_y, h) -> float:
    """Balanced error of a classifier h (one label per x): BER = 1 - (1/K) sum_y P(h(x) = y | y).

    Brodersen et al. (2010); the error Theorem 1 (Menon et al., ICLR 2021) is about. Notebook 08.
    """
    cond = _as_float64(p_x_given_y, "p_x_given_y", 2).numpy()
    h = np.asarray(h)
    if h.shape != (cond.shape[1],) or h.dtype.kind not in "iu" or (h.size and (h.min() < 0 or h.max() >= cond.shape[0])):
        raise ValueError(f"h must hold one class index in [0, {cond.shape[0]}) per x ({cond.shape[1]}); got {h!r} instead.")
    return float(1 - np.mean([cond[y, h == y].sum() for y in range(cond.shape[0])]))


@dataclass
class FisherCheck:
    """The result of ``fisher_consistency``.

    ``minimisers[name]``: the risk minimiser f* (n_x x K), ``predictions[name]``: its argmax per x,
    ``balanced_errors[name]``: the balanced error of that prediction; ``balanced_bayes``: the
    balanced Bayes rule argmax_y P(y|x)/P(y) and ``bayes_balanced_error`` its (minimal) balanced error.
    """

    minimisers: dict
    predictions: dict
    balanced_errors: dict
    balanced_bayes: np.ndarray
    bayes_balanced_error: float

    def consistent(self, name: str) -> bool:
        """Whether the minimiser of loss ``name`` predicts like the balanced Bayes rule for every x."""
        check_choice(name, list(self.predictions), name="name")
        return bool(np.array_equal(self.predictions[name], self.balanced_bayes))


def fisher_consistency(priors, p_x_given_y, deltas: dict, *, include_plain_ce: bool = True,
                       max_iter: int = 3000) -> FisherCheck:
    """Minimise the population risk of Theorem 1's pairwise loss for each delta; compare with Bayes.

    For each ``deltas[name]`` = delta (length K, > 0) the loss has alpha_y = delta_y / P(y) and
    Delta_{yy'} = log(delta_{y'} / delta_y) (Menon et al., ICLR 2021, Theorem 1: Fisher consistent
    for the balanced error for every delta; delta = P(y) is the logit-adjusted loss, delta = 1
    inverse-prior weighting). ``include_plain_ce`` adds the counter-example alpha = 1, Delta = 0
    (plain cross-entropy) under the name ``PLAIN_CE``. The balanced Bayes rule is
    argmax_y log P(y|x) - log P(y). Notebook 08, section 4.
    """
    pri, cond = _check_problem(priors, p_x_given_y)
    if not isinstance(deltas, dict):
        raise ValueError(f"deltas must be a dict name -> delta (length {pri.numel()}, > 0); got {type(deltas).__name__} instead.")
    losses = {}
    for name, delta in deltas.items():
        d = _as_float64(delta, f"deltas[{name!r}]", 1)
        if d.numel() != pri.numel() or bool((d <= 0).any()):
            raise ValueError(f"deltas[{name!r}] must hold {pri.numel()} positive numbers; got {d.tolist()} instead.")
        losses[name] = (d / pri, torch.log(d))
    if include_plain_ce:
        if PLAIN_CE in losses:
            raise ValueError(f"deltas must not use the name {PLAIN_CE!r} when include_plain_ce=True; got it as a key instead.")
        losses[PLAIN_CE] = (torch.ones_like(pri), torch.zeros_like(pri))
    joint = pri[:, None] * cond  # P(y, x)
    posterior = (joint / joint.sum(0)).T  # P(y | x), rows x
    balanced_bayes = (torch.log(posterior) - torch.log(pri / pri.sum())).argmax(1).numpy()
    minimisers, predictions, errors = {}, {}, {}
    for name, (alpha, log_delta) in losses.items():
        minimisers[name] = minimise_pairwise_risk(joint, alpha, log_delta, max_iter=max_iter)
        predictions[name] = minimisers[name].argmax(1).numpy()
        errors[name] = balanced_error(cond, predictions[name])
    return FisherCheck(minimisers=minimisers, predictions=predictions, balanced_errors=errors,
                       balanced_bayes=balanced_bayes, bayes_balanced_error=balanced_error(cond, balanced_bayes))
