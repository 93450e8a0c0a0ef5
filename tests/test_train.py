"""ltutorial.train: augmentation, schedules, the fit loop, evaluation and History."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score, recall_score
from torch import nn

from ltutorial.train import (
    cosine_with_warmup,
    crop_flip,
    evaluate,
    extract_features,
    fit,
    normalize,
    predict,
    predict_logits,
    warmup_multistep,
)
from ltutorial.train.augment import draw_crop_flip
from ltutorial.train.recipes import RECIPES


# ------------------------------------------------------------------ stand-ins
@dataclass
class TinyData:
    """Duck-typed stand-in for ltutorial.data.ImageDataset (the attributes fit reads)."""

    images: torch.Tensor
    labels: torch.Tensor
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.25, 0.25, 0.25)
    augment: bool = False
    classes: tuple = ("a", "b", "c", "d")

    @property
    def num_classes(self):
        return len(self.classes)


def quadrant_task(n_per_class, seed, counts=None):
    """4 classes: a 4x4 central square, red / green / blue / white, on a noisy 8x8 image
    (separable, and crop- and flip-invariant so augmentation keeps the labels right)."""
    g = torch.Generator().manual_seed(seed)
    counts = counts or [n_per_class] * 4
    labels = torch.cat([torch.full((k,), c, dtype=torch.int64) for c, k in enumerate(counts)])
    images = torch.randint(0, 60, (labels.numel(), 3, 8, 8), generator=g).to(torch.uint8)
    for c, channels in enumerate([[0], [1], [2], [0, 1, 2]]):
        for ch in channels:
            images[labels == c, ch, 2:6, 2:6] = 230
    return TinyData(images, labels)


class TinyNet(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4, num_classes)

    def forward_features(self, x):
        x = F.relu(self.bn(self.conv(x)))
        return F.adaptive_avg_pool2d(x, 2).flatten(1)

    def forward(self, x):
        return self.fc(self.forward_features(x))


def tiny_net(seed=0):
    torch.manual_seed(seed)
    return TinyNet()


# ------------------------------------------------------------------ augmentation
def reference_crop_flip(images, dy, dx, flips, padding):
    """torchvision-style per-sample reference: zero-pad, slice, flip, one image at a time."""
    padded = F.pad(images.double(), (padding,) * 4)
    h, w = images.shape[2:]
    out = []
    for n in range(images.shape[0]):
        crop = padded[n, :, dy[n]:dy[n] + h, dx[n]:dx[n] + w]
        out.append(crop.flip(-1) if flips[n] else crop)
    return torch.stack(out).to(images.dtype)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_crop_flip_matches_per_sample_slicing(dtype):
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (40, 3, 10, 9), generator=g).to(dtype)
    dy, dx, flips = draw_crop_flip(40, 3, generator=g)
    out = crop_flip(images, dy, dx, flips, padding=3)
    assert out.shape == images.shape and out.dtype == dtype
    assert torch.equal(out, reference_crop_flip(images, dy, dx, flips, 3))


def test_random_crop_covers_every_offset_and_flip():
    p, h, w = 2, 6, 6
    coords = (torch.arange(h * w) + 1).view(1, 1, h, w).to(torch.uint8)  # every pixel unique, 0 = padding
    images = coords.repeat(600, 1, 1, 1)
    out = crop_flip(images, *draw_crop_flip(600, p, generator=torch.Generator().manual_seed(0)), padding=p)
    candidates = {}
    for oy in range(2 * p + 1):
        for ox in range(2 * p + 1):
            for f in (0, 1):
                ref = reference_crop_flip(coords, [oy], [ox], [f], p)[0]
                candidates[(oy, ox, f)] = ref
    seen = set()
    for n in range(out.shape[0]):
        matches = [k for k, ref in candidates.items() if torch.equal(out[n], ref)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(candidates)  # all (2p+1)^2 offsets, each with and without flip
    assert out.shape == images.shape and out.dtype == torch.uint8


def test_crop_flip_seeded_and_validated():
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    a, b, c = (crop_flip(images, *draw_crop_flip(16, 4, generator=torch.Generator().manual_seed(s))) for s in (5, 5, 6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    zeros = torch.zeros(16, dtype=torch.int64)
    assert torch.equal(crop_flip(images, zeros, zeros, zeros, padding=0), images)
    with pytest.raises(ValueError, match="padding"):
        crop_flip(images, zeros, zeros, zeros, padding=8)
    with pytest.raises(ValueError, match="images"):
        crop_flip(images[0], zeros, zeros, zeros)


def test_normalize_formula_and_layout():
    images = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
    out = normalize(images, mean, std)
    ref = (images.double() / 255 - torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)) / torch.tensor(
        std, dtype=torch.float64).view(1, 3, 1, 1)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)
    cl = normalize(images.contiguous(memory_format=torch.channels_last), mean, std)
    assert cl.dtype == torch.float32 and cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cl, out)
    with pytest.raises(ValueError, match="mean and std"):
        normalize(images, (0.5,), (0.2,))


# ------------------------------------------------------------------ schedules
def test_warmup_multistep_hand_values():
    s = warmup_multistep(warmup_epochs=5, milestones=(160, 180), gamma=0.1)
    assert [s(e) for e in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert s(5) == 1.0 and s(159) == 1.0
    assert s(160) == pytest.approx(0.1) and s(179) == pytest.approx(0.1)
    assert s(180) == pytest.approx(0.01) and s(199) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="gamma"):
        warmup_multistep(gamma=0)
    with pytest.raises(ValueError, match="milestones"):
        warmup_multistep(milestones=(180, 160))


def test_ldam_drw_recipe_schedule():
    s = RECIPES["ldam-drw-cifar"].schedule()
    # LDAM-DRW cifar_train.py, 1-indexed e: 1..5 -> e/5, 6..160 -> 1, 161..180 -> 0.01, 181..200 -> 1e-4.
    expected = [e / 5 if e <= 5 else 1.0 if e <= 160 else 0.01 if e <= 180 else 1e-4 for e in range(1, 201)]
    assert [s(e) for e in range(200)] == pytest.approx(expected)
    short = RECIPES["ldam-drw-cifar"].with_epochs(20).schedule()  # same shape scaled by 20/200
    assert short.milestones == (16, 18) and short.warmup_epochs == 1
    assert short(15) == 1.0 and short(16) == pytest.approx(0.01) and short(18) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="epochs"):
        RECIPES["ldam-drw-cifar"].with_epochs(0)


def test_cosine_with_warmup_hand_values():
    s = cosine_with_warmup(10, warmup_epochs=2)
    assert s(0) == pytest.approx(0.5) and s(1) == pytest.approx(1.0)
    assert s(2) == pytest.approx(1.0)
    assert s(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert s(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert cosine_with_warmup(10, min_factor=0.2)(10) == pytest.approx(0.2)


# ------------------------------------------------------------------ fit
FIT = dict(epochs=4, batch_size=32, lr=0.05, device="cpu", progress=False)


def test_fit_learns_separable_task_and_is_seeded():
    train, test = quadrant_task(40, seed=0), quadrant_task(20, seed=1)
    h1 = fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), test=test, augment=True, padding=1, **FIT)
    assert h1.final_balanced_accuracy >= 0.9
    assert h1.train_loss[-1] < h1.train_loss[0]
    h2 = fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), test=test, augment=True, padding=1, **FIT)
    assert h1.train_loss == h2.train_loss and h1.test_accuracy == h2.test_accuracy
    h3 = fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), test=test, augment=True, padding=1, seed=1, **FIT)
    assert h3.train_loss != h1.train_loss
    assert h1.epoch == [0, 1, 2, 3] and h1.device == "cpu" and len(h1.per_class_accuracy) == 4


def test_hooks_see_each_epoch_once_after_lr_is_set():
    train = quadrant_task(8, seed=0)
    seen = []

    def hook(state):
        seen.append((state.epoch, state.lr, state.optimizer.param_groups[0]["lr"], state.epochs))

    sched = warmup_multistep(warmup_epochs=2, milestones=(3,), gamma=0.5)
    fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), hooks=[hook], schedule=sched, **FIT)
    assert [s[0] for s in seen] == [0, 1, 2, 3]
    lrs = [0.05 * 0.5, 0.05, 0.05, 0.05 * 0.5]
    assert [s[1] for s in seen] == pytest.approx(lrs) and [s[2] for s in seen] == pytest.approx(lrs)
    assert all(s[3] == 4 for s in seen)


def test_a_reused_optimizer_starts_each_fit_from_its_own_lrs():
    # the schedule wrote base * schedule(epoch) into the optimizer: the next fit took that as its base (0.02, 0.004, ..)
    model, train = tiny_net(), quadrant_task(8, seed=0)
    opt = torch.optim.SGD([{"params": model.conv.parameters(), "lr": 0.1},
                           {"params": [*model.bn.parameters(), *model.fc.parameters()], "lr": 0.3}], momentum=0.9)
    sched = warmup_multistep(warmup_epochs=5, milestones=(160,))
    lrs = [fit(model, train, loss_fn=nn.CrossEntropyLoss(), optimizer=opt, schedule=sched,
               **{**FIT, "epochs": 1}).lr for _ in range(3)]
    assert lrs == [[pytest.approx(0.1 / 5)]] * 3  # group 0's lr at warm-up epoch 0, every call
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.3]


def test_hook_changes_loss_state_in_place_and_sees_past_history():
    # The DRW pattern: a hook rewrites a loss buffer in place at an epoch boundary. A scale of 0
    # from epoch 2 on must give a training loss of exactly 0 there, and a positive one before.
    class ScaledCE(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("scale", torch.ones(()))

        def forward(self, logits, targets):
            return self.scale * F.cross_entropy(logits, targets)

    past = []

    def hook(state):
        past.append(list(state.history.epoch))
        if state.epoch == 2:
            state.loss_fn.scale.fill_(0.0)

    h = fit(tiny_net(), quadrant_task(8, seed=0), loss_fn=ScaledCE(), hooks=hook, **FIT)
    assert past == [[], [0], [0, 1], [0, 1, 2]]
    assert h.train_loss[0] > 0 and h.train_loss[1] > 0 and h.train_loss[2:] == [0.0, 0.0]


def test_per_class_accuracy_agrees_with_sklearn_on_predictions():
    train = quadrant_task(30, seed=0, counts=[60, 20, 8, 4])
    test = quadrant_task(15, seed=2)
    model = tiny_net()
    h = fit(model, train, loss_fn=nn.CrossEntropyLoss(), test=test, **dict(FIT, epochs=2))
    res = evaluate(model, test)
    y, pred = test.labels.numpy(), res["predictions"].numpy()
    np.testing.assert_allclose(h.per_class_accuracy, recall_score(y, pred, average=None), atol=1e-12)
    assert h.final_balanced_accuracy == pytest.approx(balanced_accuracy_score(y, pred))
    assert res["accuracy"] == pytest.approx((pred == y).mean())
    assert torch.equal(res["logits"], predict_logits(model, test))
    assert torch.equal(res["predictions"], predict(model, test))
    from ltutorial import metrics

    np.testing.assert_allclose(h.per_class_accuracy, metrics.per_class_accuracy(y, pred, num_classes=4))
    feats = extract_features(model, test)
    assert feats.shape == (len(test.labels), 32)


def test_needs_index_eval_every_and_drop_last():
    train, test = quadrant_task(9, seed=0), quadrant_task(5, seed=1)  # 36 images
    calls = []

    class IndexLoss(nn.Module):
        needs_index = True

        def forward(self, logits, targets, index):
            assert torch.equal(train.labels[index], targets)
            calls.append(index.numel())
            return F.cross_entropy(logits, targets)

    h = fit(tiny_net(), train, loss_fn=IndexLoss(), test=test, eval_every=2, **dict(FIT, epochs=3))
    assert calls == [32, 4] * 3  # last partial batch kept
    assert math.isnan(h.test_accuracy[0]) and not math.isnan(h.test_accuracy[1]) and not math.isnan(h.test_accuracy[2])
    calls.clear()
    fit(tiny_net(), train, loss_fn=IndexLoss(), drop_last=True, **dict(FIT, epochs=2))
    assert calls == [32, 32]


def test_fit_bad_input():
    train = quadrant_task(4, seed=0)
    with pytest.raises(ValueError, match="epochs"):
        fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), epochs=0, device="cpu")
    with pytest.raises(ValueError, match="fast"):
        fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), epochs=1, device="cpu", fast=True)
    with pytest.raises(ValueError, match="train"):
        fit(tiny_net(), object(), loss_fn=nn.CrossEntropyLoss(), epochs=1, device="cpu")
    with pytest.raises(ValueError, match="loss_fn"):
        fit(tiny_net(), train, loss_fn=None, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="hooks"):
        fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), epochs=1, device="cpu", hooks=[1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "resnet32"}, r"^model must be a torch.nn.Module; got str instead"),
        ({"batch_size": 0}, r"^batch_size must be an integer >= 1; got 0 instead"),
        ({"lr": 0.0}, r"^lr must be a finite number > 0; got 0.0 instead"),
        ({"lr": float("nan")}, r"^lr must be a finite number > 0"),
        ({"momentum": -0.1}, r"^momentum must be a finite number >= 0"),
        ({"weight_decay": "2e-4"}, r"^weight_decay must be a finite number >= 0"),
        ({"seed": -1}, r"^seed must be an integer >= 0; got -1 instead"),
        ({"eval_every": 1.5}, r"^eval_every must be an integer >= 1"),
        ({"augment": "yes"}, r"^augment must be None, True or False; got 'yes' instead"),
        ({"augment": True, "padding": 8}, r"^padding must be an integer in \[0, 8\); got 8 instead"),
        ({"amp": "bf16"}, r"^amp must be None, True or False; got 'bf16' instead"),
        ({"schedule": 0.1}, r"^schedule must be None or a callable"),
        ({"schedule": lambda e: -1.0}, r"^schedule\(0\) must be a finite number >= 0; got -1.0 instead"),
        ({"drop_last": "no"}, r"^drop_last must be True or False"),
        ({"drop_last": True, "batch_size": 17}, r"^batch_size must be <= the training set size \(16\)"),
        ({"device": "gpu"}, r"^device must be one of"),
        ({"loss_fn": lambda logits, y: F.cross_entropy(logits, y, reduction="none")}, r"^loss_fn must return a scalar"),
    ],
)
def test_fit_bad_arguments_name_the_argument(kwargs, match):
    train = quadrant_task(4, seed=0)  # 16 images of 8x8
    kw = dict(loss_fn=nn.CrossEntropyLoss(), epochs=1, device="cpu", progress=False)
    kw.update(kwargs)
    model = kw.pop("model", tiny_net())
    with pytest.raises(ValueError, match=match):
        fit(model, train, **kw)


@pytest.mark.parametrize("func", [evaluate, predict, predict_logits, extract_features])
def test_evaluation_bad_arguments(func):
    data = quadrant_task(2, seed=0)
    with pytest.raises(ValueError, match=r"^model must be a torch.nn.Module; got function instead"):
        func(lambda x: x, data)
    with pytest.raises(ValueError, match=r"^batch_size must be an integer >= 1; got 0 instead"):
        func(tiny_net(), data, batch_size=0)
    with pytest.raises(ValueError, match=r"^data must be an ImageDataset"):
        func(tiny_net(), data.images)
    with pytest.raises(ValueError, match=r"^device must be one of"):
        func(tiny_net(), data, device="tpu")


def test_extract_features_needs_forward_features():
    with pytest.raises(ValueError, match=r"^model must define forward_features\(x\); got Sequential"):
        extract_features(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4)), quadrant_task(2, seed=0))


def test_evaluate_counts_by_hand():
    # A "model" that always predicts class 0: accuracy = share of class 0; balanced = 1/C.
    class AlwaysZero(nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            out = torch.zeros(x.shape[0], 4)
            out[:, 0] = 1.0
            return out

    data = quadrant_task(0, seed=0, counts=[6, 2, 1, 1])
    res = evaluate(AlwaysZero(), data)
    assert res["accuracy"] == pytest.approx(6 / 10) and res["balanced_accuracy"] == pytest.approx(1 / 4)
    np.testing.assert_array_equal(res["per_class_accuracy"], [1.0, 0.0, 0.0, 0.0])


def test_schedule_bad_arguments():
    with pytest.raises(ValueError, match=r"^epoch must be an integer >= 0; got -1 instead"):
        warmup_multistep()(-1)
    with pytest.raises(ValueError, match=r"^warmup_epochs must be an integer >= 0"):
        warmup_multistep(warmup_epochs=-1)
    with pytest.raises(ValueError, match=r"^milestones must be a sequence of epochs"):
        warmup_multistep(milestones=5)
    for bad in ((2.7,), (160, True)):  # 2.7 was truncated to 2 and decayed at epoch 2
        with pytest.raises(ValueError, match=r"^milestones must be an integer >= 0; got (2.7|True) instead"):
            warmup_multistep(milestones=bad)
    assert warmup_multistep(milestones=np.array([3, 5])).milestones == (3, 5)
    with pytest.raises(ValueError, match=r"^warmup_epochs must be smaller than epochs \(10\)"):
        cosine_with_warmup(10, warmup_epochs=10)
    with pytest.raises(ValueError, match=r"^min_factor must be in \[0, 1\]; got 2 instead"):
        cosine_with_warmup(10, min_factor=2)
    with pytest.raises(ValueError, match=r"^epochs must be an integer >= 1"):
        cosine_with_warmup(0)


def test_normalize_and_crop_bad_arguments():
    images = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"^std must be positive"):
        normalize(images, (0.5,) * 3, (0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match=r"^images must be uint8 or floating point"):
        normalize(images.to(torch.int32), (0.5,) * 3, (0.2,) * 3)
    zeros = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"^dy must be a tensor of shape \(2,\); got \(3,\) instead"):
        crop_flip(images, torch.zeros(3, dtype=torch.int64), zeros, zeros, padding=1)
    with pytest.raises(ValueError, match=r"^padding must be an integer >= 0; got -1 instead"):
        crop_flip(images, zeros, zeros, zeros, padding=-1)


def test_fit_accepts_the_real_image_dataset():
    from ltutorial.data import images

    src = quadrant_task(6, seed=0)
    data = images.ImageDataset(src.images, src.labels, classes=["a", "b", "c", "d"], augment=True)
    h = fit(tiny_net(), data, loss_fn=nn.CrossEntropyLoss(), test=data, **dict(FIT, epochs=1))
    assert len(h.per_class_accuracy) == 4


# ------------------------------------------------------------------ issue 13: divergence and a too-narrow model
class ScaledCE(nn.Module):
    """CE times a ``scale`` buffer; the hook ``nan_from(e)`` sets it to NaN from epoch e on (in place)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("scale", torch.ones(()))

    def forward(self, logits, targets):
        return F.cross_entropy(logits, targets) * self.scale


