"""Random over-sampling (replication, SMOTE's baseline in Chawla et al. 2002) and under-sampling: notebook 02.

Rows are picked in torch, so X may hold what imbalanced-learn accepts (NaN, strings, sparse, images).
"""

from __future__ import annotations

import numpy as np
import torch
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.under_sampling.base import BaseUnderSampler
from imblearn.utils import check_target_type
from sklearn.utils import _safe_indexing
from sklearn_compat.utils.validation import check_array, validate_data  # imbalanced-learn's scikit-learn shim

from ltutorial.sampling.base import DEVICE_CONSTRAINT, TorchSamplerMixin, plain_labels, rows_of, torch_generator


class RowSampler(TorchSamplerMixin):
    """What the two row-selecting samplers share: ``_indices(y, device, gen)`` picks the rows, this applies them."""

    def _fit_resample(self, X, y):
        """imbalanced-learn's hook: X (numpy, sparse or DataFrame) and 1-D numpy y in; rows selected."""
        gen = torch_generator(self.random_state)
        self.sample_indices_ = idx = self._indices(np.asarray(y), torch.device("cpu"), gen).numpy()
        return _safe_indexing(X, idx), _safe_indexing(y, idx)

    def _resample_tensors(self, X: torch.Tensor, y: np.ndarray):
        idx = self._indices(y, X.device, torch_generator(self.random_state))
        self.sample_indices_ = idx.cpu().numpy()
        return X[idx], y[self.sample_indices_]

    def _check_X_y(self, X, y):
        """imbalanced-learn's check for row-selecting samplers (no dtype or finiteness check), N-D arrays allowed."""
        y, binarize_y = (y, False) if plain_labels(y) else check_target_type(y, indicate_one_vs_all=True)
        if not (hasattr(X, "iloc") and hasattr(X, "columns")):  # a DataFrame is indexed as it is
            X = check_array(X, dtype=None, accept_sparse=["csr", "csc"], ensure_all_finite=False, allow_nd=True)
        validate_data(self, X=X, y=y, reset=True, skip_check_array=True)
        return X, y, binarize_y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = tags.input_tags.string = tags.sampler_tags.sample_indices = True
        return tags


class RandomOverSampler(RowSampler, BaseOverSampler):
    """Append ``sampling_strategy_[c]`` rows of each class c, drawn with replacement (``sample_indices_``: sources)."""

    _parameter_constraints: dict = {**BaseOverSampler._parameter_constraints, "device": DEVICE_CONSTRAINT}

    def __init__(self, sampling_strategy="auto", random_state=None, device=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state, self.device = random_state, device

    def _indices(self, y: np.ndarray, device: torch.device, gen) -> torch.Tensor:
        parts = [torch.arange(len(y), device=device)]
        for label, n_new in self.sampling_strategy_.items():
            if n_new > 0:
                idx = rows_of(y, label, device)
                parts.append(idx[torch.randint(0, idx.numel(), (int(n_new),), generator=gen).to(idx.device)])
        return torch.cat(parts)


class RandomUnderSampler(RowSampler, BaseUnderSampler):
    """Keep ``sampling_strategy_[c]`` random rows of each class c, by class, in order (``sample_indices_``: sources)."""

    _parameter_constraints: dict = {**BaseUnderSampler._parameter_constraints, "random_state": ["random_state"],
                                    "device": DEVICE_CONSTRAINT}

    def __init__(self, sampling_strategy="auto", random_state=None, device=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state, self.device = random_state, device

    def _indices(self, y: np.ndarray, device: torch.device, gen) -> torch.Tensor:
        parts = []
        for label in np.unique(y):
            idx = rows_of(y, label, device)
            if label in self.sampling_strategy_:
                keep = torch.randperm(idx.numel(), generator=gen)[: int(self.sampling_strategy_[label])]
                idx = idx[keep.to(idx.device).sort().values]  # keep the original order inside the class
            parts.append(idx)
        return torch.cat(parts)
