"""Epoch hooks: evaluating the model inside a hook leaves the training unchanged."""

import torch
import torch.nn.functional as F

from ltutorial.train import evaluate, fit
from tests.test_train import quadrant_task, tiny_net


def test_evaluating_in_a_hook_does_not_change_training():
    train = quadrant_task(0, seed=0, counts=[12, 6, 3, 3])
    test = quadrant_task(3, seed=1)
    plain, recorded = tiny_net(0), tiny_net(0)
    kwargs = dict(loss_fn=F.cross_entropy, epochs=3, batch_size=8, lr=0.05, device="cpu", seed=0, progress=False)
    fit(plain, train, **kwargs)
    fit(recorded, train, hooks=[lambda state: evaluate(state.model, test, device=state.device)], **kwargs)
    for a, b in zip(plain.state_dict().values(), recorded.state_dict().values()):
        assert torch.equal(a, b)
