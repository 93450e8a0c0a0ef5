"""VS loss: L_VS = -alpha_y log[e^{beta_y z_y + Delta_y} / sum_j e^{beta_j z_j + Delta_j}]. Notebook 09.

beta_j = (n_j / n_max)^gamma (CDT at tau = 0), Delta_j = tau log pi_j (LA at gamma = 0); Kini et al., NeurIPS 2021.
``TLAADRW``: Algorithm 1 of Wang et al., NeurIPS 2023, VS until T0, then beta = 1 (truncated LA) and alpha_y
proportional to pi_y^{-nu} (adaptive re-weighting, ADRW).
"""

import torch

from ltutorial._validation import check_class_counts, check_number, check_positive_int
from ltutorial.losses._common import ce_terms, log_priors, sum_to_classes, weighted_mean
from ltutorial.losses.logit_adjusted import LogitAdjustedLoss


class VSLoss(LogitAdjustedLoss):
    """VS loss: LA's CE on z'_j = beta_j z_j + Delta_j weighted by alpha, buffers ``scale``, ``shift``, ``weight``.

    Defaults gamma 0.2, tau 1.2: the official README's CIFAR-10-LT run (its argparse: gamma 0.3, tau 1.0).
    """

    def __init__(self, class_counts, gamma: float = 0.2, tau: float = 1.2, weight=None):
        super().__init__(class_counts, tau)  # tau and the shift Delta = tau log pi
        self.gamma = check_number(gamma, name="gamma")
        self.register_buffer("scale", vs_scales(self.counts, self.gamma))
        self.register_buffer("weight", self._class_weight(weight))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        return weighted_mean(ce_terms(z * self.scale + self.shift, y), self.weight[y])


class TLAADRW:
    """Algorithm 1 as an epoch hook on a ``VSLoss``: VS (alpha = 1) for epoch t < t0 (160 of 200), then TLA + ADRW:
    beta = 1, Delta = tau_after log pi (None: the loss's tau), alpha = ``adrw_weights(class_counts, nu)``."""

    def __init__(self, loss, class_counts=None, t0: int = 160, tau_after: float | None = None, nu: float = 0.15):
        if not isinstance(loss, VSLoss):
            raise ValueError(f"loss must be a VSLoss; got {type(loss).__name__} instead.")
        counts = loss.counts
        if class_counts is not None and not torch.equal(
                check_class_counts(class_counts, num_classes=loss.num_classes), counts):
            raise ValueError(f"class_counts must be the loss's own counts (or None); got {list(class_counts)} for a "
                             f"loss of {counts.tolist()} instead.")
        self.loss = loss
        self.t0 = check_positive_int(t0, name="t0", minimum=0)
        self.tau_after = loss.tau if tau_after is None else check_number(tau_after, name="tau_after")
        self.nu = check_number(nu, name="nu")
        ones = torch.ones(loss.num_classes)  # (beta, Delta, alpha) of each phase
        self.before = (vs_scales(counts, loss.gamma), log_priors(counts, loss.tau).to(torch.float32), ones)
        self.after = (ones, log_priors(counts, self.tau_after).to(torch.float32), adrw_weights(counts, self.nu))

    def __call__(self, state) -> None:
        # Every epoch writes its phase's state: idempotent, and a loss re-used for a second run restarts as VS.
        epoch = check_positive_int(getattr(state, "epoch", None), name="state.epoch", minimum=0)
        beta, delta, alpha = self.after if epoch >= self.t0 else self.before  # t >= T0: TLA + ADRW, else VS
        self.loss.scale.copy_(beta)
        self.loss.shift.copy_(delta)
        self.loss.weight.copy_(alpha)


def vs_scales(class_counts, gamma: float = 0.2) -> torch.Tensor:
    """beta_j = (n_j / n_max)^gamma (float32): 1 for the head; CIFAR-10-LT (rho 100), gamma 0.2: tail 0.398."""
    n = check_class_counts(class_counts)
    return (n / n.max()).pow(check_number(gamma, name="gamma")).to(torch.float32)


def adrw_weights(class_counts, nu: float = 1.0) -> torch.Tensor:
    """ADRW alpha_y proportional to pi_y^{-nu} summing to C (float32; DDC's ``--tro``, tuned 0.05-0.25)."""
    log_w = log_priors(check_class_counts(class_counts), -check_number(nu, name="nu"))
    return sum_to_classes(torch.exp(log_w - log_w.max()))  # shifted: a large nu overflowed exp to inf (inf / inf)
