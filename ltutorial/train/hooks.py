"""Reusable epoch-start hooks for ``fit(hooks=[...])``: record how the model evolves during training.

Contract (docs/ARCHITECTURE.md, "Training loop"): a hook is called as ``hook(state)`` at the start
of each epoch, after the lr is set and before the first step, so at ``state.epoch = e`` the model
has been trained for e epochs. The end of training is not seen by a hook: evaluate after ``fit``.
"""

from __future__ import annotations

import numpy as np

from ltutorial._validation import check_positive_int
from ltutorial.train.common import check_dataset
from ltutorial.train.loop import evaluate


class PerClassAccuracyRecorder:
    """Records the per-class test accuracy acc_c = TP_c / n_c every ``every`` epochs of training.

    At the start of epoch e > 0 with e % every == 0 (i.e. after e epochs of training) it stores
    ``evaluate(state.model, test, device=state.device)["per_class_accuracy"]`` in
    ``per_class_accuracy`` and e in ``epochs``. Shows *when* head and tail classes are learnt under
    ERM (the slide's point: the tail is sacrificed). Pass it in ``hooks=`` of ``lt.train.fit``.
    """

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
        """The recorded accuracies as an (n_records x n_classes) array (NaN for absent classes)."""
        if not self.per_class_accuracy:
            return np.empty((0, 0))
        return np.stack(self.per_class_accuracy)

    def __repr__(self) -> str:
        return f"PerClassAccuracyRecorder(every={self.every}, recorded epochs={self.epochs})"
