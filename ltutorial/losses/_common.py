"""The base of the long-tailed losses and plain cross-entropy (ERM): l = -log softmax(z)_y. Notebooks 06-09.

In float32 (bfloat16 would lose the small log-prior shifts), per-class state in buffers that hooks change in place.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ltutorial._validation import check_class_counts


def ce_terms(z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample -log softmax(z)_y (through log_softmax: finite for logits of any size)."""
    return -F.log_softmax(z, dim=1).gather(1, targets[:, None]).squeeze(1)


def weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """sum_i w_i l_i / sum_i w_i (``cross_entropy(weight=)``, as the LDAM-DRW, VS, DDC code); mean if None."""
    return per_sample.mean() if weights is None else (per_sample * weights).sum() / weights.sum()


def log_priors(counts: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """tau log pi_j = tau log(n_j / N) (float64) from validated float64 counts: LA's and VS's shift, ADRW's exponent."""
    return tau * (torch.log(counts) - torch.log(counts.sum()))


def sum_to_classes(w: torch.Tensor) -> torch.Tensor:
    """Class weights w_j C / sum_k w_k, summing to C (float32), as the CB, LDAM-DRW and DDC code normalise them."""
    return (w * (w.numel() / w.sum())).to(torch.float32)


class LongTailLoss(nn.Module):
    """Base class: the validated ``class_counts`` buffer, input shape checks, float32 compute."""

    normalization = "weights"  # read by train.distributed.loss_share: a weighted loss divides by sum_i w_{y_i}

    def __init__(self, class_counts=None):
        super().__init__()
        self.num_classes, self.counts = None, None  # counts: float64, on the CPU whatever the module's device
        if class_counts is not None:
            self.counts = check_class_counts(class_counts)
            self.num_classes = int(self.counts.numel())
            self.register_buffer("class_counts", self.counts.to(torch.float32))

    def _load_from_state_dict(self, state_dict, prefix, *args):
        super()._load_from_state_dict(state_dict, prefix, *args)
        loaded = self.counts is not None and prefix + "class_counts" in state_dict and not self.class_counts.is_meta
        if loaded:  # hooks built later read the float64 counts: the loaded ones
            self.counts = self.class_counts.detach().to("cpu", torch.float64)

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except (IndexError, RuntimeError):
            # torch's error names no argument; only after a failure (CPU only), so a valid step never syncs
            named = dict(zip(("logits", "targets"), args), **kwargs)
            z, y = named.get("logits"), named.get("targets")
            if isinstance(y, torch.Tensor) and y.device.type == "cpu" and y.numel() and not y.is_floating_point():
                low, high = int(y.min()), int(y.max())
                if low < 0 or high >= z.shape[1]:
                    raise ValueError(f"targets must be class indices in [0, {z.shape[1]}) (one per logit column); "
                                     f"got values from {low} to {high} instead.") from None
            raise

    def _prepare(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Shapes only: a value check would sync the device inside a captured step (see __call__).
        def shape(t):
            return tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__

        if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
            raise ValueError(f"logits must be a 2-D tensor (batch, num_classes); got {shape(logits)} instead.")
        if not logits.is_floating_point():
            raise ValueError(f"logits must be a floating-point tensor; got dtype {logits.dtype} instead.")
        if self.num_classes is not None and logits.shape[1] != self.num_classes:
            sized_by = "class_counts" if self.counts is not None else "weight"  # the argument that set num_classes
            raise ValueError(f"{sized_by} must have one entry per logit column; got {self.num_classes} entries "
                             f"for logits with {logits.shape[1]} columns instead.")
        if not isinstance(targets, torch.Tensor) or targets.ndim != 1 or targets.shape[0] != logits.shape[0]:
            raise ValueError(f"targets must be a 1-D tensor with one label per logit row ({logits.shape[0]}); "
                             f"got {shape(targets)} instead.")
        if targets.is_floating_point() or targets.dtype == torch.bool:
            raise ValueError(f"targets must hold integer class indices; got dtype {targets.dtype} instead.")
        return logits.float(), targets.long()

    def _class_weight(self, weight) -> torch.Tensor:
        """The checked value of the ``weight`` buffer that hooks fill in place (float32, CPU), ones when None."""
        w = torch.as_tensor(torch.ones(self.num_classes) if weight is None else weight, dtype=torch.float32)
        w = w.detach().cpu().clone()
        self.num_classes = w.numel() if self.num_classes is None else self.num_classes
        if w.ndim != 1 or w.numel() != self.num_classes or not torch.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"weight must be a 1-D sequence of {self.num_classes} finite non-negative class weights; "
                             f"got {w.tolist()} instead.")
        if not bool((w > 0).any()):  # the weighted mean would divide 0 by 0: a NaN loss
            raise ValueError(f"weight must have at least one positive class weight; got all zeros {w.tolist()} "
                             "instead.")
        return w


class CrossEntropyLoss(LongTailLoss):
    """Softmax cross-entropy (ERM), the batch mean; with ``weight``: sum_i w_{y_i} l_i / sum_i w_{y_i}."""

    def __init__(self, class_counts=None, weight=None):
        super().__init__(class_counts)
        self.register_buffer("weight", None if weight is None else self._class_weight(weight))  # None: the mean

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        z, y = self._prepare(logits, targets)
        return weighted_mean(ce_terms(z, y), None if self.weight is None else self.weight[y])
