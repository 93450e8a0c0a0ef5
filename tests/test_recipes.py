"""ltutorial.train.recipes: the LDAM-DRW CIFAR recipe as written in the reference sheet."""

from __future__ import annotations

import math

import pytest

from ltutorial.train.recipes import RECIPES, TrainConfig


def test_ldam_drw_recipe_values_and_lr_table():
    cfg = RECIPES["ldam-drw-cifar"]
    assert (cfg.model, cfg.epochs, cfg.batch_size) == ("resnet32", 200, 128)
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.augment) == (0.1, 0.9, 2e-4, True)
    kw = cfg.fit_kwargs()
    sched = kw.pop("schedule")
    assert kw == {"epochs": 200, "batch_size": 128, "lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4,
                  "nesterov": False, "augment": None}  # None: crop + flip where the dataset allows it
    lr = [0.1 * sched(e) for e in range(200)]  # 0-based epochs; the sheet's table is 1-indexed
    assert lr[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert lr[5] == pytest.approx(0.1) and lr[159] == pytest.approx(0.1)
    assert lr[160] == pytest.approx(1e-3) and lr[179] == pytest.approx(1e-3)
    assert lr[180] == pytest.approx(1e-5) and lr[199] == pytest.approx(1e-5)
    assert cfg.reweight_epoch == 160


def test_with_epochs_scales_the_shape():
    short = RECIPES["ldam-drw-cifar"].with_epochs(10)
    assert short.epochs == 10 and short.milestones == (8, 9) and short.warmup_epochs == 1
    assert short.reweight_epoch == 8
    assert RECIPES["ldam-drw-cifar"].with_epochs(200) is RECIPES["ldam-drw-cifar"]
    custom = TrainConfig(epochs=100, warmup_epochs=10, milestones=(50, 75), gamma=0.1).with_epochs(20)
    assert custom.milestones == (10, 15) and custom.warmup_epochs == 2


@pytest.mark.parametrize("kwargs,message", [
    ({"epochs": 0}, r"epochs must be an integer >= 1; got 0 instead"),
    ({"batch_size": 1.5}, r"batch_size must be an integer >= 1; got 1.5 instead"),
    ({"lr": -1.0}, r"lr must be a finite number > 0; got -1.0 instead"),
    ({"lr": 0.0}, r"lr must be a finite number > 0; got 0.0 instead"),
    ({"lr": float("nan")}, r"lr must be a finite number > 0; got nan instead"),
    ({"weight_decay": -2e-4}, r"weight_decay must be a finite number >= 0; got -0.0002 instead"),
    ({"momentum": 1.0}, r"momentum must be in \[0, 1\); got 1.0 instead"),
    ({"momentum": True}, r"momentum must be a number in \[0, 1\]; got True instead"),
    ({"milestones": (250,)}, r"milestones must be epochs <= epochs \(200\); got \(250,\) instead"),
    ({"milestones": (180, 160)}, r"milestones must be non-negative and non-decreasing"),
    ({"gamma": 0.0}, r"gamma must be in \(0, 1\]; got 0.0 instead"),
    ({"warmup_epochs": -1}, r"warmup_epochs must be an integer >= 0; got -1 instead"),
])
def test_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_bad_epochs_and_the_large_recipes():
    assert sorted(RECIPES) == ["cb-inat2018", "decoupling-imagenet-lt", "decoupling-inat2018", "ldam-drw-cifar",
                               "oltr-places-lt"]
    large = RECIPES["decoupling-imagenet-lt"]  # Kang et al. 2020: 90 epochs, batch 512, lr 0.2, cosine to 0
    assert (large.epochs, large.batch_size, large.lr, large.weight_decay, large.cosine) == (90, 512, 0.2, 5e-4, True)
    # no lr milestone to defer re-weighting to: DRW switches on at 80% of the epochs
    assert large.schedule()(0) == 1.0 and large.schedule()(89) < 1e-3 and large.reweight_epoch == 72
    assert TrainConfig(epochs=10, warmup_epochs=0, milestones=()).reweight_epoch == 10  # no milestone, no cosine: never
    cb = RECIPES["cb-inat2018"]  # linear warm-up over 5 epochs, then x0.1 at 30, 60, 80: DRW would start at 30
    assert [cb.schedule()(e) for e in (0, 4, 29, 30, 60, 80)] == pytest.approx([0.2, 1, 1, 0.1, 0.01, 0.001])
    assert cb.reweight_epoch == 30 and cb.nesterov and not cb.pretrained and RECIPES["oltr-places-lt"].pretrained
    with pytest.raises(ValueError, match="epochs must be an integer >= 1; got 0 instead"):
        RECIPES["ldam-drw-cifar"].with_epochs(0)


def test_scaled_schedule_is_the_ldam_drw_shape():
    for epochs in range(1, 401):  # 5 warm-up epochs and milestones 160, 180 of 200, each scaled and rounded half up
        cfg = RECIPES["ldam-drw-cifar"].with_epochs(epochs)
        half_up = [math.floor(k * (epochs / 200) + 0.5) for k in (5, 160, 180)]
        assert (cfg.warmup_epochs, cfg.milestones) == (max(1, half_up[0]), tuple(half_up[1:]))
        assert repr(cfg.schedule()) == f"warmup_multistep(warmup_epochs={max(1, half_up[0])}, " \
                                       f"milestones={tuple(half_up[1:])}, gamma=0.01)"
    other = TrainConfig(epochs=100, warmup_epochs=0, milestones=(50,), gamma=0.1).schedule()
    assert other(49) == 1.0 and other(50) == pytest.approx(0.1)