def nan_from(epoch):
    def hook(state):
        if state.epoch >= epoch:
            state.loss_fn.scale.fill_(float("nan"))
    return hook


def test_fit_stops_at_the_first_epoch_with_a_nan_loss():
    train, test = quadrant_task(8, seed=0), quadrant_task(4, seed=1)
    seen = []
    with pytest.raises(FloatingPointError, match=r"^the training loss must stay finite; got nan at epoch 1 instead: "
                                                 r"training diverged .*lr=0\.05"):
        fit(tiny_net(), train, loss_fn=ScaledCE(), epochs=4, test=test, batch_size=16, lr=0.05, device="cpu",
            hooks=[nan_from(1), lambda s: seen.append(s.epoch)])
    assert seen == [0, 1]  # stopped right after the epoch whose loss was NaN, before epoch 2
    # the same run without the NaN trains all epochs (the check does not fire on finite losses)
    h = fit(tiny_net(), train, loss_fn=ScaledCE(), epochs=2, test=test, batch_size=16, lr=0.05, device="cpu")
    assert len(h.train_loss) == 2 and all(math.isfinite(v) for v in h.train_loss)


def test_fit_refuses_a_model_with_fewer_outputs_than_classes_before_the_first_step():
    train = quadrant_task(8, seed=0)  # 4 classes
    torch.manual_seed(0)
    model = TinyNet(num_classes=3)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"^model must output one logit per class \(4 classes in the data\); got "
                                         r"outputs of shape \(16, 3\) instead\. Build it with num_classes=4\."):
        fit(model, train, loss_fn=nn.CrossEntropyLoss(), epochs=1, batch_size=16, device="cpu")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # no step was taken


