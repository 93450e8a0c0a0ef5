"""Core helpers: device.py, profiles.py, _version.py, progress.py, _validation.py (every error branch)."""

import math
import random
import re

import numpy as np
import pytest
import torch

import ltutorial as lt
from ltutorial import _validation as V
from ltutorial import _version, device, profiles, progress


# ---------------------------------------------------------------- device.get_device
def test_get_device_auto_on_this_machine(capsys):
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu"
    )
    assert lt.get_device("auto").type == expected
    assert lt.get_device(None).type == expected
    lt.get_device("auto", verbose=True)
    assert capsys.readouterr().out.strip() == f"device: {expected} (auto)"


def test_get_device_auto_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device.get_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device.get_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert device.get_device("auto") == torch.device("cpu")


def test_get_device_explicit(capsys):
    assert device.get_device("cpu") == torch.device("cpu")
    assert device.get_device(torch.device("cpu")) == torch.device("cpu")
    device.get_device("cpu", verbose=True)
    assert capsys.readouterr().out.strip() == "device: cpu"


def test_get_device_explicit_cuda_and_mps_when_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert device.get_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"^device must name an existing GPU \(this machine has 2\); got 'cuda:2' instead"):
        device.get_device("cuda:2")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert device.get_device("mps") == torch.device("mps")


@pytest.mark.parametrize(
    "request_, match",
    [
        ("tpu", "device must be one of"),
        ("gpu", "device must be one of"),
        (3, "device must be a string or torch.device; got int"),
        # torch's own RuntimeError named no argument; a meta device was accepted (and emptied a model moved to it)
        ("cuda:abc", r"^device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got 'cuda:abc' instead"),
        ("cpu:x", r"^device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'; got 'cpu:x' instead"),
        (torch.device("meta"), r"^device's type must be one of \['cpu', 'cuda', 'mps'\]; got 'meta'"),
    ],
)
def test_get_device_bad_names(request_, match):
    with pytest.raises(ValueError, match=match):
        device.get_device(request_)


def test_get_device_refuses_unavailable_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for req in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(ValueError, match="CUDA is not available"):
            device.get_device(req)
    for req in ("mps", torch.device("mps")):
        with pytest.raises(ValueError, match="MPS is not available"):
            device.get_device(req)


# ---------------------------------------------------------------- device.seed_everything
def _draws():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_is_deterministic():
    g1 = lt.seed_everything(7)
    a = _draws()
    r1 = torch.rand(3, generator=g1)
    g2 = lt.seed_everything(np.int64(7))
    b = _draws()
    r2 = torch.rand(3, generator=g2)
    assert a == b
    assert torch.equal(r1, r2)
    lt.seed_everything(8)
    assert _draws() != a
    assert g1.initial_seed() == 7


def test_seed_everything_large_seed_wraps_numpy():
    lt.seed_everything(2**32 + 5)
    a = float(np.random.rand())
    np.random.seed(5)
    assert a == float(np.random.rand())


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_seed_everything_bad_seed(seed):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        lt.seed_everything(seed)


# ---------------------------------------------------------------- profiles
def test_pick_and_override():
    assert profiles.PROFILES == ("smoke", "cpu", "full")
    vals = dict(smoke=1, cpu=5, full=200)
    assert [lt.pick(p, **vals) for p in lt.PROFILES] == [1, 5, 200]
    assert lt.pick("cpu", **vals, override=17) == 17
    assert lt.pick("full", **vals, override=0) == 0  # a falsy override is still the user's choice
    assert lt.pick("smoke", **vals, override=None) == 1


@pytest.mark.parametrize("profile", ["fast", "CPU", None, ""])
def test_pick_bad_profile(profile):
    with pytest.raises(ValueError, match="PROFILE must be one of"):
        lt.pick(profile, smoke=1, cpu=2, full=3, override=4)


# ---------------------------------------------------------------- _version.require
def test_require_accepts_older_or_equal():
    assert lt.require("0.1") == lt.__version__
    assert lt.require("0.1.0") == lt.__version__
    assert lt.require("0") == lt.__version__


