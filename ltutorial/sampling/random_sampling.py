"""Random over-sampling (replication) and random under-sampling, imbalanced-learn style.

Replication is the baseline SMOTE is compared with in notebook 02 (Chawla et al. 2002: replicated
minority points make the decision region shrink around them instead of spreading); under-sampling
is the majority-side half of the SMOTE + under-sampling combination. Both only select rows, so X
keeps its dtype and may have any number of dimensions (e.g. N x C x H x W images).
"""

from __future__ import annotations

import torch

from ltutorial._validation import make_generator
from ltutorial.sampling.base import BaseSampler, class_indices, output_X, output_y_index


class _RandomSampler(BaseSampler):
    """Parameters and set-up shared by the two row-selecting samplers."""

    def __init__(self, sampling_strategy="auto", random_state=None, device=None):
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.device = device

    def _start(self, X, y):
        """(prepared data, resolved strategy, CPU generator): X keeps its dtype and shape."""
        p, strategy = self._prepare(X, y, require_2d=False, float32=False)
        return p, strategy, make_generator(self.random_state)

    def _finish(self, p, indices: torch.Tensor, strategy):
        """Store the fitted attributes; return the selected rows of X and y as they came in."""
        self.sampling_strategy_ = strategy
        self.sample_indices_ = indices.cpu().numpy()
        self.classes_ = list(p.classes)
        return output_X(p, p.X[indices]), output_y_index(p, indices)


class RandomOverSampler(_RandomSampler):
    """Replicate randomly chosen samples (with replacement) of each targeted class.

    ``sampling_strategy_[c]`` = number of copies added to class c. Output: the original samples in
    order, then the copies class by class; ``sample_indices_`` gives each output row's source row.
    Notebook 02.
    """

    _sampling_type = "over-sampling"

    def fit_resample(self, X, y):
        p, strategy, gen = self._start(X, y)
        parts = [torch.arange(p.X.shape[0], device=p.X.device)]
        for label, n_new in strategy.items():
            if n_new == 0:
                continue
            idx = class_indices(p, label)
            draw = torch.randint(0, idx.numel(), (n_new,), generator=gen).to(idx.device)
            parts.append(idx[draw])
        return self._finish(p, torch.cat(parts), strategy)


class RandomUnderSampler(_RandomSampler):
    """Keep a random subset (without replacement) of each targeted class.

    ``sampling_strategy_[c]`` = number of samples KEPT in class c (imblearn's convention). Output
    rows are grouped by class in sorted class order; ``sample_indices_`` gives their source rows.
    Notebook 02.
    """

    _sampling_type = "under-sampling"

    def fit_resample(self, X, y):
        p, strategy, gen = self._start(X, y)
        parts = []
        for label in p.classes:
            idx = class_indices(p, label)
            if label in strategy:
                keep = torch.randperm(idx.numel(), generator=gen)[: strategy[label]].to(idx.device)
                idx = idx[keep.sort().values]  # keep the original order inside the class
            parts.append(idx)
        return self._finish(p, torch.cat(parts), strategy)
