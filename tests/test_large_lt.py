"""Tests for the large benchmarks (issue 15): split readers, the file-backed dataset, transforms, models,
recipes and ``ltutorial reproduce imagenet-lt|places-lt|inat2018`` on tiny folders made here."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import ltutorial as lt
from ltutorial import cli
from ltutorial.data import large_lt as L
from ltutorial.reproduce_large import LargeRunConfig, prepare, train_and_report


def _image(seed: int, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g)


def write_png(img: torch.Tensor, path: str) -> None:
    Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)


def _write_list_benchmark(folder, prefix: str, train_counts, test_per_class: int, size: int = 32) -> dict:
    """A made-up ImageNet-LT / Places-LT style folder: PNGs under train/ and val/, `path label` lists."""
    folder.mkdir(parents=True, exist_ok=True)
    lines, images, seed = {"train": [], "val": [], "test": []}, {}, 0
    for split, counts in (("train", train_counts), ("val", [1] * len(train_counts)),
                          ("test", [test_per_class] * len(train_counts))):
        sub = "train" if split == "train" else "val"
        for c, n in enumerate(counts):
            (folder / sub / f"n{c:08d}").mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rel = f"{sub}/n{c:08d}/{split}_{i}.png"
                img = _image(seed, size)
                seed += 1
                write_png(img, str(folder / rel))
                images[rel] = img
                lines[split].append(f"{rel} {c}")
    for split, text in lines.items():
        (folder / f"{prefix}_{split}.txt").write_text("\n".join(text) + "\n")
    return images


@pytest.fixture
def tiny_imagenet_lt(tmp_path):
    root = tmp_path / "data"
    images = _write_list_benchmark(root / "imagenet-lt", "ImageNet_LT", train_counts=[12, 6, 3], test_per_class=4)
    return root, images


# --- split readers ---------------------------------------------------------------------------------


def test_read_split_list_parses_paths_and_labels(tmp_path):
    f = tmp_path / "ImageNet_LT_train.txt"
    f.write_text("train/n1/a.JPEG 0\n\ntrain/n2/b c.JPEG 2\ntrain/n1/d.JPEG 0\n")
    paths, labels, classes = L.read_split_list(f, num_classes=3)
    assert paths == ["train/n1/a.JPEG", "train/n2/b c.JPEG", "train/n1/d.JPEG"]  # blank line skipped, space kept
    assert labels.tolist() == [0, 2, 0] and labels.dtype == np.int64 and classes == ["0", "1", "2"]


@pytest.mark.parametrize("text, match", [("train/a.JPEG\n", "line 1 must be 'relative/path label'"),
                                         ("a.JPEG 0\nb.JPEG x\n", "line 2"),
                                         ("a.JPEG 5\n", r"labels must lie in \[0, 3\)"),
                                         ("\n", "at least one image")])
def test_read_split_list_rejects_bad_lines(tmp_path, text, match):
    f = tmp_path / "Places_LT_train.txt"
    f.write_text(text)
    with pytest.raises(ValueError, match=match):
        L.read_split_list(f, num_classes=3)


def _inat_json(path, images, annotations, categories=None):
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": categories or [], "info": {}}))


def test_read_inat_json_joins_annotations_by_image_id(tmp_path):
    f = tmp_path / "train2018.json"
    # annotations in another order than the images: the label must follow image_id, not position
    _inat_json(f, [{"id": 10, "file_name": "train_val2018/Aves/1/x.jpg"}, {"id": 11, "file_name": "train_val2018/Fungi/0/y.jpg"}],
               [{"id": 1, "image_id": 11, "category_id": 0}, {"id": 2, "image_id": 10, "category_id": 1}],
               [{"id": 0, "name": "Amanita"}, {"id": 1, "name": "Corvus"}])
    paths, labels, classes = L.read_inat_json(f, num_classes=2)
    assert paths == ["train_val2018/Aves/1/x.jpg", "train_val2018/Fungi/0/y.jpg"]
    assert labels.tolist() == [1, 0]
    assert classes == ["Amanita", "Corvus"]


def test_read_inat_json_rejects_unannotated_and_doubly_annotated_images(tmp_path):
    f = tmp_path / "val2018.json"
    _inat_json(f, [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}], [{"image_id": 1, "category_id": 0}])
    with pytest.raises(ValueError, match="1 without one .first id 2"):
        L.read_inat_json(f)
    _inat_json(f, [{"id": 1, "file_name": "a.jpg"}], [{"image_id": 1, "category_id": 0}, {"image_id": 1, "category_id": 1}])
    with pytest.raises(ValueError, match="got two for image 1"):
        L.read_inat_json(f)
    f.write_text("{not json")
    with pytest.raises(ValueError, match="COCO-style JSON"):
        L.read_inat_json(f)


# --- dataset, folder and errors --------------------------------------------------------------------


def test_dataset_decodes_the_listed_images_and_counts_classes(tiny_imagenet_lt):
    root, images = tiny_imagenet_lt
    train = L.load_large_lt("imagenet-lt", "train", root=root, num_classes=3)
    assert len(train) == 21 and train.class_counts.tolist() == [12, 6, 3]
    for i in (0, 13, 20):  # PNG is lossless: the decoded pixels are the written ones
        x, y = train[i]
        assert torch.equal(x, images[train.paths[i]]) and y == int(train.paths[i].split("/")[1][1:])
    # root may also be the benchmark folder itself
    assert L.load_large_lt("imagenet-lt", "test", root=root / "imagenet-lt", num_classes=3).class_counts.tolist() == [4, 4, 4]


def test_subset_takes_a_mask_or_integers_as_image_dataset_does(tiny_imagenet_lt):
    root, _ = tiny_imagenet_lt
    train = L.load_large_lt("imagenet-lt", "train", root=root, num_classes=3)
    mask = train.labels == 2  # a bool mask was cast to the indices 0 and 1 (21 images of class 0)
    tail = train.subset(mask)
    assert len(tail) == 3 and tail.labels.tolist() == [2, 2, 2] and tail.paths == [p for p, m in zip(train.paths, mask)
                                                                                   if m]
    assert train.subset(np.array([1, 2])).paths == train.subset(torch.tensor([1, 2])).paths == train.paths[1:3]
    for bad in ([1.9, 2.7], [[0, 1], [2, 3]]):  # truncated or flattened before, with no error
        with pytest.raises(ValueError, match="^indices must be a 1-D integer sequence or boolean mask"):
            train.subset(bad)
    with pytest.raises(ValueError, match="^labels must hold integer class indices"):  # 0.9 was cast to 0
        L.LargeLTDataset(root, ["a.png", "b.png"], [0.9, 1.7], classes=["x", "y"])


def test_missing_folder_names_the_files_and_their_origin(tmp_path, monkeypatch):
    monkeypatch.setenv("LTUTORIAL_DATA", str(tmp_path))
    with pytest.raises(L.MissingDataError) as info:
        L.load_large_lt("places-lt")
    err = info.value
    assert isinstance(err, FileNotFoundError) and isinstance(err, ValueError)
    for word in ("Places_LT_train.txt", "Places_LT_val.txt", "Places_LT_test.txt", "OpenLongTailRecognition", "LTUTORIAL_DATA"):
        assert word in str(err)
    with pytest.raises(L.MissingDataError, match="train2018.json, val2018.json .*inat_comp"):
        lt.data.resolve_dataset("inat2018", root=tmp_path)


def test_missing_test_list_is_named(tiny_imagenet_lt):
    root, _ = tiny_imagenet_lt
    (root / "imagenet-lt" / "ImageNet_LT_test.txt").unlink()
    with pytest.raises(L.MissingDataError, match="no ImageNet_LT_test.txt in"):
        L.load_large_lt_pair("imagenet-lt", root=root)


def test_unreadable_image_is_named(tiny_imagenet_lt):
    root, _ = tiny_imagenet_lt
    train = L.load_large_lt("imagenet-lt", root=root, num_classes=3)
    (train.folder / train.paths[0]).write_bytes(b"not an image")
    with pytest.raises(ValueError, match="must be a readable JPEG or PNG"):
        train[0]


def test_load_dataset_registers_the_three_benchmarks(tiny_imagenet_lt):
    root, _ = tiny_imagenet_lt
    assert {"imagenet-lt", "places-lt", "inat2018"} <= set(lt.data.DATASETS)
    train, test = lt.data.load_dataset("imagenet-lt", root=root)
    assert (train.split, test.split, train.num_classes, test.num_classes) == ("train", "test", 3, 3)
    x, _ = train[0]
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert lt.data.resolve_dataset("imagenet-lt", root=root) == "imagenet-lt"
    with pytest.raises(ValueError, match="download must be False for imagenet-lt"):
        lt.data.load_dataset("imagenet-lt", root=root, download=True)


@pytest.fixture
def tiny_inat(tmp_path):
    """A made-up iNaturalist 2018 folder: 5 + 2 training and 3 + 3 validation PNGs, COCO-style JSON."""
    folder = tmp_path / "inat2018"
    (folder / "train_val2018" / "Aves").mkdir(parents=True)
    names, seed = {"train": [], "val": []}, 0
    for split, per_class in (("train", [5, 2]), ("val", [3, 3])):
        imgs, anns = [], []
        for c, n in enumerate(per_class):
            for i in range(n):
                rel = f"train_val2018/Aves/{split}_{c}_{i}.png"
                write_png(_image(seed), str(folder / rel))
                imgs.append({"id": seed, "file_name": rel})
                anns.append({"id": seed, "image_id": seed, "category_id": c})
                seed += 1
        _inat_json(folder / f"{split}2018.json", imgs, anns, [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}])
    return tmp_path


def test_inat_folder_reads_json_and_tests_on_val(tiny_inat):
    tmp_path = tiny_inat
    train, test = L.load_large_lt_pair("inat2018", root=tmp_path, image_size=16)
    assert train.class_counts.tolist() == [5, 2] and test.class_counts.tolist() == [3, 3]
    assert test.split == "val" and train.classes == ["a", "b"]
    assert test[0][0].shape == (3, 16, 16)


# --- transforms, shots, loader ----------------------------------------------------------------------


def test_test_transform_is_resize_then_centre_crop_then_normalise():
    # a 256 x 320 image already has short side 256: Resize(256) keeps it, the crop is rows 16:240, cols 48:272
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (3, 256, 320), dtype=torch.uint8, generator=g)
    out = L.imagenet_transform(224, train=False)(img)
    mean, std = torch.tensor(L.IMAGENET_MEAN)[:, None, None], torch.tensor(L.IMAGENET_STD)[:, None, None]
    expected = (img[:, 16:240, 48:272].float() / 255 - mean) / std
    torch.testing.assert_close(out, expected)


def test_train_transform_gives_a_normalised_224_crop():
    x = L.imagenet_transform(train=True)(_image(0, 300))
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    # every pixel is (v/255 - mean)/std for some v in [0, 255]
    low = (0 - torch.tensor(L.IMAGENET_MEAN)) / torch.tensor(L.IMAGENET_STD)
    high = (1 - torch.tensor(L.IMAGENET_MEAN)) / torch.tensor(L.IMAGENET_STD)
    assert bool((x.amin(dim=(1, 2)) >= low - 1e-5).all()) and bool((x.amax(dim=(1, 2)) <= high + 1e-5).all())


def test_loader_with_the_same_seed_gives_the_same_augmented_batches(tiny_imagenet_lt):
    root, _ = tiny_imagenet_lt
    train = L.load_large_lt("imagenet-lt", root=root, transform=L.imagenet_transform(16, train=True), num_classes=3)

    def first_batch(seed):
        loader = L.make_loader(train, batch_size=8, shuffle=True, seed=seed, num_workers=1)
        return next(iter(loader))

    (x1, y1), (x2, y2), (x3, _) = first_batch(3), first_batch(3), first_batch(4)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, x3)
    # seed=None is random (a bare torch.Generator would start from the same default seed every time)
    orders = [list(L.make_loader(range(64), batch_size=64, shuffle=True, seed=None).batch_sampler) for _ in range(2)]
    assert orders[0] != orders[1]


# --- models and recipes -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet50", "resnext50_32x4d"])
def test_torchvision_models_by_name(name):
    model = lt.models.build_model(name, 7)
    reference = getattr(torchvision.models, name)(weights=None, num_classes=7)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    x = torch.randn(2, 3, 64, 64)
    assert model(x).shape == (2, 7) and model.forward_features(x).shape == (2, model.feature_dim) == (2, 2048)
    normed = lt.models.build_model(name, 7, normed=True).eval()
    assert float(normed(x).detach().abs().max()) <= 1 + 1e-5  # cosine logits (LDAM)


def test_cosine_recipes_follow_the_cosine_formula():
    from ltutorial.train.recipes import RECIPES

    for name in ("decoupling-imagenet-lt", "decoupling-inat2018"):
        recipe = RECIPES[name]
        sched = recipe.schedule()
        for e in (0, 30, 89):
            assert sched(e) == pytest.approx(0.5 * (1 + math.cos(math.pi * e / recipe.epochs)))
        short = recipe.with_epochs(10)
        assert short.schedule()(5) == pytest.approx(0.5) and short.model == recipe.model


# --- reproduce ---------------------------------------------------------------------------------------


def test_reproduce_without_data_prints_one_error_line(tmp_path, capsys):
    status = cli.main(["reproduce", "imagenet-lt", "--root", str(tmp_path), "--no-write"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: ") and "ImageNet_LT_train.txt" in err[0]


def test_reproduce_reaches_the_large_benchmarks_with_options_first(tmp_path, capsys):
    # argparse takes options before the positional benchmark; the dispatch looked at the first word only
    status = cli.main(["reproduce", "--root", str(tmp_path), "--no-write", "imagenet-lt"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "ImageNet_LT_train.txt" in err[0]  # reproduce_large's missing-file error
    # an option's value that looks like a large benchmark's name does not send a CIFAR run there
    status = cli.main(["reproduce", "digits-lt", "--out", "places-lt", "--epochs", "0"])
    assert status == 2 and "epochs must be an integer >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["reproduce", "--help"])
    assert "ltutorial reproduce imagenet-lt --help" in capsys.readouterr().out.replace("\n", " ")


def test_reproduce_two_epochs_on_a_tiny_imagenet_lt_folder(tiny_imagenet_lt, tmp_path):
    root, _ = tiny_imagenet_lt
    out = tmp_path / "out"
    result = train_and_report(prepare(LargeRunConfig("imagenet-lt", "erm,ldam-drw,la-posthoc", epochs=2, device="cpu",
                                                     root=root, out=out, model="small_cnn", batch_size=8,
                                                     image_size=32, workers=0)))
    assert [r["method"] for r in result["rows"]] == ["erm", "ldam-drw", "la-posthoc"]
    assert result["train_counts"] == [12, 6, 3] and result["n_test"] == 12
    assert set(result["train_losses"]) == {"erm", "ldam-drw"}  # the post-hoc row reuses erm's model
    for row in result["rows"]:
        # 4 test images per class: every per-class accuracy is a multiple of 1/4, so is their mean times 3
        assert 0 <= row["last"] <= 100 and (row["last"] * 3 / 25) == pytest.approx(round(row["last"] * 3 / 25))
        # counts 12/6/3 are all < 20: every class is few-shot, so few = all and many/medium are empty (NaN)
        assert row["few"] == pytest.approx(row["last"]) and math.isnan(row["many"]) and math.isnan(row["medium"])
    saved = json.loads((out / "cpu-reproduce-imagenet-lt.json").read_text())
    assert saved["rows"][0]["last"] == pytest.approx(result["rows"][0]["last"])
    assert any("3 classes in the training list" in n for n in saved["notes"])


def test_decode_rgb_gives_the_written_png_pixels(tiny_imagenet_lt):
    root, images = tiny_imagenet_lt
    train = L.load_large_lt("imagenet-lt", root=root, num_classes=3)
    path = train.folder / train.paths[5]
    pil = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(L.decode_rgb(path), pil) and torch.equal(pil, images[train.paths[5]])
    grey = train.folder / "grey.png"
    Image.fromarray(np.full((5, 7), 99, dtype=np.uint8)).save(grey)  # grey is converted to RGB
    assert torch.equal(L.decode_rgb(grey), torch.full((3, 5, 7), 99, dtype=torch.uint8))


def test_the_notebook_experiments_refuse_the_file_backed_sets(tiny_imagenet_lt):
    root, _ = tiny_imagenet_lt
    with pytest.raises(ValueError, match="name must be an in-memory dataset .*`ltutorial reproduce imagenet-lt`"):
        lt.data.prepare_experiment("imagenet-lt", profile="smoke", root=root)
    from ltutorial.ssl import ssl_settings

    with pytest.raises(ValueError, match="dataset must be an in-memory dataset .*got 'places-lt'"):
        ssl_settings("smoke", dataset="places-lt")


def test_reproduce_subsamples_with_the_same_class_shares(tiny_imagenet_lt):
    root, _ = tiny_imagenet_lt
    result = train_and_report(prepare(LargeRunConfig("imagenet-lt", "erm", epochs=1, device="cpu", root=root, out=None,
                                                     model="small_cnn", batch_size=8, image_size=16, workers=0,
                                                     max_train=14, max_test=9)))
    # 14 of the 21 training images keep the 12:6:3 shares; 9 of the 12 test images keep 3 per class
    assert result["train_counts"] == [8, 4, 2] and result["n_test"] == 9
    assert "files" not in result  # out=None writes nothing


# --- each method's recipe ------------------------------------------------------------------------------


def test_each_method_trains_with_its_papers_recipe_else_the_benchmarks(tiny_inat, tmp_path):
    out = tmp_path / "out"
    run = prepare(LargeRunConfig("inat2018", "erm,cb-focal,la-posthoc", epochs=2, device="cpu", root=tiny_inat,
                                 out=out, model="small_cnn", batch_size=4, image_size=16, workers=0))
    # CB has its paper's iNaturalist recipe; ERM (and the post-hoc row, on ERM's model) fall back to Decoupling's
    assert run.recipe_of == {"erm": "decoupling-inat2018", "cb-focal": "cb-inat2018",
                             "la-posthoc": "decoupling-inat2018"}
    cb = run.recipes["cb-inat2018"]  # the recipe scaled to 2 epochs, with the options' model and batch
    assert (cb.epochs, cb.milestones, cb.warmup_epochs, cb.nesterov, cb.model, cb.batch_size) == \
        (2, (1, 1, 2), 1, True, "small_cnn", 4)
    result = train_and_report(run)
    assert [(r["method"], r["recipe"]) for r in result["rows"]] == list(run.recipe_of.items())
    assert result["recipe"] == "decoupling-inat2018, cb-inat2018" and set(result["recipes"]) == set(run.recipes)
    assert result["rows"][1]["params"] == {"beta": 0.999, "gamma": 0.5}  # the CB code's iNaturalist values
    assert result["lr"] == [0.2, 1.6] and result["epochs"] == 2  # a list where the recipes differ
    md = (out / "cpu-reproduce-inat2018.md").read_text()
    assert "Note: recipe cb-inat2018 for cb-focal: Cui et al. 2019 (CB)" in md
    assert "Note: recipe decoupling-inat2018 for erm, la-posthoc: Kang et al. 2020" in md


def test_a_posthoc_method_alone_trains_its_base_with_the_bases_recipe(tiny_inat):
    run = prepare(LargeRunConfig("inat2018", "la-posthoc", epochs=1, device="cpu", root=tiny_inat, out=None,
                                 model="small_cnn", batch_size=4, image_size=16, workers=0))
    assert run.trained == ["erm"] and run.recipe_of["erm"] == run.recipe_of["la-posthoc"] == "decoupling-inat2018"
    result = train_and_report(run)
    assert [r["method"] for r in result["rows"]] == ["la-posthoc"] and list(result["train_losses"]) == ["erm"]
    assert isinstance(result["milestones"], list)  # as the JSON file holds it


def test_one_recipe_for_every_method_and_bad_names(tiny_imagenet_lt, capsys):
    root, _ = tiny_imagenet_lt
    run = prepare(LargeRunConfig("imagenet-lt", "erm,la", epochs=1, device="cpu", root=root, out=None,
                                 model="small_cnn", batch_size=8, image_size=16, workers=0, recipe="cb-inat2018"))
    assert run.recipe_of == {"erm": "cb-inat2018", "la": "cb-inat2018"} and list(run.recipes) == ["cb-inat2018"]
    with pytest.raises(ValueError, match=r"recipe must be one of \['cb-inat2018', .*got 'nope'"):
        prepare(LargeRunConfig("imagenet-lt", root=root, recipe="nope"))
    status = cli.main(["reproduce", "imagenet-lt", "--root", str(root), "--recipe", "nope", "--no-write"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "recipe must be one of" in err[0]


def test_a_recipe_that_needs_pretrained_weights_says_so(tiny_imagenet_lt, tmp_path):
    # Places-LT's recipe fine-tunes an ImageNet-pretrained ResNet-152 (OLTR): no such model or weights here
    root = tmp_path / "places"
    _write_list_benchmark(root / "places-lt", "Places_LT", train_counts=[6, 3], test_per_class=2, size=16)
    with pytest.raises(ValueError, match=r"recipe 'oltr-places-lt' trains a resnet152 from ImageNet-pretrained "
                                         r".*pass --model"):
        prepare(LargeRunConfig("places-lt", root=root))
    result = train_and_report(prepare(LargeRunConfig("places-lt", "erm", epochs=1, device="cpu", root=root, out=None,
                                                     model="small_cnn", batch_size=3, image_size=16, workers=0)))
    assert result["rows"][0]["recipe"] == "oltr-places-lt"
    assert result["rows"][0]["gap_note"].startswith("needs ImageNet-pretrained ResNet-152 weights")
    assert any("NOT the paper's setting" in n for n in result["notes"])