def test_require_raises_for_a_too_new_version(monkeypatch):
    with pytest.raises(ImportError, match=r"needs ltutorial >= 99.0 but .* is installed.*pip install -e"):
        lt.require("99.0")
    with pytest.raises(ImportError):
        lt.require("0.1.1")
    # numeric, not string, comparison: 0.10 is newer than 0.9
    monkeypatch.setattr(_version, "__version__", "0.9.0")
    with pytest.raises(ImportError):
        _version.require("0.10")
    assert _version.require("0.9") == "0.9.0"


def test_version_parse():
    # trailing zeros do not count (PEP 440: 0.2 == 0.2.0); "0.1.0.0" was refused on 0.1.0
    assert _version._parse("0.1.0") == _version._parse("0.1") == _version._parse("0.1.0.0") == (0, 1)
    assert _version._parse("10.20.3") == (10, 20, 3)
    assert _version._parse("2.0.dev") == (2,) and _version._parse("0") == (0,)


def test_require_with_trailing_zeros(monkeypatch):
    assert lt.require("0.1.0.0") == lt.__version__
    monkeypatch.setattr(_version, "__version__", "0.2")
    assert _version.require("0.2.0") == "0.2"


@pytest.mark.parametrize("bad", ["", "abc", 1, None, 0.1])
def test_require_bad_argument(bad):
    with pytest.raises(ValueError, match="min_version must be a version string"):
        lt.require(bad)


