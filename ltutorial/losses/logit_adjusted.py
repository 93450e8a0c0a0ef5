"""Logit-adjusted loss (Menon et al., ICLR 2021) and Balanced Softmax (Ren et al., NeurIPS 2020).
Notebook 08; post-hoc adjustment is ``ltutorial.posthoc.logit_adjust``."""

from __future__ import annotations

import torch

from ltutorial.losses._common import LongTailLoss, check_hyperparameter, log_priors

__all__ = ["LogitAdjustedLoss", "BalancedSoftmaxLoss"]


class LogitAdjustedLoss(LongTailLoss):
    """Logit-adjusted softmax cross-entropy: CE(z + tau log pi, y), batch mean.

    l = -log[ e^{z_y + tau log pi_y} / sum_j e^{z_j + tau log pi_j} ]
      = log[ 1 + sum_{j != y} (pi_j / pi_y)^tau e^{z_j - z_y} ],
    pi_j = n_j / N from the training counts (buffer ``shift`` = tau log pi). The shift is applied to
    every logit during training only; predict with the raw z. Fisher consistent for the balanced
    error at tau = 1 (Theorem 1 of the paper with delta = pi). tau = 0 is plain CE.
    Menon et al., "Long-tail learning via logit adjustment", ICLR 2021. Notebooks 08, 09.
    """

    def __init__(self, class_counts, tau: float = 1.0):
        super().__init__(class_counts)
        self.tau = check_hyperparameter(tau, "tau")
        self.register_buffer("shift", (self.tau * log_priors(self._counts64)).to(torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        return self._ce(z + self.shift, y).mean()

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, tau={self.tau}"


class BalancedSoftmaxLoss(LogitAdjustedLoss):
    """Balanced Softmax: CE(z + log n, y), identical to the logit-adjusted loss at tau = 1.

    Adding log n_j instead of log pi_j differs by the constant log N, which cancels in the softmax.
    Ren et al., "Balanced meta-softmax for long-tailed visual recognition", NeurIPS 2020. Notebook 08.
    """

    def __init__(self, class_counts):
        super().__init__(class_counts, tau=1.0)
