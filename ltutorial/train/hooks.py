"""Epoch-start hooks for ``fit(hooks=[...])``: ``hook(state)`` runs at the start of each epoch, after the lr
is set, so at ``state.epoch = e`` the model has trained e epochs (docs/ARCHITECTURE.md, "Training loop").
"""

from __future__ import annotations

import numpy as np

from ltutorial._validation import check_positive_int
from ltutorial.train.common import check_dataset
from ltutorial.train.loop import evaluate


class PerClassAccuracyRecorder:
    """Records acc_c = TP_c / n_c on ``test`` after every ``every`` epochs of training (at the start of epoch
    e > 0, e % every == 0): shows when head and tail classes are learnt under ERM (notebook 01)."""

    def __init__(self, test, every: int = 1, *, batch_size: int = 1024):
        self.test = check_dataset(test, "test")
        self.every = check_positive_int(every, name="every")
        self.batch_size = check_positive_int(batch_size, name="batch_size")
        self.epochs: list[int] = []
        self.per_class_accuracy: list[np.ndarray] = []

    def __call__(self, state) -> None:
        if state.epoch > 0 and state.epoch % self.every == 0:
            result = evaluate(state.model, self.test, device=state.device, batch_size=self.batch_size)
            self.per_class_accuracy.append(result["per_class_accuracy"])
            self.epochs.append(int(state.epoch))

    def as_array(self) -> np.ndarray:
        """The records as an (n_records x n_classes) array (NaN for absent classes)."""
        return np.stack(self.per_class_accuracy) if self.per_class_accuracy else np.empty((0, 0))

    def __repr__(self) -> str:
        return f"PerClassAccuracyRecorder(every={self.every}, recorded epochs={self.epochs})"
