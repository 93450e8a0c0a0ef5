"""LDAM: label-distribution-aware margin loss (Cao et al., NeurIPS 2019). Notebooks 07 and 09."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ltutorial._validation import check_class_counts
from ltutorial.losses._common import LongTailLoss, check_hyperparameter, weighted_mean

__all__ = ["ldam_margins", "LDAMLoss"]


def ldam_margins(class_counts, max_m: float = 0.5) -> torch.Tensor:
    """Per-class margins Delta_j = K / n_j^{1/4}, with K such that max_j Delta_j = max_m (float32).

    Equivalently Delta_j = max_m (n_min / n_j)^{1/4}: the tail gets max_m, the head of CIFAR-10-LT
    (rho 100) gets 0.5 / 100^{1/4} = 0.158. The n^{-1/4} law minimises the two-class margin bound
    1/(gamma_1 sqrt n_1) + 1/(gamma_2 sqrt n_2) under gamma_1 + gamma_2 fixed. Notebook 07.
    """
    n = check_class_counts(class_counts)
    max_m = check_hyperparameter(max_m, "max_m", positive=True)
    m = n.pow(-0.25)
    return (m * (max_m / m.max())).to(torch.float32)


class LDAMLoss(LongTailLoss):
    """LDAM loss: CE on s * (z - Delta_y e_y), i.e. the true-class logit lowered by its class margin.

    l = -w_y log[ e^{s(z_y - Delta_y)} / (e^{s(z_y - Delta_y)} + sum_{j != y} e^{s z_j}) ],
    Delta = ``ldam_margins(class_counts, max_m)`` (buffer ``margins``), s = 30 for the cosine
    classifier the paper's code uses (``resnet32(normed=True)``; logits in [-1, 1]). ``weight``
    (buffer, ones by default) gives the weighted mean sum w_y l / sum w_y; ``DeferredReweighting``
    fills it with class-balanced weights at epoch 160 (LDAM-DRW). Test time: argmax of raw z.
    Cao et al., "Learning imbalanced datasets with label-distribution-aware margin loss",
    NeurIPS 2019. Notebooks 07, 09.
    """

    def __init__(self, class_counts, max_m: float = 0.5, s: float = 30.0, weight=None):
        super().__init__(class_counts)
        self.max_m = check_hyperparameter(max_m, "max_m", positive=True)
        self.s = check_hyperparameter(s, "s", positive=True)
        self.register_buffer("margins", ldam_margins(self._counts64, self.max_m))
        self._register_weight(weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        # A dense one-hot product instead of boolean indexing: same cost, and no data-dependent shapes.
        shifted = z - F.one_hot(y, z.shape[1]).to(z.dtype) * self.margins[y][:, None]
        per_sample = self._ce(self.s * shifted, y)
        return weighted_mean(per_sample, self.weight[y])

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, max_m={self.max_m}, s={self.s}"
