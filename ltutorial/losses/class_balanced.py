"""Class-balanced loss CB(z, y) = (1 - beta) / (1 - beta^{n_y}) L(z, y) = L(z, y) / E_{n_y}, and the focal
loss FL = -(1 - p_y)^gamma log p_y, with E_n = (1 - beta^n) / (1 - beta) the effective number. Notebooks 06, 07.

Cui et al., "Class-balanced loss based on effective number of samples", CVPR 2019; Lin et al., "Focal loss for
dense object detection", ICCV 2017.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_choice, check_class_counts, check_number, check_probability
from ltutorial.losses._common import LongTailLoss, ce_terms, sum_to_classes


class ClassBalancedLoss(LongTailLoss):
    """CB loss (1/B) sum_i alpha_{y_i} L_i (over B, as the paper's code), L softmax CE, sigmoid BCE or focal."""

    normalization = "batch"  # read by train.distributed.loss_share: the batch size, not sum_i alpha_{y_i}

    def __init__(self, class_counts, beta: float = 0.9999, loss_type: str = "softmax", gamma: float = 1.0):
        super().__init__(class_counts)
        self.loss_type = check_choice(loss_type, ["softmax", "sigmoid", "focal"], name="loss_type")
        self.gamma = check_number(gamma, name="gamma")
        self.register_buffer("weight", class_balanced_weights(self.counts, beta))
        self.beta = float(beta)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        gamma = self.gamma if self.loss_type == "focal" else 0.0
        per_sample = ce_terms(z, y) if self.loss_type == "softmax" else sigmoid_focal_terms(z, y, gamma)
        return (per_sample * self.weight[y]).sum() / z.shape[0]


class FocalLoss(LongTailLoss):
    """Focal loss, the batch mean of (1 - p_y)^gamma (-log p_y) on p_y = softmax(z)_y (Lin et al., Sec. 3.1; LDAM-DRW
    code) or over C one-vs-all sigmoids (CB paper)."""

    def __init__(self, gamma: float = 1.0, *, form: str = "softmax"):
        super().__init__()
        self.gamma = check_number(gamma, name="gamma")
        self.form = check_choice(form, ["softmax", "sigmoid"], name="form")

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        if self.form == "sigmoid":
            return sigmoid_focal_terms(z, y, self.gamma).mean()
        ce = ce_terms(z, y)
        # 1 - p_y = -expm1(log p_y) keeps precision near p_y = 1; the floor keeps the gradient of x^gamma
        # (infinite at 0 for gamma < 1) finite when a logit of 1e4 makes p_y exactly 1.
        return ((-torch.expm1(-ce)).clamp_min(1e-30).pow(self.gamma) * ce).mean()


def sigmoid_focal_terms(z: torch.Tensor, targets: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample sum_j (1 - p_t)^gamma BCE(z_j, t_j), t = one-hot(y); the modulator exp(-gamma t z - gamma
    softplus(-z)) is (1 - sigmoid(z))^gamma for t = 1, sigmoid(z)^gamma for t = 0 (the CB paper's code)."""
    t = F.one_hot(targets, z.shape[1]).to(z.dtype)
    bce = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    if gamma != 0:  # CB's plain "sigmoid" type (gamma 0) skips the modulator, exactly 1, on every step
        bce = torch.exp(-gamma * t * z - gamma * F.softplus(-z)) * bce
    return bce.sum(dim=1)


def effective_number(class_counts, beta: float = 0.9999) -> torch.Tensor:
    """E_n = (1 - beta^n) / (1 - beta) per class (float64); 1 at beta = 0, n as beta -> 1."""
    n = check_class_counts(class_counts)
    beta = check_probability(beta, name="beta", inclusive_high=False)
    # -expm1(n log beta) = 1 - beta^n without cancellation for beta close to 1 (exactly 1 at beta = 0).
    return -torch.expm1(n * torch.log(torch.tensor(beta, dtype=torch.float64))) / (1.0 - beta)


def class_balanced_weights(class_counts, beta: float = 0.9999) -> torch.Tensor:
    """alpha_y = 1 / E_{n_y} summing to C (float32), as the CB and LDAM-DRW code; CIFAR-10-LT: head 0.051, tail 3.99."""
    return sum_to_classes(1.0 / effective_number(class_counts, beta))


def init_sigmoid_bias(model: nn.Module, num_classes: int) -> nn.Linear:
    """The last ``nn.Linear`` with its bias set to -log(C - 1), so sigmoid outputs start near 1/C (the CB paper)."""
    last = next((m for m in reversed(list(model.modules())) if isinstance(m, nn.Linear)), None)
    if last is None or last.bias is None or last.out_features != num_classes:
        raise ValueError(f"model must end in an nn.Linear with a bias and {num_classes} outputs; got "
                         f"{'none' if last is None else repr(last)} instead.")
    with torch.no_grad():
        last.bias.fill_(-math.log(max(num_classes - 1, 1)))
    return last
