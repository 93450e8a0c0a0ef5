"""Tests of ltutorial.ssl.experiment: the shared settings, encoder and data of notebooks 10-12."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import ltutorial as lt
from ltutorial.models import ResNet18Cifar, SmallCNN
from ltutorial.ssl import SSLSettings, make_encoder, ssl_experiment_data, ssl_settings



# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("profile", ["smoke", "cpu", "full"])
def test_unset_knobs_take_the_profile_row(profile):
    s = ssl_settings(profile, dataset="cifar10-lt", seed=3)
    for name, value in lt.profiles.SIZES[profile]["ssl"].items():
        assert getattr(s, name) == value, name
    assert (s.profile, s.dataset, s.seed) == (profile, "cifar10-lt", 3)
    assert s.in_channels == 3 and not s.digits


def test_profiles_grow_from_smoke_to_full():
    rows = [lt.profiles.SIZES[p]["ssl"] for p in ("smoke", "cpu", "full")]
    for key in ("epochs", "batch_size", "proj_dim", "probe_epochs", "val_per_class"):
        assert rows[0][key] <= rows[1][key] <= rows[2][key], key
    # laptop profiles use the small CNN on shrunk images; only full trains ResNet-18 at 32x32
    assert [r["encoder"] for r in rows] == ["small_cnn", "small_cnn", "resnet18_cifar"]
    assert rows[2]["image_size"] is None and rows[2]["n_max"] is None


def test_full_profile_is_the_papers_recipe():
    # the papers' CIFAR recipe: ResNet-18, batch 512, 128-d projection, the whole pool, 500 held out per class
    s = ssl_settings("full", dataset="cifar10-lt")
    assert (s.encoder, s.batch_size, s.proj_dim, s.n_max, s.val_per_class) == ("resnet18_cifar", 512, 128, None, 500)


def test_overrides_win():
    s = ssl_settings("cpu", dataset="cifar10-lt", epochs=3, width=4, n_max=50, image_size=24, batch_size=16,
                     proj_dim=8, warmup_epochs=0, probe_epochs=5, val_per_class=10, test_per_class=7,
                     encoder="small_cnn")
    assert (s.epochs, s.width, s.n_max, s.image_size, s.batch_size) == (3, 4, 50, 24, 16)
    assert (s.proj_dim, s.warmup_epochs, s.probe_epochs, s.val_per_class, s.test_per_class) == (8, 0, 5, 10, 7)
    assert ssl_settings("cpu", dataset="cifar10-lt", encoder="resnet18_cifar").encoder == "resnet18_cifar"
    # untouched knobs keep the profile's value
    assert ssl_settings("cpu", dataset="cifar10-lt", epochs=3).batch_size == 128


@pytest.mark.parametrize("profile, epochs, warmup", [
    ("full", 100, 3),    # 10 of 300 epochs: the same share, rounded
    ("full", 600, 20),
    ("full", 1, 0),      # a one-epoch dry run has no room for a warm-up
    ("cpu", 30, 2),      # 1 of 15
    ("cpu", 15, 1),      # the profile's own length: its own warm-up
])
def test_an_epochs_override_keeps_the_warmup_share(profile, epochs, warmup):
    s = ssl_settings(profile, dataset="cifar10-lt", epochs=epochs)
    assert s.warmup_epochs == warmup
    row = lt.profiles.SIZES[profile]["ssl"]
    assert abs(s.warmup_epochs - row["warmup_epochs"] * epochs / row["epochs"]) <= 0.5
    # an explicit warm-up is kept as given
    assert ssl_settings(profile, dataset="cifar10-lt", epochs=epochs, warmup_epochs=epochs).warmup_epochs == epochs


def test_digits_caps_pool_and_keeps_native_size(capsys):
    s = ssl_settings("cpu", dataset="digits-lt")
    assert (s.n_max, s.val_per_class, s.image_size, s.test_per_class) == (100, 24, None, None)
    assert s.digits and s.in_channels == 1
    assert capsys.readouterr().out == ""  # defaults: nothing to report
    assert ssl_settings("full", dataset="digits-lt").n_max == 100  # full's None ("the whole pool") -> 100
    assert ssl_settings("smoke", dataset="digits-lt", n_max=40).n_max == 40
    s = ssl_settings("smoke", dataset="digits-lt", n_max=500, image_size=16)
    assert (s.n_max, s.image_size) == (100, None)
    out = capsys.readouterr().out
    assert "n_max=500" in out and "image_size=16" in out  # the change is reported, not silent


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(profile="laptop"), "profile"),
        (dict(dataset="mnist"), "dataset"),
        (dict(epochs=0), "epochs"),
        (dict(epochs=2.5), "epochs"),
        (dict(width=-1), "width"),
        (dict(n_max=0), "n_max"),
        (dict(image_size=True), "image_size"),
        (dict(batch_size=0), "batch_size"),
        (dict(proj_dim=0), "proj_dim"),
        (dict(warmup_epochs=-1), "warmup_epochs"),
        (dict(epochs=2, warmup_epochs=3), "warmup_epochs"),
        (dict(probe_epochs=0), "probe_epochs"),
        (dict(val_per_class=-2), "val_per_class"),
        (dict(val_per_class=0), "val_per_class"),  # the linear probe trains on these images
        (dict(test_per_class=0), "test_per_class"),
        (dict(encoder="vgg99"), "encoder"),
        (dict(profile="full", width=64), "width"),  # resnet18_cifar has no width: it was dropped silently
        (dict(encoder="resnet8", width=16), "width"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_values_raise_naming_the_argument(kwargs, name):
    kwargs = {"profile": "smoke", "dataset": "cifar10-lt", **kwargs}
    profile = kwargs.pop("profile")
    with pytest.raises(ValueError, match=rf"^{name} must be .*; got .* instead\."):
        ssl_settings(profile, **kwargs)


def test_unknown_profile_error_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        ssl_settings("gpu", dataset="cifar10-lt")
    for p in lt.PROFILES:
        assert p in str(err.value)


def test_train_kwargs_and_summary():
    s = ssl_settings("smoke", dataset="cifar10-lt", seed=4)
    kw = s.train_kwargs("cpu", weight_decay=5e-4)
    assert kw == dict(epochs=2, batch_size=64, warmup_epochs=1, proj_dim=32, device="cpu", seed=4,
                      weight_decay=5e-4)
    with pytest.raises(ValueError, match="^weight_decay must be"):
        s.train_kwargs("cpu", weight_decay=-1.0)
    assert s.summary() == "cifar10-lt: small_cnn, 2 epochs, batch 64, n_max 200, image size 16"
    assert ssl_settings("full", dataset="digits-lt").summary().endswith("n_max 100, image size native")


def test_settings_are_deterministic_and_frozen():
    a = ssl_settings("cpu", dataset="digits-lt", seed=1, epochs=4)
    assert a == ssl_settings("cpu", dataset="digits-lt", seed=1, epochs=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.epochs = 9


# ------------------------------------------------------------------ encoder
def test_make_encoder_class_and_feature_dim():
    enc = make_encoder(ssl_settings("smoke", dataset="cifar10-lt"), 10)
    assert isinstance(enc, SmallCNN) and enc.feature_dim == 4 * 8  # widths w, 2w, 4w
    assert enc.fc.out_features == 10
    assert enc.forward_features(torch.zeros(2, 3, 16, 16)).shape == (2, 32)
    enc = make_encoder(ssl_settings("cpu", dataset="digits-lt", width=4), 7)
    assert enc.feature_dim == 16 and enc(torch.zeros(2, 1, 8, 8)).shape == (2, 7)  # 1 input channel
    enc = make_encoder(ssl_settings("full", dataset="cifar10-lt"), 100)
    assert isinstance(enc, ResNet18Cifar) and enc.feature_dim == 512 and enc.fc.out_features == 100


def test_make_encoder_starts_every_encoder_of_a_seed_alike_and_validates():
    # the notebooks compare encoders "with the same seed": each one drew from the global state the last run left
    s = ssl_settings("smoke", dataset="cifar10-lt", seed=3)
    torch.manual_seed(0)
    a = make_encoder(s, 10).state_dict()
    after = torch.rand(2)
    torch.manual_seed(0)
    b = make_encoder(s, 10).state_dict()
    assert torch.equal(torch.rand(2), after)  # the global random state is untouched
    torch.manual_seed(99)
    c = make_encoder(s, 10).state_dict()
    assert all(torch.equal(a[k], b[k]) and torch.equal(a[k], c[k]) for k in a)
    torch.manual_seed(3)  # settings.seed, the default
    assert all(torch.equal(a[k], v) for k, v in lt.models.build_model("small_cnn", 10, width=8).state_dict().items())
    other = make_encoder(s, 10, seed=4).state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a)
    with pytest.raises(ValueError, match="^seed must be an integer >= 0"):
        make_encoder(s, 10, seed=-1)
    with pytest.raises(ValueError, match="^num_classes must be"):
        make_encoder(s, 0)
    with pytest.raises(ValueError, match="^settings must be an SSLSettings"):
        make_encoder({"encoder": "small_cnn"}, 10)


# ------------------------------------------------------------------ data
def test_experiment_data_on_digits_sizes():
    s = ssl_settings("smoke", dataset="digits-lt", seed=0)
    data = ssl_experiment_data(s)
    d_i, d_b, probe, test = data["imbalanced"], data["balanced"], data["probe_train"], data["test"]
    # n_c = floor(100 * 100^(-c/9)), D_b = floor(|D_i| / 10) per class, 24 held out per class
    expected = [math.floor(100 * 100 ** (-c / 9) + 1e-9) for c in range(10)]
    assert d_i.class_counts.tolist() == expected
    assert d_b.class_counts.tolist() == [sum(expected) // 10] * 10
    assert probe.class_counts.tolist() == [24] * 10
    assert test.class_counts.tolist() == [lt.data.prepare.DIGITS_TEST_PER_CLASS] * 10  # whole balanced test split
    assert tuple(d_i.images.shape[1:]) == (1, 8, 8)  # native size
    assert data["class_counts"].tolist() == expected
    # the probe's labelled images are held out of the pre-training pool
    sub = data["subsets"]
    assert not set(sub["val"].tolist()) & (set(sub["imbalanced"].tolist()) | set(sub["balanced"].tolist()))


def test_experiment_data_follows_the_settings_and_is_deterministic():
    s = ssl_settings("cpu", dataset="digits-lt", seed=2, n_max=100, test_per_class=10)
    a, b = ssl_experiment_data(s), ssl_experiment_data(s)
    for key in ("imbalanced", "balanced", "probe_train", "test"):
        assert torch.equal(a[key].images, b[key].images) and torch.equal(a[key].labels, b[key].labels)
    assert a["imbalanced"].class_counts.tolist() == lt.data.longtail.longtail_counts(100, 10, 100)  # n_max 100
    assert a["probe_train"].class_counts.tolist() == [24] * 10  # val_per_class 24
    assert a["test"].class_counts.tolist() == [10] * 10 and len(a["test"]) == 100  # test_per_class 10
    other = ssl_experiment_data(ssl_settings("cpu", dataset="digits-lt", seed=3, n_max=100))
    assert not torch.equal(a["subsets"]["imbalanced"], other["subsets"]["imbalanced"])


def test_experiment_data_rejects_non_settings():
    with pytest.raises(ValueError, match="^settings must be an SSLSettings"):
        ssl_experiment_data({"dataset": "digits-lt"})
    assert isinstance(ssl_settings("smoke", dataset="digits-lt"), SSLSettings)


@pytest.mark.parametrize(
    "change, name",
    [(dict(test_per_class=0), "test_per_class"), (dict(test_per_class=2.5), "test_per_class"),
     (dict(epochs=0), "epochs"), (dict(epochs=None), "epochs"), (dict(batch_size=-2), "batch_size"),
     (dict(seed=-1), "seed"), (dict(width=0), "width"), (dict(encoder="vgg99"), "encoder"),
     (dict(profile="laptop"), "profile"), (dict(warmup_epochs=3), "warmup_epochs")],
)
def test_a_replaced_copy_is_checked_as_ssl_settings_checks(change, name):
    # dataclasses.replace builds a new SSLSettings: the same checks as ssl_settings, before any data is read
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        dataclasses.replace(ssl_settings("smoke", dataset="digits-lt"), **change)


def test_another_encoder_drops_the_rows_small_cnn_width():
    s = ssl_settings("cpu", dataset="cifar10-lt", encoder="resnet8")
    assert (s.encoder, s.width) == ("resnet8", None) and ssl_settings("cpu", dataset="cifar10-lt").width == 32


def test_a_replaced_copy_keeps_valid_none_settings():
    s = dataclasses.replace(ssl_settings("smoke", dataset="digits-lt"), width=None, val_per_class=None)
    assert (s.width, s.val_per_class, s.test_per_class) == (None, None, None)


def test_settings_root_picks_and_reads_the_data(tmp_path, monkeypatch):
    from test_data import _write_fake_cifar10_pickles

    from ltutorial.ssl.augment import resize_images

    empty, root = tmp_path / "empty", tmp_path / "data"
    empty.mkdir()
    _write_fake_cifar10_pickles(root / "cifar-10-batches-py", per_batch=240, n_test=50)  # 120 and 5 per class
    monkeypatch.setenv("LTUTORIAL_DATA", str(empty))
    monkeypatch.setenv("LTUTORIAL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=rf"root must point to a CIFAR-10 copy.*got root='{empty}'"):
        ssl_experiment_data(ssl_settings("smoke", dataset="cifar10-lt"))
    assert ssl_settings("smoke").dataset == "digits-lt"  # "auto" looked in LTUTORIAL_DATA
    settings = ssl_settings("smoke", root=root, n_max=100, val_per_class=5, test_per_class=3, image_size=8)
    assert settings.dataset == "cifar10-lt"  # "auto" looked in root
    data = ssl_experiment_data(settings)
    # resized after the subsets are cut: the pixels of resize-then-index
    train, test = lt.data.load_dataset("cifar10-lt", root=root, imbalance_ratio=1, seed=0)
    sub = lt.ssl.ssl_subsets(train.labels, n_max=100, val_per_class=5, seed=0)
    for key, part in (("imbalanced", "imbalanced"), ("balanced", "balanced"), ("probe_train", "val")):
        assert torch.equal(data[key].images, resize_images(train.images, 8)[sub[part]]), key
    assert data["test"].images.shape[-1] == 8 and torch.bincount(data["test"].labels).tolist() == [3] * 10


def test_random_encoder_probe_keeps_the_global_random_state():
    settings = ssl_settings("smoke", dataset="digits-lt", seed=1, test_per_class=5)
    data = ssl_experiment_data(settings)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    result = lt.ssl.random_encoder_probe(settings, data, device="cpu", epochs=2, seed=7)
    assert torch.equal(torch.rand(3), expected_next)  # linear_probe's manual_seed stays inside fork_rng
    encoder = make_encoder(settings, data["probe_train"].num_classes, seed=7)  # the same: the probe of that encoder
    again = lt.ssl.linear_probe(encoder, data["probe_train"], data["test"], group_counts=data["class_counts"], epochs=2)
    assert result["all"] == again["all"] and torch.equal(torch.as_tensor(result["per_class_accuracy"]),
                                                         torch.as_tensor(again["per_class_accuracy"]))