def test_evaluation_restores_each_submodules_own_mode():
    # model.train(was_training) set one flag for every submodule: a BatchNorm frozen in eval mode was unfrozen
    model = tiny_net()
    model.train()
    model.bn.eval()
    predict(model, quadrant_task(4, seed=0))
    assert model.training and not model.bn.training and model.conv.training
    model.eval()
    evaluate(model, quadrant_task(4, seed=0))
    assert not model.training and not model.bn.training


def test_a_hook_may_freeze_batchnorm_for_the_epoch():
    # net.train() ran after the hooks and undid a hook's .eval(): the running statistics moved anyway
    model, seen = tiny_net(), []

    def freeze_bn(state):
        state.model.bn.eval()

    class Spy(nn.Module):
        def forward(self, logits, targets):
            seen.append(model.bn.training)
            return F.cross_entropy(logits, targets)

    before = model.bn.running_mean.clone()
    fit(model, quadrant_task(8, seed=0), loss_fn=Spy(), hooks=[freeze_bn], **{**FIT, "epochs": 2})
    assert seen and not any(seen) and torch.equal(model.bn.running_mean, before)


def test_evaluate_and_predict_refuse_a_model_with_fewer_outputs_than_classes():
    # fit checked the width; evaluate scored a 2-output model on 4-class data without a word
    narrow = TinyNet(num_classes=2)
    for call in (evaluate, predict, predict_logits):
        with pytest.raises(ValueError, match=r"^model must output one logit per class \(4 classes in the data\)"):
            call(narrow, quadrant_task(4, seed=0))
    assert extract_features(narrow, quadrant_task(4, seed=0)).shape == (16, 32)  # features: no class count