# ---------------------------------------------------------------- progress
@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("LTUTORIAL_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    return monkeypatch


def test_progress_on_by_default(clean_env):
    assert progress.progress_enabled() is True
    bar = progress.progress_bar(range(3))
    assert bar.disable is False and list(bar) == [0, 1, 2]
    bar.close()


@pytest.mark.parametrize("value", ["0", "false", "No", "OFF"])
def test_progress_off_by_env(clean_env, value):
    clean_env.setenv("LTUTORIAL_PROGRESS", value)
    assert progress.progress_enabled() is False
    bar = progress.progress_bar(range(2))
    assert bar.disable is True and list(bar) == [0, 1]


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_progress_off_under_ci(clean_env, value):
    clean_env.setenv("CI", value)
    assert progress.progress_enabled() is False


def test_progress_other_env_values_keep_bars(clean_env):
    clean_env.setenv("LTUTORIAL_PROGRESS", "1")
    clean_env.setenv("CI", "0")
    assert progress.progress_enabled() is True


def test_progress_explicit_wins(clean_env):
    clean_env.setenv("CI", "true")
    assert progress.progress_enabled(True) is True
    clean_env.delenv("CI")
    assert progress.progress_enabled(False) is False
    bar = progress.progress_bar(range(2), progress=True, desc="x")
    assert bar.disable is False
    bar.close()


# ---------------------------------------------------------------- _validation
def test_as_tensor():
    t = torch.arange(3)
    assert V.as_tensor(t, name="x") is t
    assert torch.equal(V.as_tensor(np.array([1, 2]), name="x"), torch.tensor([1, 2]))
    assert torch.equal(V.as_tensor([1, 2], name="x"), torch.tensor([1, 2]))
    assert torch.equal(V.as_tensor((1.5,), name="x"), torch.tensor([1.5], dtype=torch.float64))
    assert V.as_tensor(3, name="x").ndim == 0
    with pytest.raises(ValueError, match="x must be a numpy array, list or torch tensor; got dict"):
        V.as_tensor({1: 2}, name="x")


def test_as_tensor_string_is_a_value_error():
    with pytest.raises(ValueError, match="x must hold numbers; got an array of dtype"):
        V.as_tensor("abc", name="x")


@pytest.mark.parametrize("version,minimum,ok", [("0.1.0", "0.1", True), ("0.1.0", "0.1.1", False), ("0.1.0rc1", "0.1.1", False), ("0.10.0", "0.9", True)])
def test_version_parse_against_requirements(monkeypatch, version, minimum, ok):
    import ltutorial._version as vmod

    monkeypatch.setattr(vmod, "__version__", version)
    if ok:
        assert vmod.require(minimum) == version
    else:
        with pytest.raises(ImportError, match=minimum):
            vmod.require(minimum)


def test_check_class_counts():
    out = V.check_class_counts([5000, 50])
    assert out.dtype == torch.float64 and out.device.type == "cpu" and out.tolist() == [5000.0, 50.0]
    assert V.check_class_counts(torch.tensor([3, 2]), num_classes=2).tolist() == [3.0, 2.0]


@pytest.mark.parametrize(
    "counts, kw, match",
    [
        ([[1, 2]], {}, "class_counts must be a non-empty 1-D"),
        ([], {}, "class_counts must be a non-empty 1-D"),
        ([1, 0], {}, "finite counts > 0"),
        ([1, -3], {}, "finite counts > 0"),
        ([1, float("nan")], {}, "finite counts > 0"),
        ([1, float("inf")], {}, "finite counts > 0"),
        ([1, 2], {"num_classes": 3}, "one entry per class \\(3\\); got 2"),
        ([1, 2], {"name": "train_counts"}, None),
    ],
)
def test_check_class_counts_errors(counts, kw, match):
    if match is None:
        assert V.check_class_counts(counts, **kw).numel() == 2
        with pytest.raises(ValueError, match="^train_counts must"):
            V.check_class_counts([0], **kw)
        return
    with pytest.raises(ValueError, match=match):
        V.check_class_counts(counts, **kw)


def test_check_labels():
    y = V.check_labels(np.array([0.0, 2.0, 1.0]), num_classes=3)
    assert y.dtype == torch.int64 and y.tolist() == [0, 2, 1]
    assert V.check_labels(torch.tensor([], dtype=torch.int64)).numel() == 0
    assert V.check_labels(torch.tensor([4], dtype=torch.int32)).dtype == torch.int64


@pytest.mark.parametrize(
    "labels, kw, match",
    [
        ([[0, 1]], {}, "labels must be 1-D"),
        ([0.5, 1.0], {}, "integer class indices; got non-integer"),
        (np.array([True, False]), {}, "got dtype torch.bool"),
        (torch.tensor([1 + 0j]), {}, "got dtype torch.complex"),
        ([0, -1], {}, "labels must be >= 0; got a minimum of -1"),
        ([0, 3], {"num_classes": 3}, "labels must be < num_classes=3; got a maximum of 3"),
        ([0, 3], {"num_classes": 3, "name": "targets"}, "^targets must be <"),
    ],
)
def test_check_labels_errors(labels, kw, match):
    with pytest.raises(ValueError, match=match):
        V.check_labels(labels, **kw)


def test_check_imbalance_ratio():
    assert V.check_imbalance_ratio(100) == 100.0
    assert V.check_imbalance_ratio(np.float32(1.0)) == 1.0
    for bad in (0.5, 0, -3, float("nan"), float("inf"), True, "100", None):
        with pytest.raises(ValueError, match="imbalance_ratio must be a finite number >= 1"):
            V.check_imbalance_ratio(bad)


def test_check_number_messages():
    assert V.check_number(np.float32(-2.5), name="tau", minimum=-math.inf) == -2.5
    for bad in (float("nan"), float("inf"), True, "1", None):
        with pytest.raises(ValueError, match=rf"^tau must be a finite number; got {re.escape(repr(bad))} instead\.$"):
            V.check_number(bad, name="tau", minimum=-math.inf)
    with pytest.raises(ValueError, match=r"^lr must be a finite number > 0; got 0 instead\.$"):
        V.check_number(0, name="lr", strict=True)
    with pytest.raises(ValueError, match=r"^eps must be a finite number >= 0.5; got 0.25 instead\.$"):
        V.check_number(0.25, name="eps", minimum=0.5)


def test_check_positive_int():
    assert V.check_positive_int(np.int64(3), name="epochs") == 3
    assert V.check_positive_int(0, name="k", minimum=0) == 0
    for bad in (0, -1, 1.0, True, "2", None):
        with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
            V.check_positive_int(bad, name="epochs")


def test_check_choice():
    assert V.check_choice("cpu", ("smoke", "cpu", "full"), name="profile") == "cpu"
    # unhashable or array-like values get the same message, not a TypeError from a dict lookup
    for bad in ("gpu", ["cpu"], np.array(["cpu", "cpu"]), torch.tensor([1]), None):
        with pytest.raises(ValueError, match=r"profile must be one of \['smoke', 'cpu', 'full'\]; got .* instead"):
            V.check_choice(bad, ("smoke", "cpu", "full"), name="profile")


def test_check_probability():
    assert V.check_probability(0, name="p") == 0.0 and V.check_probability(1, name="p") == 1.0
    assert V.check_probability(np.float64(0.3), name="p") == 0.3
    for bad in (True, "0.5", None):
        with pytest.raises(ValueError, match="p must be a number in \\[0, 1\\]"):
            V.check_probability(bad, name="p")
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match="p must be in \\[0, 1\\]"):
            V.check_probability(bad, name="p")
    with pytest.raises(ValueError, match="beta must be in \\(0, 1\\)"):
        V.check_probability(0.0, name="beta", inclusive_low=False, inclusive_high=False)
    with pytest.raises(ValueError, match="beta must be in \\[0, 1\\)"):
        V.check_probability(1.0, name="beta", inclusive_high=False)


