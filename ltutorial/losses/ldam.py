"""LDAM: l = -log[e^{z_y - Delta_y} / (e^{z_y - Delta_y} + sum_{j != y} e^{z_j})], Delta_j = K / n_j^{1/4}.

DRW switches to class-balanced weights at the first lr drop (LDAM-DRW). Cao et al., NeurIPS 2019. Notebooks 07, 09.
"""

import torch
import torch.nn.functional as F

from ltutorial._validation import check_class_counts, check_number, check_positive_int
from ltutorial.losses._common import LongTailLoss, ce_terms, weighted_mean
from ltutorial.losses.class_balanced import class_balanced_weights


class LDAMLoss(LongTailLoss):
    """LDAM loss: CE on s (z - Delta_y e_y) weighted by ``weight`` (DRW fills it); s = 30 with a cosine classifier."""

    def __init__(self, class_counts, max_m: float = 0.5, s: float = 30.0, weight=None):
        super().__init__(class_counts)
        self.max_m = check_number(max_m, name="max_m", strict=True)
        self.s = check_number(s, name="s", strict=True)
        self.register_buffer("margins", ldam_margins(self.counts, self.max_m))
        self.register_buffer("weight", self._class_weight(weight))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        # A dense one-hot product rather than boolean indexing: no data-dependent shapes in a captured step.
        shifted = z - F.one_hot(y, z.shape[1]).to(z.dtype) * self.margins[y][:, None]
        return weighted_mean(ce_terms(self.s * shifted, y), self.weight[y])


class DeferredReweighting:
    """DRW epoch hook: ``loss.weight`` = 1 for epoch t < ``start_epoch`` (160 of 200), class-balanced after
    (``class_counts``: None takes the loss's own)."""

    def __init__(self, loss, class_counts=None, start_epoch: int = 160, beta: float = 0.9999):
        weight = getattr(loss, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise ValueError(f"loss must have a per-class 'weight' buffer (LDAMLoss, VSLoss, ...); got "
                             f"{type(loss).__name__} instead.")
        if class_counts is None and getattr(loss, "counts", None) is None:
            raise ValueError(f"class_counts must be given for a loss without class counts; got None for "
                             f"{type(loss).__name__} instead.")
        self.loss = loss
        self.start_epoch = check_positive_int(start_epoch, name="start_epoch", minimum=0)
        counts = check_class_counts(loss.counts if class_counts is None else class_counts, num_classes=weight.numel())
        self.deferred_weight = class_balanced_weights(counts, beta)

    def __call__(self, state) -> None:
        epoch = check_positive_int(getattr(state, "epoch", None), name="state.epoch", minimum=0)
        self.loss.weight.copy_(self.deferred_weight if epoch >= self.start_epoch else torch.ones_like(self.loss.weight))


def ldam_margins(class_counts, max_m: float = 0.5) -> torch.Tensor:
    """Delta_j = max_m (n_min / n_j)^{1/4} (float32; CIFAR-10-LT rho 100: head 0.158, tail 0.5): the n^{-1/4} law
    minimises the two-class margin bound 1/(gamma_1 sqrt n_1) + 1/(gamma_2 sqrt n_2) at fixed gamma_1 + gamma_2."""
    m = check_class_counts(class_counts).pow(-0.25)
    return (m * (check_number(max_m, name="max_m", strict=True) / m.max())).to(torch.float32)
