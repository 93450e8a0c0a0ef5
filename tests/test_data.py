"""Tests for ltutorial.data: long-tailed counts and subsets, readers, cache, packs, digits, synthetic."""

from __future__ import annotations

import math
import os
import pickle
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import ltutorial as lt
import ltutorial.data as D
from ltutorial.data import cifar as C
from ltutorial.data import prepare
from ltutorial.fast import pack as P
from ltutorial.data.prepare import balanced_split

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _real_cifar_root() -> Path | None:
    for candidate in (os.environ.get("LTUTORIAL_DATA"), "/work/shared/data", Path(__file__).parents[2] / "shared" / "data"):
        if candidate and C.locate_cifar(candidate, "cifar10") is not None:
            return Path(candidate)
    return None


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("LTUTORIAL_CACHE", str(cache))
    return cache


@pytest.fixture
def no_data_env(monkeypatch, tmp_path):
    """No LTUTORIAL_DATA and a working directory without ./data."""
    monkeypatch.delenv("LTUTORIAL_DATA", raising=False)
    empty = tmp_path / "cwd"
    empty.mkdir()
    monkeypatch.chdir(empty)
    return empty


# ----------------------------------------------------------------------------------------------
# longtail_counts
# ----------------------------------------------------------------------------------------------


def test_cifar10_exp_counts_match_ldam_table():
    # deep_lt.md section 1 (LDAM-DRW / LA code): the per-class counts and total for rho = 100.
    counts = D.longtail_counts(5000, 10, 100)
    assert counts == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert sum(counts) == 12406


@pytest.mark.parametrize(
    "n_max, num_classes, ratio, total",
    [
        (5000, 10, 100, 12406),
        (500, 100, 100, 10847),
        (5000, 10, 50, 13996),
        (5000, 10, 10, 20431),
        (5000, 10, 200, 11203),
        (5000, 10, 20, 17023),
        (500, 100, 10, 19573),
        (500, 100, 50, 12608),
        (500, 100, 200, 9502),
        (500, 100, 20, 15907),
    ],
)
def test_exp_totals_match_published_sizes(n_max, num_classes, ratio, total):
    assert sum(D.longtail_counts(n_max, num_classes, ratio)) == total


def test_cifar100_many_medium_few_split():
    # OLTR convention on CIFAR-100-LT rho=100: 35 many (>100), 35 medium (20..100), 30 few (<20).
    counts = np.array(D.longtail_counts(500, 100, 100))
    assert ((counts > 100).sum(), ((counts >= 20) & (counts <= 100)).sum(), (counts < 20).sum()) == (35, 35, 30)
    assert counts[0] == 500 and counts[-1] == 5 and np.all(np.diff(counts) <= 0)


def test_step_profile_by_hand():
    assert D.longtail_counts(5000, 10, 100, "step") == [5000] * 5 + [50] * 5
    assert D.longtail_counts(500, 100, 10, "step") == [500] * 50 + [50] * 50
    assert sum(D.longtail_counts(5000, 10, 10, "step")) == 27500
    # odd number of classes: the head takes the extra class, n_max / n_min stays rho
    assert D.longtail_counts(100, 3, 4, "step") == [100, 100, 25]


def test_ratio_one_and_single_class_are_balanced():
    assert D.longtail_counts(7, 4, 1) == [7, 7, 7, 7]
    assert D.longtail_counts(7, 4, 1, "step") == [7, 7, 7, 7]
    assert D.longtail_counts(9, 1, 100) == [9]


@pytest.mark.parametrize("ratio", [0.5, 0, -3, float("nan"), float("inf"), "100", None, True])
def test_counts_reject_bad_ratio(ratio):
    with pytest.raises(ValueError, match="imbalance_ratio must be a finite number >= 1"):
        D.longtail_counts(100, 10, ratio)


def test_counts_reject_unknown_profile_listing_valid_names():
    with pytest.raises(ValueError, match=r"profile must be one of \['exp', 'step'\]; got 'linear'"):
        D.longtail_counts(100, 10, 10, "linear")


@pytest.mark.parametrize("num_classes", [0, -1, 2.5])
def test_counts_reject_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        D.longtail_counts(100, num_classes, 10)


def test_counts_reject_bad_n_max_and_empty_tail():
    with pytest.raises(ValueError, match="n_max must be an integer >= 1"):
        D.longtail_counts(0, 10, 10)
    with pytest.raises(ValueError, match="n_max must be large enough"):
        D.longtail_counts(10, 10, 100)


# ----------------------------------------------------------------------------------------------
# longtail_indices
# ----------------------------------------------------------------------------------------------


def _shuffled_balanced_labels(per_class=50, num_classes=10, seed=1):
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return labels[torch.randperm(labels.numel(), generator=torch.Generator().manual_seed(seed))]


@pytest.mark.parametrize("profile", ["exp", "step"])
def test_indices_per_class_counts_match_counts(profile):
    labels = _shuffled_balanced_labels()
    idx = D.longtail_indices(labels, 10, profile, seed=0)
    assert idx.dtype == torch.int64
    assert torch.equal(idx, torch.sort(idx).values) and idx.unique().numel() == idx.numel()
    assert torch.bincount(labels[idx], minlength=10).tolist() == D.longtail_counts(50, 10, 10, profile)


def test_indices_deterministic_and_seed_dependent():
    labels = _shuffled_balanced_labels()
    a = D.longtail_indices(labels, 10, seed=3)
    assert torch.equal(a, D.longtail_indices(labels, 10, seed=3))
    assert not torch.equal(a, D.longtail_indices(labels, 10, seed=4))


def test_indices_larger_ratio_keeps_a_subset():
    labels = _shuffled_balanced_labels()
    small = set(D.longtail_indices(labels, 20, seed=5).tolist())
    large = set(D.longtail_indices(labels, 5, seed=5).tolist())
    assert small < large


def test_indices_accept_numpy_and_take_n_max_from_the_smallest_class():
    labels = _shuffled_balanced_labels().numpy()
    labels = labels[labels != 3].tolist() + [3] * 30  # class 3 has 30 samples, the others 50
    idx = D.longtail_indices(np.array(labels), 2).numpy()
    assert np.bincount(np.array(labels)[idx], minlength=10).tolist() == D.longtail_counts(30, 10, 2)


