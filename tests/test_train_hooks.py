"""PerClassAccuracyRecorder (notebook 01): the same per-class accuracies as evaluate() on snapshots."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ltutorial.train import PerClassAccuracyRecorder, evaluate, fit
from tests.test_train import quadrant_task, tiny_net


def test_recorder_matches_evaluate_on_snapshots_at_the_same_epochs():
    train = quadrant_task(0, seed=0, counts=[24, 12, 6, 3])
    test = quadrant_task(5, seed=1)
    recorder = PerClassAccuracyRecorder(test, every=2)
    snapshots = {}

    def snapshot(state):  # an independent record: a copy of the model at every epoch start
        snapshots[state.epoch] = copy.deepcopy(state.model)

    model = tiny_net(0)
    fit(model, train, loss_fn=F.cross_entropy, epochs=5, batch_size=8, lr=0.05, device="cpu", seed=0,
        hooks=[recorder, snapshot], progress=False)
    # epoch-start hooks: epochs 2 and 4 (not 0: nothing trained yet; 5 is after the last hook)
    assert recorder.epochs == [2, 4]
    for epoch, acc in zip(recorder.epochs, recorder.per_class_accuracy):
        expected = evaluate(snapshots[epoch], test, device="cpu")["per_class_accuracy"]
        np.testing.assert_array_equal(acc, expected)
        # and by hand: recall per class of the snapshot's argmax predictions
        with torch.no_grad():
            x = (test.images.float() / 255 - torch.tensor(test.mean)[:, None, None]) / torch.tensor(test.std)[:, None, None]
            pred = snapshots[epoch].eval()(x).argmax(1)
        hand = [(pred[test.labels == c] == c).float().mean().item() for c in range(4)]
        np.testing.assert_allclose(acc, hand, atol=1e-6)
    assert np.stack(recorder.per_class_accuracy).shape == (2, 4)


def test_recorder_does_not_change_training():
    train = quadrant_task(0, seed=0, counts=[12, 6, 3, 3])
    test = quadrant_task(3, seed=1)
    plain, recorded = tiny_net(0), tiny_net(0)
    kwargs = dict(loss_fn=F.cross_entropy, epochs=3, batch_size=8, lr=0.05, device="cpu", seed=0, progress=False)
    fit(plain, train, **kwargs)
    fit(recorded, train, hooks=[PerClassAccuracyRecorder(test)], **kwargs)
    for a, b in zip(plain.state_dict().values(), recorded.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((object(),), {}, "^test must be an ImageDataset"),
        ((None,), {"every": 0}, "^every must be an integer >= 1"),
        ((None,), {"every": 1.5}, "^every must be an integer >= 1"),
        ((None,), {"batch_size": 0}, "^batch_size must be an integer >= 1"),
    ],
)
def test_recorder_rejects_bad_input(args, kwargs, match):
    if args == (None,):
        args = (quadrant_task(2, seed=0),)
    with pytest.raises(ValueError, match=match):
        PerClassAccuracyRecorder(*args, **kwargs)