def test_check_random_state_and_make_generator():
    assert V.check_random_state(None) is None
    assert V.check_random_state(np.int32(4)) == 4
    for bad in (-1, True, 1.5, "3"):
        with pytest.raises(ValueError, match="random_state must be None or a non-negative integer"):
            V.check_random_state(bad)
    with pytest.raises(ValueError, match="^seed must be None"):
        V.make_generator(-2, name="seed")
    a = torch.rand(4, generator=V.make_generator(3))
    b = torch.rand(4, generator=V.make_generator(3))
    c = torch.rand(4, generator=V.make_generator(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert V.make_generator(None).device.type == "cpu"
    assert V.make_generator(0, "cpu").initial_seed() == 0


@pytest.mark.gpu
def test_make_generator_on_cuda():
    g = V.make_generator(1, "cuda")
    assert g.device.type == "cuda"
    x = torch.rand(3, device="cuda", generator=g)
    assert torch.equal(x, torch.rand(3, device="cuda", generator=V.make_generator(1, "cuda")))


@pytest.mark.parametrize("profile", ["smoke", "cpu", "full"])
@pytest.mark.parametrize("dataset", ["cifar10-lt", "digits-lt"])
def test_supervised_settings_are_one_table_for_every_notebook(profile, dataset):
    import ltutorial as lt

    s = lt.supervised_settings(profile, dataset)
    assert {"model", "model_kwargs", "epochs", "batch_size", "eval_every"} <= set(s)  # keys may be added, not removed
    assert s == lt.supervised_settings(profile, dataset)  # a pure function of (profile, dataset)
    assert s["model"] == ("resnet32" if profile == "full" else "small_cnn")
    assert (s["model_kwargs"] == {}) == (s["model"] == "resnet32")
    assert lt.supervised_settings(profile, dataset, epochs=3)["epochs"] == 3
    with pytest.raises(ValueError, match="PROFILE"):
        lt.supervised_settings("laptop", dataset)


def test_supervised_settings_refuses_a_width_the_profile_does_not_use():
    import ltutorial as lt

    assert lt.supervised_settings("cpu", "cifar10-lt", width=24)["model_kwargs"] == {"width": 24}
    with pytest.raises(ValueError, match="width applies to the SmallCNN .* full profile trains resnet32"):
        lt.supervised_settings("full", "cifar10-lt", width=24)
