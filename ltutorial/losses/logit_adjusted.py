"""Logit-adjusted loss: l = -log[e^{z_y + tau log pi_y} / sum_j e^{z_j + tau log pi_j}]. Notebooks 08, 09.

Fisher consistent for the balanced error at tau = 1 (Menon et al., ICLR 2021, Theorem 1; Balanced Softmax, Ren et
al., NeurIPS 2020). Post-hoc: ``posthoc.logit_adjust``.
"""

import torch

from ltutorial._validation import check_number
from ltutorial.losses._common import LongTailLoss, ce_terms, log_priors


class LogitAdjustedLoss(LongTailLoss):
    """CE(z + tau log pi, y), the batch mean; buffer ``shift`` = tau log pi; predict with the raw z."""

    def __init__(self, class_counts, tau: float = 1.0):
        super().__init__(class_counts)
        self.tau = check_number(tau, name="tau")
        self.register_buffer("shift", log_priors(self.counts, self.tau).to(torch.float32))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        return ce_terms(z + self.shift, y).mean()