def test_fit_refuses_a_test_set_normalised_with_its_own_statistics():
    # the model trains on (x - train.mean) / train.std; a test set with its own mean/std was scored on other inputs
    train = quadrant_task(8, seed=0)
    test = TinyData(train.images // 2, train.labels, mean=(0.2, 0.2, 0.2), std=(0.1, 0.1, 0.1))
    with pytest.raises(ValueError, match=r"^test must be normalised with the training set's mean and std \(0.5, 0.5, "
                                         r"0.5\), \(0.25, 0.25, 0.25\); got \(0.2, 0.2, 0.2\), \(0.1, 0.1, 0.1\)"):
        fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), test=test, **FIT)
    same = TinyData(train.images // 2, train.labels)  # the training statistics: accepted
    assert fit(tiny_net(), train, loss_fn=nn.CrossEntropyLoss(), test=same, **{**FIT, "epochs": 1}).epoch == [0]


def test_an_empty_dataset_gives_empty_predictions():
    # no batch ran: the logits were 0 x 0 and argmax(dim=1) raised an IndexError
    empty = TinyData(torch.zeros(0, 3, 8, 8, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))
    assert predict_logits(tiny_net(), empty).shape == (0, 4) and predict(tiny_net(), empty).shape == (0,)
    result = evaluate(tiny_net(), empty)
    assert math.isnan(result["accuracy"]) and result["predictions"].shape == (0,)
