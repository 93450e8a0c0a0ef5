"""Class-balanced loss by the effective number of samples (Cui et al., CVPR 2019). Notebook 06."""

from __future__ import annotations

import torch

from ltutorial._validation import check_choice, check_class_counts, check_probability
from ltutorial.losses._common import LongTailLoss, check_hyperparameter
from ltutorial.losses.focal import sigmoid_focal_terms

__all__ = ["effective_number", "class_balanced_weights", "ClassBalancedLoss", "LOSS_TYPES", "NORMALIZATIONS"]

LOSS_TYPES = ("softmax", "sigmoid", "focal")
NORMALIZATIONS = ("batch", "weights")


def check_beta(beta) -> float:
    return check_probability(beta, name="beta", inclusive_high=False)


def effective_number(class_counts, beta: float = 0.9999) -> torch.Tensor:
    """Effective number of samples E_n = (1 - beta^n) / (1 - beta) per class (float64).

    beta = (N - 1) / N for a class "volume" N; E_n -> n as beta -> 1, E_n = 1 at beta = 0.
    Cui et al., "Class-balanced loss based on effective number of samples", CVPR 2019. Notebook 06.
    """
    n = check_class_counts(class_counts)
    beta = check_beta(beta)
    if beta == 0.0:
        return torch.ones_like(n)
    # -expm1(n log beta) = 1 - beta^n without cancellation for beta close to 1.
    return -torch.expm1(n * torch.log(torch.tensor(beta, dtype=torch.float64))) / (1.0 - beta)


def class_balanced_weights(class_counts, beta: float = 0.9999) -> torch.Tensor:
    """Class weights alpha_y = (1 - beta) / (1 - beta^{n_y}) = 1 / E_{n_y}, normalised to sum to C (float32).

    The sum-to-C normalisation is the official code's (CB and LDAM-DRW): unit weights are the
    "vanilla" loss, so the loss keeps a similar scale. beta = 0 gives all ones, beta -> 1 inverse
    frequency. For CIFAR-10-LT (rho = 100) at beta = 0.9999: head 0.0506, tail 3.993.
    ``class_counts`` must be whole-training-set counts (per-batch counts give NaNs). Notebooks 06, 07.
    """
    e = effective_number(class_counts, beta)
    w = 1.0 / e
    return (w * (w.numel() / w.sum())).to(torch.float32)


class ClassBalancedLoss(LongTailLoss):
    """Class-balanced loss: alpha_{y_i} * L(z_i, y_i) with alpha = ``class_balanced_weights``.

    ``loss_type``:
      - ``"softmax"``: L = -log softmax(z)_y;
      - ``"sigmoid"``: L = sum_j BCE(z_j, 1[j = y]) (one-vs-all, the weight multiplies all C terms);
      - ``"focal"``: L = sum_j (1 - p_t)^gamma BCE(z_j, 1[j = y]) (the CB paper's sigmoid focal loss).

    Normalisation (``normalization``):
      - ``"batch"`` (default): (1/m) sum_i alpha_{y_i} L_i. This is what the CB paper's code computes
        (TF's SUM_BY_NONZERO_WEIGHTS for softmax; sum divided by the number of positives = m for
        sigmoid and focal), so the paper's CB numbers come from this form. Because the weights sum to
        C but the average sample weight on CIFAR-10-LT (rho 100) is only about 0.17, the loss and its
        gradient are ~6x smaller than CE's, which effectively lowers the learning rate relative to
        weight decay; that is part of the published method, so we keep it.
      - ``"weights"``: sum_i alpha_{y_i} L_i / sum_i alpha_{y_i}, PyTorch's ``cross_entropy(weight=)``
        form, used by the LDAM-DRW "Reweight" baseline (CB RW in the LDAM table).
    For sigmoid and focal, the paper also initialises the last layer's bias to -log(C - 1) (see
    ``ltutorial.losses.init_sigmoid_bias``). Cui et al., CVPR 2019. Notebook 06.
    """

    def __init__(self, class_counts, beta: float = 0.9999, loss_type: str = "softmax", gamma: float = 1.0,
                 *, normalization: str = "batch"):
        super().__init__(class_counts)
        check_choice(loss_type, list(LOSS_TYPES), name="loss_type")
        check_choice(normalization, list(NORMALIZATIONS), name="normalization")
        self.beta = check_beta(beta)
        self.gamma = check_hyperparameter(gamma, "gamma")
        self.loss_type = loss_type
        self.normalization = normalization
        self.register_buffer("weight", class_balanced_weights(self._counts64, self.beta))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        if self.loss_type == "softmax":
            per_sample = self._ce(z, y)
        else:
            per_sample = sigmoid_focal_terms(z, y, self.gamma if self.loss_type == "focal" else 0.0)
        w = self.weight[y]
        total = (per_sample * w).sum()
        if self.normalization == "batch":
            return total / z.shape[0]
        return total / w.sum()

    def extra_repr(self) -> str:
        return f"beta={self.beta}, loss_type={self.loss_type!r}, gamma={self.gamma}, normalization={self.normalization!r}"
