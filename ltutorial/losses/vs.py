"""Vector-scaling loss (Kini et al., NeurIPS 2021) and the two-phase VS -> TLA + ADRW loss of
Wang et al. (NeurIPS 2023, the slides' Algorithm 1). Notebook 09."""

from __future__ import annotations

import torch

from ltutorial._validation import check_class_counts
from ltutorial.losses._common import LongTailLoss, check_hyperparameter, log_priors, weighted_mean

__all__ = ["vs_scales", "adrw_weights", "VSLoss", "TLAADRWLoss"]


def vs_scales(class_counts, gamma: float = 0.2) -> torch.Tensor:
    """Multiplicative VS factors Delta_j = (n_j / n_max)^gamma (float32): 1 for the head, smallest for the tail.

    The official code divides z by (n_max / n_j)^gamma, the same number. CIFAR-10-LT (rho 100) at
    gamma = 0.2: tail factor 0.01^0.2 = 0.398. Notebook 09.
    """
    n = check_class_counts(class_counts)
    gamma = check_hyperparameter(gamma, "gamma")
    return (n / n.max()).pow(gamma).to(torch.float32)


def adrw_weights(class_counts, nu: float = 1.0) -> torch.Tensor:
    """ADRW class weights alpha_y proportional to pi_y^{-nu}, normalised to sum to C (float32).

    nu = 0: all ones; nu = 1: inverse frequency. The DDC code's ``--tro``; tuned values are small
    (0.05-0.25). Wang et al., NeurIPS 2023 (the slides' Algorithm 1, line 7). Notebook 09.
    """
    n = check_class_counts(class_counts)
    nu = check_hyperparameter(nu, "nu")
    w = torch.exp(-nu * log_priors(n))
    return (w * (w.numel() / w.sum())).to(torch.float32)


class VSLoss(LongTailLoss):
    """Vector-scaling loss: weighted CE on z'_j = Delta_j z_j + iota_j for every class j.

    Delta_j = (n_j / n_max)^gamma (buffer ``scale``; multiplicative, the CDT part),
    iota_j = tau log pi_j (buffer ``shift``; additive, the LA part), class weights omega_y (buffer
    ``weight``, ones unless given) with the weighted mean sum omega_y l / sum omega_y (the official
    code's PyTorch ``weight=``). gamma = 0 is the LA loss, tau = 0 is CDT. Predict with raw z.
    Defaults gamma = 0.2, tau = 1.0: the official code's argparse defaults are gamma 0.3, tau 1.0, but
    its README's CIFAR-10-LT example runs gamma 0.2 (tau 1.2), and 0.2 is the CIFAR setting we follow.
    Kini et al., "Label-imbalanced and group-sensitive classification under overparameterization",
    NeurIPS 2021. Notebook 09.
    """

    def __init__(self, class_counts, gamma: float = 0.2, tau: float = 1.0, weight=None):
        super().__init__(class_counts)
        self.gamma = check_hyperparameter(gamma, "gamma")
        self.tau = check_hyperparameter(tau, "tau")
        self.register_buffer("scale", vs_scales(self._counts64, self.gamma))
        self.register_buffer("shift", (self.tau * log_priors(self._counts64)).to(torch.float32))
        self._register_weight(weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        return weighted_mean(self._ce(z * self.scale + self.shift, y), self.weight[y])

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, gamma={self.gamma}, tau={self.tau}"


class TLAADRWLoss(VSLoss):
    """The principled algorithm's loss: VS in phase 0, truncated LA + ADRW in phase 1.

    Phase 0 (t < T0, Algorithm 1 line 5): alpha = 1, beta_y = (n_y/n_max)^gamma, Delta_y = tau log pi_y.
    Phase 1 (t >= T0, line 7): the multiplicative part is truncated (beta_y = 1), Delta_y =
    tau_after log pi_y, alpha_y proportional to pi_y^{-nu} (``adrw_weights``, normalised to sum to C).
    Batch reduction: sum_i alpha_{y_i} l_i / sum_i alpha_{y_i}, the DDC code's PyTorch ``weight=``
    (its published numbers use it); Algorithm 1 writes (1/m) sum_i alpha_{y_i} l_i, which differs
    only by the batch's mean weight, a per-step rescaling of the learning rate.
    The phase is the ``phase`` buffer and every parameter lives in buffers switched in place by
    ``set_phase`` (usually through the ``TLAADRWSchedule`` epoch hook), so a CUDA-graphed step sees it.
    Defaults are the DDC code's CIFAR-10-LT rho=100 tuning: gamma 0.05, tau 1.0, nu 0.15, tau_after 1.0.
    Wang et al., "A unified generalization analysis of re-weighting and logit-adjustment for
    imbalanced learning", NeurIPS 2023 (official code wang22ti/DDC). Notebook 09.
    """

    def __init__(self, class_counts, gamma: float = 0.05, tau: float = 1.0, nu: float = 0.15,
                 tau_after: float | None = None):
        super().__init__(class_counts, gamma=gamma, tau=tau)
        self.nu = check_hyperparameter(nu, "nu")
        self.tau_after = self.tau if tau_after is None else check_hyperparameter(tau_after, "tau_after")
        lp = log_priors(self._counts64)
        self.register_buffer("phase", torch.zeros((), dtype=torch.long))
        self.register_buffer("vs_scale", self.scale.clone())
        self.register_buffer("vs_shift", self.shift.clone())
        self.register_buffer("tla_shift", (self.tau_after * lp).to(torch.float32))
        self.register_buffer("adrw_weight", adrw_weights(self._counts64, self.nu))

    def set_nu(self, nu: float) -> None:
        """Change the ADRW exponent in place (the weights apply from phase 1)."""
        self.nu = check_hyperparameter(nu, "nu")
        self.adrw_weight.copy_(adrw_weights(self._counts64, self.nu))
        if int(self.phase) == 1:
            self.weight.copy_(self.adrw_weight)

    def set_tau_after(self, tau_after: float) -> None:
        """Change the phase-1 logit-adjustment strength in place."""
        self.tau_after = check_hyperparameter(tau_after, "tau_after")
        self.tla_shift.copy_((self.tau_after * log_priors(self._counts64)).to(torch.float32))
        if int(self.phase) == 1:
            self.shift.copy_(self.tla_shift)

    def set_phase(self, phase: int) -> None:
        """Switch the buffers to phase 0 (VS) or 1 (TLA + ADRW) in place."""
        if phase not in (0, 1):
            raise ValueError(f"phase must be 0 (VS) or 1 (TLA + ADRW); got {phase!r} instead.")
        if phase == 0:
            self.scale.copy_(self.vs_scale)
            self.shift.copy_(self.vs_shift)
            self.weight.fill_(1.0)
        else:
            self.scale.fill_(1.0)
            self.shift.copy_(self.tla_shift)
            self.weight.copy_(self.adrw_weight)
        self.phase.fill_(phase)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, gamma={self.gamma}, tau={self.tau}, nu={self.nu}, "
                f"tau_after={self.tau_after}")
