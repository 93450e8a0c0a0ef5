"""Focal loss, softmax form (Lin et al., ICCV 2017, as in the LDAM-DRW code) and the sigmoid form
of the class-balanced paper (Cui et al., CVPR 2019). Notebooks 06 and 07."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ltutorial._validation import check_choice
from ltutorial.losses._common import LongTailLoss, check_hyperparameter, weighted_mean

__all__ = ["FocalLoss", "softmax_focal_terms", "sigmoid_focal_terms"]

_FORMS = ("softmax", "sigmoid")


def softmax_focal_terms(z: torch.Tensor, targets: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample softmax focal terms (1 - p_y)^gamma * (-log p_y), p_y = softmax(z)_y (float32 z).

    Lin et al., ICCV 2017; the form of the LDAM-DRW code. Notebooks 06, 07.

    p_y comes from the *unweighted* cross-entropy: the LDAM-DRW code computes it from the
    class-weighted CE, so p_y is exp(-w_y CE_y), wrong whenever a weight w_y differs from 1 (Lin et al.
    define p_t as the model's probability of the true class, Sec. 3.1).
    """
    logp_y = F.log_softmax(z, dim=1).gather(1, targets[:, None]).squeeze(1)
    ce = -logp_y
    if gamma == 0:
        return ce
    # 1 - p_y = -expm1(log p_y) keeps precision when p_y is near 1; the floor keeps the gradient of
    # x^gamma (infinite at 0 for gamma < 1) finite when a logit of 1e4 makes p_y exactly 1.
    one_minus_p = (-torch.expm1(logp_y)).clamp_min(1e-30)
    return one_minus_p.pow(gamma) * ce


def sigmoid_focal_terms(z: torch.Tensor, targets: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample sum over the C one-vs-all outputs of (1 - p_t)^gamma * BCE(z_j, t_j).

    t = one-hot(y), p = sigmoid(z), p_t = p if t = 1 else 1 - p. The modulator is computed from the
    logits as exp(-gamma t z - gamma softplus(-z)) (CB paper's code, with softplus for stability):
    it equals (1 - sigmoid(z))^gamma for t = 1 and sigmoid(z)^gamma for t = 0. gamma = 0 gives the
    plain sigmoid (binary) cross-entropy summed over classes. Cui et al., CVPR 2019. Notebook 06.
    """
    t = F.one_hot(targets, z.shape[1]).to(z.dtype)
    bce = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    if gamma != 0:
        bce = torch.exp(-gamma * t * z - gamma * F.softplus(-z)) * bce
    return bce.sum(dim=1)


class FocalLoss(LongTailLoss):
    """Focal loss: mean over the batch of (1 - p_y)^gamma * (-log p_y).

    ``form="softmax"`` (default): p_y = softmax(z)_y, the form in the LDAM-DRW code and the
    "Focal" rows of the LDAM and CB tables (gamma = 1); gamma = 0 is cross-entropy.
    ``form="sigmoid"``: the CB paper's sigmoid focal loss, sum over the C one-vs-all terms
    (see ``sigmoid_focal_terms``), divided by the batch size (= number of positives).
    Optional per-class ``weight`` (a buffer): weighted mean sum w_y l / sum w_y, with p_y from the
    unweighted softmax (the LDAM-DRW code takes p from the weighted CE and divides by the batch size).
    Lin et al., "Focal loss for dense object detection", ICCV 2017. Notebooks 06, 07.
    """

    def __init__(self, gamma: float = 1.0, *, form: str = "softmax", weight=None, class_counts=None):
        super().__init__(class_counts)
        self.gamma = check_hyperparameter(gamma, "gamma")
        check_choice(form, list(_FORMS), name="form")
        self.form = form
        self._register_optional_weight(weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        if self.form == "softmax":
            per_sample = softmax_focal_terms(z, y, self.gamma)
        else:
            per_sample = sigmoid_focal_terms(z, y, self.gamma)
        return weighted_mean(per_sample, None if self.weight is None else self.weight[y])

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, form={self.form!r}"