def test_indices_errors():
    labels = _shuffled_balanced_labels()
    with pytest.raises(ValueError, match="labels must be >= 0"):
        D.longtail_indices(torch.tensor([0, 1, -1]), 2)
    with pytest.raises(ValueError, match="labels must be < num_classes=10"):
        D.longtail_indices(torch.tensor([0, 1, 10]), 2, num_classes=10)
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1"):
        D.longtail_indices(labels, 2, num_classes=0)
    with pytest.raises(ValueError, match="labels must contain every class"):
        D.longtail_indices(torch.tensor([0, 0, 2, 2]), 2)
    with pytest.raises(ValueError, match="imbalance_ratio must be a finite number >= 1"):
        D.longtail_indices(labels, float("inf"))
    with pytest.raises(ValueError, match="profile must be one of"):
        D.longtail_indices(labels, 2, profile="cosine")
    with pytest.raises(ValueError, match="labels must hold integer class indices"):
        D.longtail_indices(torch.tensor([0.5, 1.0]), 2)
    with pytest.raises(ValueError, match="seed must be None or a non-negative integer"):
        D.longtail_indices(labels, 2, seed=-1)


# ----------------------------------------------------------------------------------------------
# ImageDataset
# ----------------------------------------------------------------------------------------------


def _random_images(n=12, c=3, h=4, w=4, seed=0):
    return torch.randint(0, 256, (n, c, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_image_dataset_properties_and_stats():
    images = _random_images()
    labels = torch.tensor([0, 0, 0, 2, 2, 0, 0, 2, 0, 0, 2, 0])
    ds = D.ImageDataset(images, labels, ["a", "b", "c"], name="toy")
    assert len(ds) == 12 and ds.num_classes == 3
    assert ds.class_counts.tolist() == [8, 0, 4]  # minlength keeps the absent class
    x = images.numpy().astype(np.float64) / 255
    np.testing.assert_allclose(ds.mean, x.mean(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(ds.std, x.std(axis=(0, 2, 3)), rtol=1e-9)
    assert "toy" in repr(ds) and "n=12" in repr(ds) and len(repr(ds)) < 300


def test_image_dataset_subset_and_to():
    ds = D.ImageDataset(_random_images(), torch.arange(12) % 3, ["a", "b", "c"], mean=(0.5,) * 3, std=(0.25,) * 3, augment=True)
    sub = ds.subset([3, 0, 7])
    assert torch.equal(sub.images, ds.images[[3, 0, 7]]) and sub.labels.tolist() == [0, 0, 1]
    assert sub.mean == ds.mean and sub.augment and sub.classes == ds.classes
    mask = ds.labels == 2
    assert len(ds.subset(mask)) == 4
    moved = ds.to("cpu")
    assert moved.device.type == "cpu" and torch.equal(moved.images, ds.images)
    with pytest.raises(ValueError, match=r"indices must lie in \[-12, 12\); got values from 12 to 12"):
        ds.subset([12])
    assert torch.equal(ds.subset([-1]).images, ds.images[[11]])  # negative indices count from the end
    with pytest.raises(ValueError, match="indices must be a 1-D integer sequence or boolean mask"):
        ds.subset([0.5])
    with pytest.raises(ValueError, match=r"indices as a boolean mask must have shape \(12,\)"):
        ds.subset(torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="^device must be one of"):
        ds.to("gpu")
    assert ds.to("auto").device == lt.get_device("auto")


def test_image_dataset_validation():
    imgs = _random_images()
    with pytest.raises(ValueError, match="images must be a uint8 tensor"):
        D.ImageDataset(imgs.float(), torch.zeros(12, dtype=torch.int64), ["a"])
    with pytest.raises(ValueError, match="images must be 4-D"):
        D.ImageDataset(imgs[0], torch.zeros(3, dtype=torch.int64), ["a"])
    with pytest.raises(ValueError, match="labels must be 1-D with one label per image"):
        D.ImageDataset(imgs, torch.zeros(11, dtype=torch.int64), ["a"])
    with pytest.raises(ValueError, match="labels must be < num_classes=2"):
        D.ImageDataset(imgs, torch.full((12,), 2), ["a", "b"])
    with pytest.raises(ValueError, match="std must be 3 positive floats"):
        D.ImageDataset(imgs, torch.zeros(12, dtype=torch.int64), ["a"], mean=(0, 0, 0), std=(1, 0, 1))
    # classes default to "0".."max label"
    assert D.ImageDataset(imgs, torch.arange(12) % 4).classes == ["0", "1", "2", "3"]


@pytest.mark.parametrize("stat,value", [("mean", (0.5, float("inf"), 0.5)), ("std", (0.2, 0.2, float("inf"))),
                                        ("mean", (-float("inf"),) * 3), ("std", (float("nan"), 0.2, 0.2))])
def test_image_dataset_refuses_non_finite_statistics(stat, value):
    # issue 13: an inf mean/std was accepted and normalised every image to 0 or NaN
    with pytest.raises(ValueError, match=rf"^{stat} must be 3 (positive )?floats \(finite, one per channel\); got "):
        D.ImageDataset(_random_images(), torch.zeros(12, dtype=torch.int64), ["a"], **{stat: value})


def test_constant_channel_has_std_exactly_zero_and_is_refused():
    # issue 13: constant images got std ~1e-9 from E[x^2] - E[x]^2 rounding, and normalising blew them up 1e8-fold
    images = torch.full((5, 3, 4, 4), 77, dtype=torch.uint8)
    images[:, 0] = _random_images(5, 1)[:, 0]  # channel 0 varies, channels 1 and 2 are constant
    mean, std = D.channel_mean_std(images, chunk=2)  # summed over several chunks
    assert std[1] == 0.0 and std[2] == 0.0 and mean[1] == pytest.approx(77 / 255, abs=1e-15)
    np.testing.assert_allclose(std[0], images[:, 0].double().div(255).std(unbiased=False).item(), rtol=1e-9)
    with pytest.raises(ValueError, match=r"^images must vary within every channel to compute std; got channel 1 with "
                                         r"all pixels equal \(std 0, normalising would divide by 0\) instead\. Pass std=\.$"):
        D.ImageDataset(images, torch.zeros(5, dtype=torch.int64), ["a"])
    ds = D.ImageDataset(images, torch.zeros(5, dtype=torch.int64), ["a"], std=(0.25, 0.25, 0.25))  # given: fine
    assert ds.std == (0.25, 0.25, 0.25) and ds.mean[1] == pytest.approx(77 / 255)


# ----------------------------------------------------------------------------------------------
# Tiny fake CIFAR copies
# ----------------------------------------------------------------------------------------------


def _pattern(label: int, k: int) -> np.ndarray:
    """A 32x32x3 image whose pixels encode (label, k) so any mix-up is detectable."""
    yy, xx = np.mgrid[0:32, 0:32]
    img = np.stack([(xx * 7 + k) % 256, (yy * 5 + label * 20) % 256, (xx + yy + 13 * k + label) % 256], axis=-1)
    return img.astype(np.uint8)


def _make_image_folder(root: Path, classes, n_train, n_test, fmt="png") -> Path:
    for split, n in (("train", n_train), ("test", n_test)):
        for label, cls in enumerate(sorted(classes)):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            count = n[label] if isinstance(n, (list, tuple)) else n
            for k in range(count):
                Image.fromarray(_pattern(label, k)).save(root / split / cls / f"{k:04d}.{fmt}")
    return root


@pytest.fixture
def tiny_folder(tmp_path):
    # Class folders created in reverse so a reader that does not sort would mislabel them.
    classes = [f"c{9 - i}" for i in range(10)]
    return _make_image_folder(tmp_path / "data" / "cifar10", classes, n_train=8, n_test=2)


def _write_fake_cifar10_pickles(dst: Path, per_batch=20, n_test=20) -> dict:
    """The official layout: 5 train batches, a test batch and batches.meta, Python pickles."""
    dst.mkdir(parents=True)
    rng = np.random.default_rng(0)
    expected = {}
    for batch in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if batch == "test_batch" else per_batch
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in np.arange(n) % 10]
        with open(dst / batch, "wb") as fh:
            pickle.dump({"batch_label": batch, "labels": labels, "data": data, "filenames": [f"{batch}_{i}.png" for i in range(n)]}, fh, protocol=2)
        expected[batch] = (data, labels)
    with open(dst / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": CIFAR10_CLASSES, "num_cases_per_batch": per_batch, "num_vis": 3072}, fh, protocol=2)
    return expected


# ----------------------------------------------------------------------------------------------
# Readers, locating, cache
# ----------------------------------------------------------------------------------------------


def test_image_folder_reader_known_pixels(tiny_folder, tmp_cache):
    entry = C.load_cifar_split("cifar10", "train", tiny_folder)
    assert entry["classes"] == [f"c{i}" for i in range(10)]
    assert entry["images"].dtype == torch.uint8 and entry["images"].shape == (80, 3, 32, 32)
    assert torch.bincount(entry["labels"]).tolist() == [8] * 10
    for i in (0, 9, 41, 79):
        label, k = int(entry["labels"][i]), i % 8
        assert label == i // 8
        assert np.array_equal(entry["images"][i].permute(1, 2, 0).numpy(), _pattern(label, k))
    assert entry["source"].startswith("ImageFolder image copy at")


def test_jpeg_decode_matches_pil(tmp_path):
    folder = tmp_path / "jpg"
    (folder / "train" / "a").mkdir(parents=True)
    for k in range(5):
        Image.fromarray(_pattern(1, k)).save(folder / "train" / "a" / f"{k}.jpg", quality=90)
    raw = C.read_image_folder_bytes(folder, "train")
    ours = C.decode_encoded(raw["data"], raw["offsets"]).permute(0, 2, 3, 1).numpy().astype(int)
    pil = np.stack([np.asarray(Image.open(folder / "train" / "a" / f"{k}.jpg").convert("RGB")) for k in range(5)])
    assert ours.shape == pil.shape
    # Both use libjpeg(-turbo); allow one grey level for a different IDCT in another build.
    assert np.abs(ours - pil.astype(int)).max() <= 1


def test_mixed_png_and_jpeg_decode_like_pil(tmp_path):
    folder = tmp_path / "mixed"
    (folder / "train" / "a").mkdir(parents=True)
    for k in range(3):
        Image.fromarray(_pattern(2, k)).save(folder / "train" / "a" / f"{k}.png")
        Image.fromarray(_pattern(3, k)).save(folder / "train" / "a" / f"{k}.jpg", quality=85)
    raw = C.read_image_folder_bytes(folder, "train")
    ours = C.decode_encoded(raw["data"], raw["offsets"]).int()
    pil = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1)
                       for f in raw["files"]]).int()
    assert ours.shape == (6, 3, 32, 32)
    is_png = torch.tensor([not j for j in C.jpeg_mask(raw["data"], raw["offsets"]).tolist()])
    assert is_png.tolist() == [f.endswith(".png") for f in raw["files"]] and is_png.sum() == 3
    assert torch.equal(ours[is_png], pil[is_png])  # PNG is lossless
    assert (ours - pil).abs().max() <= 1


def test_pickle_reader_official_layout(tmp_path, tmp_cache):
    expected = _write_fake_cifar10_pickles(tmp_path / "cifar-10-batches-py")
    train = C.read_cifar_pickles(tmp_path / "cifar-10-batches-py", "cifar10", "train")
    test = C.read_cifar_pickles(tmp_path / "cifar-10-batches-py", "cifar10", "test")
    assert train["classes"] == CIFAR10_CLASSES
    assert train["images"].shape == (100, 3, 32, 32) and test["images"].shape == (20, 3, 32, 32)
    data, labels = expected["data_batch_2"]
    img = train["images"][20 + 7]  # 8th image of the second batch
    # row-major 3072 = 1024 red, then green, then blue values
    assert int(img[0, 1, 2]) == int(data[7, 0 * 1024 + 1 * 32 + 2])
    assert int(img[2, 31, 0]) == int(data[7, 2 * 1024 + 31 * 32 + 0])
    assert train["labels"][27].item() == labels[7]
    # through load_dataset: root holds cifar-10-batches-py, tiny set -> n_max = 10 per class
    tr, te = D.load_dataset("cifar10-lt", root=tmp_path, imbalance_ratio=10)
    assert tr.class_counts.tolist() == D.longtail_counts(10, 10, 10)
    assert te.class_counts.tolist() == [2] * 10 and tr.source.startswith("official CIFAR-10 files at")


def test_pickle_reader_accepts_bytes_keys_cifar100(tmp_path, tmp_cache):
    # Python-2 era pickles load with byte-string keys when read without latin1 decoding.
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    names = [f"class{i:03d}" for i in range(100)]
    for split, n in (("train", 300), ("test", 100)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(folder / split, "wb") as fh:
            pickle.dump({b"data": data, b"fine_labels": list(np.arange(n) % 100), b"coarse_labels": [0] * n}, fh, protocol=2)
    with open(folder / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": names, b"coarse_label_names": ["x"] * 20}, fh, protocol=2)
    tr, te = D.load_dataset("cifar100-lt", root=tmp_path, imbalance_ratio=3)
    assert tr.classes == names and tr.num_classes == 100
    assert tr.class_counts.tolist() == D.longtail_counts(3, 100, 3)
    assert len(te) == 100


def test_find_cifar_root_layouts(tiny_folder, tmp_path, monkeypatch, no_data_env):
    data_dir = tiny_folder.parent
    assert C.locate_cifar(data_dir) == ("imagefolder", tiny_folder)
    assert C.locate_cifar(tiny_folder) == ("imagefolder", tiny_folder)  # the ImageFolder itself
    assert D.find_cifar_root(data_dir) == tiny_folder
    monkeypatch.setenv("LTUTORIAL_DATA", str(data_dir))
    assert D.find_cifar_root() == tiny_folder
    monkeypatch.delenv("LTUTORIAL_DATA")
    shutil.copytree(data_dir, no_data_env / "data")  # ./data is the last resort
    assert D.find_cifar_root() == Path("data") / "cifar10"
    # the official files are preferred over the JPEG/PNG tree when both are present
    _write_fake_cifar10_pickles(data_dir / "cifar-10-batches-py")
    assert C.locate_cifar(data_dir) == ("pickle", data_dir / "cifar-10-batches-py")
    # a 10-class tree is not CIFAR-100
    assert C.locate_cifar(tiny_folder, "cifar100") is None


def test_default_root_from_notebooks_folder_is_repository_data(tiny_folder, tmp_path, monkeypatch):
    """Notebooks run in notebooks/: without ./data there, the repository's ../data is used."""
    monkeypatch.delenv("LTUTORIAL_DATA", raising=False)
    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    shutil.copytree(tiny_folder.parent, repo / "data")
    monkeypatch.chdir(repo / "notebooks")
    assert D.find_cifar_root() == Path("../data") / "cifar10"
    monkeypatch.chdir(repo)  # from the repository root, ./data as before
    assert D.find_cifar_root() == Path("data") / "cifar10"
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # not a notebooks/ folder: no ../data guess
    assert C.locate_cifar() is None


def test_find_cifar_root_missing_raises(tmp_path, no_data_env):
    with pytest.raises(ValueError, match=r"root must point to a CIFAR-10 copy.*root='.*nowhere' \(argument\).*LTUTORIAL_DATA"):
        D.find_cifar_root(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"root='data' \(default \./data\).*download=True"):
        D.load_dataset("cifar10-lt")
    with pytest.raises(ValueError, match="name must be one of"):
        D.find_cifar_root(tmp_path, name="cifar11")


def test_cache_hit_returns_equal_tensors(tiny_folder, tmp_cache, monkeypatch):
    first = C.load_cifar_split("cifar10", "test", tiny_folder)
    files = list(tmp_cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt"  # no temporary file left behind

    def must_not_decode(*args, **kwargs):
        raise AssertionError("the cache should have served this load")

    monkeypatch.setattr(C, "_read_source", must_not_decode)
    second = C.load_cifar_split("cifar10", "test", tiny_folder)
    for key in ("images", "labels"):
        assert torch.equal(first[key], second[key])
    assert first["classes"] == second["classes"] and first["mean"] == second["mean"]


def test_cache_rebuilds_when_files_change_or_corrupt(tiny_folder, tmp_cache):
    a = C.load_cifar_split("cifar10", "test", tiny_folder)
    Image.fromarray(_pattern(0, 50)).save(tiny_folder / "test" / "c0" / "0050.png")
    b = C.load_cifar_split("cifar10", "test", tiny_folder)
    assert len(b["labels"]) == len(a["labels"]) + 1
    assert len(list(tmp_cache.iterdir())) == 1  # the stale entry was replaced, not kept
    for f in tmp_cache.iterdir():
        f.write_bytes(b"not a torch file")
    c = C.load_cifar_split("cifar10", "test", tiny_folder)
    assert torch.equal(b["images"], c["images"])


def test_atomic_save_from_two_threads_at_once(tmp_path):
    # the temporary name was per process: two threads shared it and one os.replace failed (a cache-not-writable warning)
    import threading

    barrier, errors = threading.Barrier(2), []

    def save():
        barrier.wait()
        try:
            C.atomic_save({"x": torch.arange(200_000)}, tmp_path / "same.pt")
        except OSError as err:
            errors.append(err)

    for _ in range(5):
        threads = [threading.Thread(target=save) for _ in range(2)]
        [t.start() for t in threads], [t.join() for t in threads]
    assert not errors and torch.equal(torch.load(tmp_path / "same.pt")["x"], torch.arange(200_000))


def test_image_dataset_classes_must_be_an_ordered_list_and_an_empty_subset_is_empty():
    x = torch.randint(0, 256, (4, 3, 2, 2), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    for bad in ({"a", "b", "c", "d"}, "abcd"):  # a set's order follows the hash seed; a str is one class per letter
        with pytest.raises(ValueError, match="^classes must be a list of class names"):
            D.ImageDataset(x, [0, 1, 2, 3], classes=bad)
    assert D.ImageDataset(x, [0, 1, 2, 3], classes=np.array(["a", "b", "c", "d"])).classes == ["a", "b", "c", "d"]
    data = D.ImageDataset(x, [0, 1, 2, 3], classes=("a", "b", "c", "d"))
    assert data.classes == ["a", "b", "c", "d"] and len(data.subset([])) == 0  # [] was refused as float64


def test_cache_misses_an_image_overwritten_in_place(tiny_folder, tmp_cache):
    a = C.load_cifar_split("cifar10", "test", tiny_folder)
    target = tiny_folder / "test" / "c0" / "0000.png"
    old = target.stat().st_mtime_ns
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(target)  # same name, new pixels
    os.utime(target, ns=(old + 10**9, old + 10**9))  # a coarse file-system clock still sees a newer file
    b = C.load_cifar_split("cifar10", "test", tiny_folder)
    row = b["classes"].index("c0") * 2  # classes sorted; 2 test images per class, 0000.png first
    assert not torch.equal(a["images"][row], b["images"][row]) and bool((b["images"][row] == 200).all())


def test_unwritable_cache_warns_but_loads(tiny_folder, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LTUTORIAL_CACHE", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="set LTUTORIAL_CACHE to a writable folder"):
        entry = C.load_cifar_split("cifar10", "test", tiny_folder)
    assert entry["images"].shape == (20, 3, 32, 32)


def test_atomic_save_leaves_nothing_on_failure(tmp_path, monkeypatch):
    def broken_save(obj, fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        C.atomic_save({"x": 1}, tmp_path / "out.pt")
    assert list(tmp_path.iterdir()) == []


def test_load_dataset_from_image_folder(tiny_folder, tmp_cache, capsys):
    tr, te = D.load_dataset("cifar10-lt", root=tiny_folder.parent, imbalance_ratio=8, seed=1)
    assert capsys.readouterr().out == ""  # silent unless verbose
    assert tr.class_counts.tolist() == D.longtail_counts(8, 10, 8) and te.class_counts.tolist() == [2] * 10
    assert tr.augment and tr.name == "cifar10-lt" and tr.mean == te.mean
    full = C.load_cifar_split("cifar10", "train", tiny_folder)
    np.testing.assert_allclose(tr.mean, full["images"].double().div(255).mean(dim=(0, 2, 3)).numpy())
    D.load_dataset("cifar10-lt", root=tiny_folder.parent, imbalance_ratio=8, verbose=True)
    assert "cifar10-lt:" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# Pack
# ----------------------------------------------------------------------------------------------


def test_pack_round_trip_full_and_longtail(tiny_folder, tmp_path, tmp_cache):
    ref_tr, ref_te = D.load_dataset("cifar10-lt", root=tiny_folder, imbalance_ratio=4)
    full = P.pack_cifar(tiny_folder, tmp_path / "full")
    assert full == tmp_path / "full" / "cifar10.ltpack"
    tr, te = D.load_dataset("cifar10-lt", root=tmp_path / "full", imbalance_ratio=4)
    assert torch.equal(tr.images, ref_tr.images) and torch.equal(tr.labels, ref_tr.labels)
    assert torch.equal(te.images, ref_te.images) and tr.mean == ref_tr.mean
    assert tr.source.startswith("ltutorial pack (full train split; bytes from ImageFolder")
    # the printed form names the pack's own folder and no machine path (it named 'cifar10)' and kept the pack's path)
    assert repr(tr).endswith("source=\"ltutorial pack (full train split; bytes from ImageFolder image copy in a folder "
                             "named 'cifar10') in a folder named 'cifar10.ltpack'\")") and str(tmp_path) not in repr(tr)

    lt_pack = P.main(["--out", str(tmp_path / "lt"), "--root", str(tiny_folder), "--imbalance-ratio", "4"])
    assert lt_pack == 0
    tr2, te2 = D.load_dataset("cifar10-lt", root=tmp_path / "lt" / "cifar10.ltpack", imbalance_ratio=4)
    assert torch.equal(tr2.images, ref_tr.images) and torch.equal(te2.images, ref_te.images)
    assert tr2.mean == ref_tr.mean  # the statistics of the full train split travel with the pack
    # `python -m ltutorial.data.pack` (README's command) still runs the writer, now in ltutorial.fast.pack
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ltutorial.data.pack", "--out", str(tmp_path / "cli"), "--root",
                           str(tiny_folder), "--imbalance-ratio", "4"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    tr3, _ = D.load_dataset("cifar10-lt", root=tmp_path / "cli", imbalance_ratio=4)
    assert torch.equal(tr3.images, ref_tr.images)
    # a larger ratio with the same seed is a subset of what the pack holds
    tr3, _ = D.load_dataset("cifar10-lt", root=tmp_path / "lt", imbalance_ratio=8)
    ref3, _ = D.load_dataset("cifar10-lt", root=tiny_folder, imbalance_ratio=8)
    assert torch.equal(tr3.images, ref3.images)
    with pytest.raises(ValueError, match="does not hold"):
        D.load_dataset("cifar10-lt", root=tmp_path / "lt", imbalance_ratio=2)
    with pytest.raises(ValueError, match="root must hold an ImageFolder tree or the official files"):
        P.pack_cifar(tmp_path / "lt", tmp_path / "again")
    with pytest.raises(ValueError, match="path must be a pack of cifar100; got a pack of 'cifar10'"):
        D.load_dataset("cifar100-lt", root=tmp_path / "lt" / "cifar10.ltpack")


def test_pack_of_official_pixels_is_lossless(tmp_path, tmp_cache):
    _write_fake_cifar10_pickles(tmp_path / "src" / "cifar-10-batches-py")
    dst = P.pack_cifar(tmp_path / "src", tmp_path / "out" / "mine.ltpack")
    raw = torch.load(dst, weights_only=True)
    assert raw["encoding"] == "png"
    a_tr, a_te = D.load_dataset("cifar10-lt", root=tmp_path / "src", imbalance_ratio=5)
    b_tr, b_te = D.load_dataset("cifar10-lt", root=dst, imbalance_ratio=5)
    assert torch.equal(a_tr.images, b_tr.images) and torch.equal(a_te.images, b_te.images)


def test_pack_real_jpegs_identical_pixels(tmp_path, tmp_cache):
    real = _real_cifar_root()
    if real is None:
        pytest.skip("CIFAR-10 ImageFolder copy not available (set LTUTORIAL_DATA)")
    src_tree = C.find_cifar_root(real)
    if not (src_tree / "train").is_dir():
        pytest.skip("the CIFAR-10 copy found is not an ImageFolder tree")
    # A few hundred real JPEGs: 30 train and 10 test images per class.
    tree = tmp_path / "few" / "cifar10"
    for split, n in (("train", 30), ("test", 10)):
        for cls in C._class_dirs(src_tree / split):
            (tree / split / cls).mkdir(parents=True)
            for name in sorted(os.listdir(src_tree / split / cls))[:n]:
                shutil.copyfile(src_tree / split / cls / name, tree / split / cls / name)
    ref_tr, ref_te = D.load_dataset("cifar10-lt", root=tree, imbalance_ratio=10)
    assert ref_tr.source.startswith("ImageFolder JPEG copy at")
    pack = P.pack_cifar(tree, tmp_path / "pack")
    assert torch.load(pack, weights_only=True)["encoding"] == "jpeg"
    tr, te = D.load_dataset("cifar10-lt", root=tmp_path / "pack", imbalance_ratio=10)
    assert torch.equal(tr.images, ref_tr.images) and torch.equal(te.images, ref_te.images)
    pil = np.asarray(Image.open(sorted((tree / "test" / "cat").iterdir())[3]).convert("RGB")).astype(int)
    cat = CIFAR10_CLASSES.index("cat")
    ours = te.images[te.labels == cat][3].permute(1, 2, 0).numpy().astype(int)
    assert np.abs(ours - pil).max() <= 1


# ----------------------------------------------------------------------------------------------
# Download (no network needed: failures are simulated)
# ----------------------------------------------------------------------------------------------


def test_download_failure_is_fast_and_explains(tmp_path, monkeypatch):
    def slow_dns(*args, **kwargs):
        time.sleep(3)
        raise socket.gaierror("never")

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="downloading CIFAR-10 .* failed .*LTUTORIAL_DATA"):
        C.download_cifar(tmp_path, "cifar10", timeout=0.3)
    assert time.perf_counter() - t0 < 2.5
    assert socket.getdefaulttimeout() is None  # the global timeout is restored


def test_load_dataset_download_flag_calls_download(tmp_path, monkeypatch, tmp_cache):
    calls = []

    def fake_download(root, name="cifar10", **kw):
        calls.append((Path(root), name))
        _write_fake_cifar10_pickles(Path(root) / "cifar-10-batches-py")

    monkeypatch.setattr(prepare, "download_cifar", fake_download)
    tr, _ = D.load_dataset("cifar10-lt", root=tmp_path / "dl", imbalance_ratio=2, download=True)
    assert calls == [(tmp_path / "dl", "cifar10")] and len(tr) == sum(D.longtail_counts(10, 10, 2))
    D.load_dataset("cifar10-lt", root=tmp_path / "dl", imbalance_ratio=2, download=True)
    assert len(calls) == 1  # present data is not downloaded again


# ----------------------------------------------------------------------------------------------
# Registry, resolve_dataset
# ----------------------------------------------------------------------------------------------


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match=r"name must be one of \['cifar10-lt', 'cifar100-lt', 'digits-lt', 'imagenet-lt', "
                       r"'inat2018', 'places-lt'\]; got 'mnist-lt'"):
        D.load_dataset("mnist-lt")
    with pytest.raises(ValueError, match="name must be 'auto' or one of"):
        D.resolve_dataset("mnist-lt")
    assert set(D.DATASETS) == {"cifar10-lt", "cifar100-lt", "digits-lt", "imagenet-lt", "inat2018", "places-lt"}


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("digits-lt", {"imbalance_ratio": 0.5}, r"^imbalance_ratio must be a finite number >= 1; got 0.5 instead"),
        ("digits-lt", {"imbalance_ratio": float("nan")}, r"^imbalance_ratio must be a finite number >= 1"),
        ("digits-lt", {"profile": "linear"}, r"^profile must be one of \['exp', 'step'\]; got 'linear' instead"),
        ("digits-lt", {"seed": -1}, r"^seed must be None or a non-negative integer; got -1 instead"),
        ("digits-lt", {"download": "yes"}, r"^download must be True or False; got 'yes' instead"),
        ("digits-lt", {"verbose": 1}, r"^verbose must be True or False; got 1 instead"),
        ("cifar10-lt", {"root": 5}, r"^root must be a path \(str or os.PathLike\) or None; got int instead"),
        # checked before the data are looked for, so the error names the ratio even without CIFAR-100
        ("cifar100-lt", {"imbalance_ratio": 0, "root": "/nonexistent"}, r"^imbalance_ratio must be a finite number >= 1"),
        ("cifar10-lt", {"profile": "linear", "root": "/nonexistent"}, r"^profile must be one of"),
        (None, {}, r"^name must be one of"),
    ],
)
def test_load_dataset_bad_arguments_name_the_argument(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.load_dataset(name, **kwargs)


def test_resolve_dataset(tiny_folder, no_data_env, capsys, monkeypatch):
    assert D.resolve_dataset("auto") == "digits-lt"
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "digits-lt" in out and "CIFAR-10" in out and "LTUTORIAL_DATA" in out
    assert D.resolve_dataset("auto", root=tiny_folder.parent) == "cifar10-lt"
    monkeypatch.setenv("LTUTORIAL_DATA", str(tiny_folder))
    assert D.resolve_dataset() == "cifar10-lt"
    assert D.resolve_dataset("digits-lt") == "digits-lt"
    assert capsys.readouterr().out == ""


# ----------------------------------------------------------------------------------------------
# digits-lt
# ----------------------------------------------------------------------------------------------


def test_digits_lt_counts_and_balanced_test():
    from sklearn.datasets import load_digits

    train, test = D.load_dataset("digits-lt", imbalance_ratio=10)
    per_class = np.bincount(load_digits().target)
    n_max = int(per_class.min()) - 50
    assert train.class_counts.tolist() == D.longtail_counts(n_max, 10, 10)
    assert test.class_counts.tolist() == [50] * 10
    assert train.images.dtype == torch.uint8 and train.image_shape == (1, 8, 8)
    assert not train.augment and train.classes == [str(d) for d in range(10)]
    allowed = {round(v * 255 / 16) for v in range(17)}
    assert set(torch.unique(test.images).tolist()) <= allowed and int(test.images.max()) == 255
    a, _ = D.load_dataset("digits-lt", imbalance_ratio=10, seed=0)
    b, _ = D.load_dataset("digits-lt", imbalance_ratio=10, seed=1)
    assert torch.equal(a.images, train.images) and not torch.equal(a.images, b.images)


def test_digits_balanced_split_is_a_partition():
    labels = torch.arange(5).repeat_interleave(20)
    held, rest = balanced_split(labels, 7, seed=0)
    assert torch.bincount(labels[held]).tolist() == [7] * 5
    assert sorted(held.tolist() + rest.tolist()) == list(range(100))


# ----------------------------------------------------------------------------------------------
# Synthetic data
# ----------------------------------------------------------------------------------------------


def test_gaussian_mixture_shapes_counts_and_moments():
    centers = [[0, 0], [5, 5]]
    X, y = D.make_gaussian_mixture([4000, 100], centers, cov=[[2.0, 0.5], [0.5, 1.0]], random_state=0)
    assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape == (4100, 2)
    assert np.bincount(y).tolist() == [4000, 100]
    np.testing.assert_allclose(X[y == 0].mean(0), [0, 0], atol=0.1)
    np.testing.assert_allclose(np.cov(X[y == 0].T), [[2.0, 0.5], [0.5, 1.0]], atol=0.15)
    X2, _ = D.make_gaussian_mixture([4000, 100], centers, cov=[[2.0, 0.5], [0.5, 1.0]], random_state=0)
    X3, _ = D.make_gaussian_mixture([4000, 100], centers, cov=[[2.0, 0.5], [0.5, 1.0]], random_state=1)
    assert np.array_equal(X, X2) and not np.array_equal(X, X3)
    with pytest.raises(ValueError, match="class_counts must be"):
        D.make_gaussian_mixture([10], centers)
    with pytest.raises(ValueError, match="cov must be symmetric positive definite"):
        D.make_gaussian_mixture(10, centers, cov=[[1, 2], [2, 1]])
    with pytest.raises(ValueError, match="random_state must be None or a non-negative integer"):
        D.make_gaussian_mixture(10, centers, random_state=-1)


def test_longtail_step_counts():
    assert D.longtail_counts(200, 4, 20, "step") == [200, 200, 10, 10]
    assert D.longtail_counts(200, 5, 20, "step") == [200, 200, 200, 10, 10]


def test_multimodal_rare_structure():
    X, y, cluster = D.make_multimodal_rare(n_majority=1002, n_rare=50, n_clusters=4, random_state=0, return_clusters=True)
    assert np.bincount(y).tolist() == [1002, 50]
    assert np.bincount(cluster[y == 0]).tolist() == [251, 251, 250, 250]
    assert np.all(cluster[y == 1] == -1)
    np.testing.assert_allclose(X[y == 1].mean(0), [0, 0], atol=0.2)  # the rare class sits in the middle
    radii = [np.linalg.norm(X[cluster == k].mean(0)) for k in range(4)]
    np.testing.assert_allclose(radii, 3.0, atol=0.15)
    # no line separates it: the best a linear model can do is far from the 2-cluster case
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    clf = LogisticRegression(class_weight="balanced").fit(X, y)
    assert balanced_accuracy_score(y, clf.predict(X)) < 0.8


def test_gaussian_binary_problem_matches_bayes_formula():
    from scipy.stats import multivariate_normal

    cov = np.array([[1.0, 0.3], [0.3, 2.0]])
    problem = D.GaussianBinaryProblem([0.0, 0.0], [1.5, -1.0], cov, positive_rate=0.1)
    X = np.random.default_rng(0).normal(size=(50, 2))
    p1 = 0.1 * multivariate_normal([1.5, -1.0], cov).pdf(X)
    p0 = 0.9 * multivariate_normal([0.0, 0.0], cov).pdf(X)
    np.testing.assert_allclose(problem.eta(X), p1 / (p0 + p1), rtol=1e-10)
    np.testing.assert_array_equal(problem.predict(X), (problem.eta(X) > 0.1).astype(int))
    np.testing.assert_array_equal(problem.predict(X, "accuracy"), (problem.eta(X) > 0.5).astype(int))
    d = problem.mahalanobis
    assert problem.balanced_accuracy() == pytest.approx(0.5 * (1 + math.erf(d / 2 / math.sqrt(2))))
    assert problem.balanced_accuracy() > problem.balanced_accuracy("accuracy")


def test_imbalanced_gaussians_empirical_rates_match_closed_form():
    from sklearn.metrics import balanced_accuracy_score

    X, y, problem = D.make_imbalanced_gaussians(40000, 0.05, 2.0, dim=3, random_state=0, return_problem=True)
    # i.i.d. labels: the positives ~ Binomial(40000, 0.05), within 4 standard deviations (sqrt(1900) = 43.6) of 2000
    assert X.shape == (40000, 3) and abs(int(y.sum()) - 2000) < 4 * 43.6 and X.dtype == np.float32
    for metric in ("balanced_accuracy", "accuracy"):
        emp = balanced_accuracy_score(y, problem.predict(X, metric))
        assert emp == pytest.approx(problem.balanced_accuracy(metric), abs=0.015)
    assert problem.balanced_accuracy() == pytest.approx(0.5 * (1 + math.erf(1 / math.sqrt(2))))  # Phi(1)
    with pytest.raises(ValueError, match="metric must be one of"):
        problem.predict(X, "f1")
    with pytest.raises(ValueError, match=r"positive_rate must be in \(0, 1\)"):
        D.make_imbalanced_gaussians(100, 0.0)


def test_problem_samples_iid_labels_so_the_base_rate_is_estimated():
    # a fixed round(n p) positives made y_train.mean() == p exactly: the plug-in threshold p_hat was never estimated
    problem = D.GaussianBinaryProblem([0.0, 0.0], [2.0, 0.0], np.eye(2), positive_rate=0.05)
    rates = [problem.sample(1000, random_state=seed)[1].mean() for seed in range(200)]
    assert len(set(rates)) > 10 and abs(np.mean(rates) - 0.05) < 0.002  # E[p_hat] = p, sd 0.0069 / sqrt(200)
    assert np.std(rates) == pytest.approx(math.sqrt(0.05 * 0.95 / 1000), rel=0.25)
    a, b = problem.sample(50, random_state=3), problem.sample(50, random_state=3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and 1 <= a[1].sum() <= 49


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: D.make_gaussian_mixture(10, [[0, 0]], cov=[1.0, 2.0, 3.0]), r"^cov must be a variance, 1 variances"),
        (lambda: D.make_gaussian_mixture(10, [[0, float("nan")]]), r"^centers must be a finite C x d array"),
        (lambda: D.make_gaussian_mixture([5, 0], [[0, 0], [1, 1]]), r"^class_counts must be an int >= 1"),
        (lambda: D.make_gaussian_mixture(5, [[0, 0]], cov=float("inf")), r"^cov must be finite"),
        (lambda: D.longtail_counts(100, 3, imbalance_ratio=0.5), r"^imbalance_ratio must be a finite number >= 1"),
        (lambda: D.longtail_indices([], 10), r"^labels must be 1-D and non-empty; got shape \(0,\) instead"),
        (lambda: D.make_multimodal_rare(n_majority=3, n_clusters=4), r"^n_clusters must be <= n_majority \(3\); got 4"),
        (lambda: D.make_multimodal_rare(n_rare=0), r"^n_rare must be an integer >= 1; got 0 instead"),
        (lambda: D.make_imbalanced_gaussians(separation=0), r"^separation must be a finite number > 0; got 0 instead"),
        (lambda: D.GaussianBinaryProblem([0, 0], [1, 1, 1], np.eye(2), 0.1), r"^mu1 must have the same length as mu0 \(2\)"),
        (lambda: D.GaussianBinaryProblem([0, 0], [1, 1], np.eye(2), 1.0), r"^positive_rate must be in \(0, 1\)"),
        (lambda: D.GaussianBinaryProblem([0, 0], [1, 1], np.eye(2), 0.1).log_odds(np.ones((3, 3))), r"^X must be an N x 2 array"),
        (lambda: D.make_imbalanced_gaussians(1), r"^n_samples must be an integer >= 2; got 1 instead"),
    ],
)
def test_synthetic_bad_arguments_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# Real CIFAR-10 (skipped when absent)
# ----------------------------------------------------------------------------------------------


def test_real_cifar10_lt():
    root = _real_cifar_root()
    if root is None:
        pytest.skip("CIFAR-10 not available (set LTUTORIAL_DATA to a folder holding cifar10/)")
    train, test = D.load_dataset("cifar10-lt", root=root)
    assert len(train) == 12406 and len(test) == 10000
    assert train.classes == CIFAR10_CLASSES and test.classes == CIFAR10_CLASSES
    assert train.images.dtype == torch.uint8 and train.image_shape == (3, 32, 32)
    assert train.class_counts.tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert test.class_counts.tolist() == [1000] * 10
    # CIFAR-10's published channel means (0.4914, 0.4822, 0.4465); the JPEG copy is within 0.01
    np.testing.assert_allclose(train.mean, (0.4914, 0.4822, 0.4465), atol=0.01)
    t0 = time.perf_counter()
    D.load_dataset("cifar10-lt", root=root)
    assert time.perf_counter() - t0 < 2.0  # the second load is served by the cache


# ----------------------------------------------------------------------------------------------
# Corrupt files (issue 13): a clear error naming the file, nothing cached
# ----------------------------------------------------------------------------------------------


def _broken_bytes(kind: str, good: bytes) -> bytes:
    return {"empty": b"", "truncated": good[: len(good) // 2], "garbage": b"this is not an image at all"}[kind]


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage"])
@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_corrupt_image_in_image_folder_names_the_file(tmp_path, tmp_cache, kind, fmt):
    root = _make_image_folder(tmp_path / "cifar10", [f"c{i}" for i in range(10)], n_train=3, n_test=1, fmt=fmt)
    bad = root / "train" / "c4" / f"0001.{fmt}"
    bad.write_bytes(_broken_bytes(kind, bad.read_bytes()))
    with pytest.raises(ValueError, match=r"c4/0001\.%s must be a readable JPEG or PNG image; got an empty, truncated "
                                         r"or corrupt file" % fmt):
        C.load_cifar_split("cifar10", "train", root)
    assert not tmp_cache.exists() or not list(tmp_cache.glob("*.pt"))  # nothing was cached
    # the test split is intact and still loads
    assert C.load_cifar_split("cifar10", "test", root)["images"].shape == (10, 3, 32, 32)


def test_decode_encoded_names_the_bad_blob_by_position(tmp_path):
    folder = _make_image_folder(tmp_path / "f", ["a"], n_train=3, n_test=0)
    raw = C.read_image_folder_bytes(folder, "train")
    bounds = raw["offsets"].tolist()
    blobs = [raw["data"][bounds[i]:bounds[i + 1]] for i in range(3)]
    blobs[2] = blobs[2][:10]  # a truncated PNG
    data, offsets = C.concat_blobs(blobs)
    with pytest.raises(ValueError, match=r"^image 2 must be a readable JPEG or PNG image; got .*\(10 bytes"):
        C.decode_encoded(data, offsets)


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage"])
def test_corrupt_pack_names_the_file(tiny_folder, tmp_path, tmp_cache, kind):
    dst = P.pack_cifar(tiny_folder, tmp_path / "p")
    dst.write_bytes(_broken_bytes(kind, dst.read_bytes()))
    with pytest.raises(ValueError, match=r"path must be an ltutorial pack .*cifar10\.ltpack', which is truncated or corrupt"):
        C.read_pack_split(dst, "train")
    with pytest.raises(ValueError, match="which is truncated or corrupt"):
        D.load_dataset("cifar10-lt", root=dst, imbalance_ratio=2)


def test_pack_with_missing_parts_or_bad_bytes_is_corrupt(tiny_folder, tmp_path, tmp_cache):
    dst = P.pack_cifar(tiny_folder, tmp_path / "p")
    pack = torch.load(dst, weights_only=True)
    no_test = {k: v for k, v in pack.items() if k != "test"}
    torch.save(no_test, tmp_path / "no_test.ltpack")
    with pytest.raises(ValueError, match=r"truncated or corrupt \(test lacks \['data', 'offsets', 'labels'\]\)"):
        C.read_pack_split(tmp_path / "no_test.ltpack", "train")
    short = dict(pack, test=dict(pack["test"], data=pack["test"]["data"][:-5]))
    torch.save(short, tmp_path / "short.ltpack")
    with pytest.raises(ValueError, match="the test offsets do not match its bytes and labels"):
        C.read_pack_split(tmp_path / "short.ltpack", "test")
    # same number of bytes, one image's bytes overwritten: the decode error names the pack and the image
    data = pack["test"]["data"].clone()
    first = int(pack["test"]["offsets"][3])
    data[first:first + 40] = 0
    torch.save(dict(pack, test=dict(pack["test"], data=data)), tmp_path / "zeroed.ltpack")
    with pytest.raises(ValueError, match=r"zeroed\.ltpack', which is corrupt \(image 3 must be a readable"):
        C.read_pack_split(tmp_path / "zeroed.ltpack", "test")


# --- notebooks 01-05 (issue 11): no machine paths in what a notebook prints ---


def test_short_source_keeps_only_the_folder_name():
    from ltutorial.data import short_source

    assert short_source("ImageFolder JPEG copy at /work/x/cifar10") == "ImageFolder JPEG copy in a folder named 'cifar10'"
    assert short_source("official CIFAR-10 files at /d/cifar-10-batches-py/") == (
        "official CIFAR-10 files in a folder named 'cifar-10-batches-py'")
    assert short_source("scikit-learn digits (bundled)") == "scikit-learn digits (bundled)"
    with pytest.raises(ValueError, match="source must be a str; got NoneType"):
        short_source(None)


def test_image_dataset_repr_prints_no_path():
    images = torch.arange(16, dtype=torch.uint8).reshape(4, 1, 2, 2)
    ds = D.ImageDataset(images, torch.tensor([0, 0, 1, 1]), ["a", "b"], name="t",
                        source="ImageFolder JPEG copy at /very/secret/place/cifar10")
    text = repr(ds)
    assert "/very/secret" not in text and "folder named 'cifar10'" in text


def test_verbose_loads_print_no_machine_path(tiny_folder, tmp_cache, capsys):
    C.load_cifar_split("cifar10", "train", tiny_folder, verbose=True)   # decodes and caches
    C.load_cifar_split("cifar10", "train", tiny_folder, verbose=True)   # reads the cache
    out = capsys.readouterr().out
    assert "decoded 80 images" in out and "read from the ltutorial cache" in out
    assert str(tiny_folder) not in out and str(tmp_cache) not in out, out
    assert f"folder named {tiny_folder.name!r}" in out


def test_unknown_data_set_names_are_refused_naming_the_argument():
    from ltutorial.data.large_lt import find_large_lt_root

    with pytest.raises(ValueError, match=r"name must be one of .*; got 'cifar11'"):
        C.how_to_get("cifar11")
    with pytest.raises(ValueError, match=r"name must be one of .*; got 'inat'"):
        find_large_lt_root("inat")
