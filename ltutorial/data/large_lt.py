"""The large long-tailed benchmarks: ImageNet-LT, Places-LT and iNaturalist 2018, read from their split files.

Nothing is downloaded: the user points ``root`` (``--root`` / ``LTUTORIAL_DATA``) at a folder holding
one sub-folder per benchmark, with the official split files and the images they name:

    <root>/imagenet-lt/ImageNet_LT_{train,val,test}.txt   + train/ and val/ of ILSVRC-2012 (ImageNet-1k)
    <root>/places-lt/Places_LT_{train,val,test}.txt       + data_256/ and val_256/ of Places365-Standard
    <root>/inat2018/{train,val}2018.json                  + train_val2018/ of the iNaturalist 2018 competition

(``root`` may also be the benchmark folder itself.) Where the files come from:

- ImageNet-LT and Places-LT (Liu et al., "Large-Scale Long-Tailed Recognition in an Open World",
  CVPR 2019, OLTR): the split lists are in the release linked from the OLTR repository
  (github.com/zhmiao/OpenLongTailRecognition-OLTR, "Data Preparation"; also copied in
  facebookresearch/classifier-balancing, ``data/``). Each line is ``relative/path label``, the path
  relative to the ImageNet (``train/n01440764/...JPEG``) or Places365 (``data_256/a/airfield/...jpg``)
  image root. The images themselves come from image-net.org (ILSVRC-2012) and
  places2.csail.mit.edu (Places365-Standard, small 256x256 images); neither may be redistributed.
- iNaturalist 2018 (Van Horn et al., the FGVC5 competition, github.com/visipedia/inat_comp/tree/master/2018):
  ``train2018.json`` / ``val2018.json`` are COCO-style: ``images`` [{id, file_name}], ``annotations``
  [{image_id, category_id}], ``categories`` [{id, name, ...}]; ``file_name`` is relative to the folder
  holding ``train_val2018/``. The validation set (3 images per class) is the test set of the papers.

Images are decoded with torchvision (``read_file`` + ``decode_image``) inside the DataLoader workers,
one file at a time, then ``train_transform`` (RandomResizedCrop 224 + horizontal flip, the standard
ImageNet augmentation) or ``test_transform`` (resize 256, centre crop 224) and ImageNet
normalisation. Many / medium / few-shot groups (> 100, 20-100, < 20 training images, as OLTR
defines them) come from ``class_counts`` with ``ltutorial.metrics.shot_accuracy``. Issue 15.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from ltutorial._validation import check_choice, check_positive_int, check_random_state

__all__ = [
    "LARGE_LT",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LargeLTDataset",
    "MissingDataError",
    "DECODERS",
    "decode_rgb",
    "decode_rgb_pil",
    "find_large_lt_root",
    "how_to_get_large_lt",
    "load_large_lt",
    "load_large_lt_pair",
    "make_loader",
    "read_inat_json",
    "read_split_list",
    "refuse_large_lt",
    "shot_groups",
    "test_transform",
    "train_transform",
]

#: The per-channel ImageNet statistics (RGB, [0, 1] units) every torchvision ImageNet model uses.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: name -> split files, number of classes, which split is the test set, and where the files come from.
LARGE_LT = {
    "imagenet-lt": {
        "format": "list", "num_classes": 1000, "test_split": "test",
        "files": {"train": "ImageNet_LT_train.txt", "val": "ImageNet_LT_val.txt", "test": "ImageNet_LT_test.txt"},
        "lists_from": "the ImageNet-LT split lists of Liu et al. (CVPR 2019), linked from "
                      "github.com/zhmiao/OpenLongTailRecognition-OLTR ('Data Preparation')",
        "images_from": "the ILSVRC-2012 train/ and val/ image folders (image-net.org), placed next to the lists",
    },
    "places-lt": {
        "format": "list", "num_classes": 365, "test_split": "test",
        "files": {"train": "Places_LT_train.txt", "val": "Places_LT_val.txt", "test": "Places_LT_test.txt"},
        "lists_from": "the Places-LT split lists of Liu et al. (CVPR 2019), linked from "
                      "github.com/zhmiao/OpenLongTailRecognition-OLTR ('Data Preparation')",
        "images_from": "the Places365-Standard 256x256 image folders the lists name (data_256/, val_256/; "
                       "places2.csail.mit.edu), placed next to the lists",
    },
    "inat2018": {
        "format": "json", "num_classes": 8142, "test_split": "val",
        "files": {"train": "train2018.json", "val": "val2018.json"},
        "lists_from": "the iNaturalist 2018 competition annotations (train2018.json, val2018.json; "
                      "github.com/visipedia/inat_comp/tree/master/2018)",
        "images_from": "the competition's train_val2018/ image folder, placed next to the JSON files",
    },
}


class MissingDataError(FileNotFoundError, ValueError):
    """A benchmark's folder or split file is missing; the message names the files and their origin.

    Both a ``FileNotFoundError`` (what it is) and a ``ValueError`` (what the package's option checks
    raise, so ``ltutorial reproduce`` prints it as one ``error:`` line).
    """


def _check_name(name) -> str:
    return check_choice(name, sorted(LARGE_LT), name="name")


def how_to_get_large_lt(name: str) -> str:
    """One sentence: which files ``name`` needs, in which folder, and where they come from (no download)."""
    spec = LARGE_LT[_check_name(name)]
    files = ", ".join(spec["files"].values())
    return (f"{name} needs {files} ({spec['lists_from']}) and {spec['images_from']}; ltutorial does not "
            f"download them. Put them in <root>/{name}/ and pass --root <root> or set LTUTORIAL_DATA=<root>.")


def find_large_lt_root(name: str, root=None) -> Path:
    """The folder holding ``name``'s split files: ``root/name`` or ``root`` itself (root: argument, LTUTORIAL_DATA, ./data).

    Raises ``MissingDataError`` naming the folders looked at and how to get the files.
    """
    name = _check_name(name)
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"root must be a path (str or os.PathLike) or None; got {type(root).__name__} instead.")
    if root is not None:
        base, origin = Path(root), "root"
    elif os.environ.get("LTUTORIAL_DATA"):
        base, origin = Path(os.environ["LTUTORIAL_DATA"]), "LTUTORIAL_DATA"
    else:
        base, origin = Path("data"), "default ./data"
    first = LARGE_LT[name]["files"]["train"]
    for folder in (base / name, base):
        if (folder / first).is_file():
            return folder
    raise MissingDataError(f"{name}: no {first} in {str(base / name)!r} or {str(base)!r} ({origin}). "
                           f"{how_to_get_large_lt(name)}")


def read_split_list(path, *, num_classes: int | None = None) -> tuple[list[str], np.ndarray]:
    """(relative paths, int64 labels) from an ImageNet-LT / Places-LT list: one ``relative/path label`` per line.

    Blank lines are skipped; a line without an integer label, or a label outside [0, num_classes),
    raises a ValueError naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"path must be a split list file; got {str(path)!r}, which does not exist, instead.")
    paths, labels = [], []
    with path.open() as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            parts = line.rsplit(maxsplit=1)  # the label is the last field; a path may hold spaces
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise ValueError(f"{path.name} line {number} must be 'relative/path label'; got {line!r} instead.")
            paths.append(parts[0])
            labels.append(int(parts[1]))
    labels = np.asarray(labels, dtype=np.int64)
    _check_label_range(labels, num_classes, path)
    return paths, labels


def _check_label_range(labels: np.ndarray, num_classes, path: Path) -> None:
    if labels.size == 0:
        raise ValueError(f"{path.name} must list at least one image; got an empty file instead.")
    high = num_classes if num_classes is not None else None
    if labels.min() < 0 or (high is not None and labels.max() >= high):
        raise ValueError(f"{path.name}: labels must lie in [0, {high if high is not None else 'C'}); got values "
                         f"from {labels.min()} to {labels.max()} instead.")


def read_inat_json(path, *, num_classes: int | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """(relative paths, int64 labels, class names) from an iNaturalist COCO-style annotation file.

    label = ``category_id`` of the image's one annotation (ids 0..C-1 in the 2018 release); class
    names come from ``categories`` (``str(id)`` where a category has no name).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"path must be an annotation JSON file; got {str(path)!r}, which does not exist, instead.")
    try:
        data = json.loads(path.read_text())
        images, annotations = data["images"], data["annotations"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path.name} must be a COCO-style JSON with 'images' and 'annotations'; got an unreadable "
                         f"file ({type(err).__name__}: {err}) instead.") from None
    label_of = {}
    for ann in annotations:
        if ann["image_id"] in label_of:
            raise ValueError(f"{path.name}: every image must have one annotation; got two for image {ann['image_id']}.")
        label_of[ann["image_id"]] = int(ann["category_id"])
    missing = [img["id"] for img in images if img["id"] not in label_of]
    if missing:
        raise ValueError(f"{path.name}: every image must have an annotation; got {len(missing)} without one "
                         f"(first id {missing[0]}) instead.")
    paths = [img["file_name"] for img in images]
    labels = np.asarray([label_of[img["id"]] for img in images], dtype=np.int64)
    _check_label_range(labels, num_classes, path)
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in data.get("categories", [])}
    n = num_classes if num_classes is not None else int(labels.max()) + 1
    return paths, labels, [names.get(i, str(i)) for i in range(n)]


def train_transform(size: int = 224):
    """RandomResizedCrop(size) + horizontal flip + ImageNet normalisation, on a uint8 C x H x W tensor.

    The standard ImageNet training augmentation (scale (0.08, 1), aspect (3/4, 4/3)) that the
    ImageNet-LT / iNaturalist papers use (e.g. the Decoupling code, Kang et al., ICLR 2020).
    """
    from torchvision.transforms import v2

    size = check_positive_int(size, name="size")
    return v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip(),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def test_transform(size: int = 224, resize: int | None = None):
    """Resize the short side to ``resize`` (default 256/224 of ``size``), centre-crop ``size``, normalise."""
    from torchvision.transforms import v2

    size = check_positive_int(size, name="size")
    resize = check_positive_int(resize, name="resize") if resize is not None else round(size * 256 / 224)
    return v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(size),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def decode_rgb(path) -> torch.Tensor:
    """The image at ``path`` as a uint8 3 x H x W RGB tensor, decoded by torchvision (grey and CMYK to RGB)."""
    import warnings

    with warnings.catch_warnings():
        # torchvision 0.29 marks its codecs deprecated in favour of TorchCodec; they still work, and
        # decode_rgb_pil is the drop-in should they disappear.
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_image, read_file

        try:
            return decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
        except (RuntimeError, OSError, ValueError) as err:  # missing, truncated or not an image
            raise ValueError(f"image {str(path)!r} must be a readable JPEG or PNG file; got "
                             f"{type(err).__name__}: {err}") from None


def decode_rgb_pil(path) -> torch.Tensor:
    """The image at ``path`` as a uint8 3 x H x W RGB tensor, decoded by PIL."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
    except (OSError, ValueError) as err:  # missing, truncated or not an image (UnidentifiedImageError is an OSError)
        raise ValueError(f"image {str(path)!r} must be a readable JPEG or PNG file; got "
                         f"{type(err).__name__}: {err}") from None


#: ``LargeLTDataset(decoder=...)`` -> the function that reads one image file.
DECODERS = {"torchvision": decode_rgb, "pil": decode_rgb_pil}


class LargeLTDataset(torch.utils.data.Dataset):
    """Images named by a split file, decoded when indexed (in the DataLoader workers): item i = (x, label).

    ``x`` = ``transform(DECODERS[decoder](folder / paths[i]))``; without a transform, the uint8 3 x H x W
    image.
    ``class_counts`` (length ``num_classes``) feeds the long-tail plots, the losses and
    ``metrics.shot_accuracy``.
    """

    def __init__(self, folder, paths, labels, *, classes, transform=None, name: str = "custom", split: str = "train",
                 decoder: str = "torchvision"):
        self.decoder = check_choice(decoder, sorted(DECODERS), name="decoder")
        self.folder = Path(folder)
        self.paths = list(paths)
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if self.labels.ndim != 1 or self.labels.numel() != len(self.paths):
            raise ValueError(f"labels must be 1-D with one label per path ({len(self.paths)}); got shape "
                             f"{tuple(self.labels.shape)} instead.")
        self.classes = list(classes)
        if self.labels.numel() and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.classes)):
            raise ValueError(f"labels must lie in [0, {len(self.classes)}) (one class name each); got values from "
                             f"{int(self.labels.min())} to {int(self.labels.max())} instead.")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None; got {type(transform).__name__} instead.")
        self.transform = transform
        self.name, self.split = name, split
        self.source = f"{self.folder} ({split} split)"

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = DECODERS[self.decoder](self.folder / self.paths[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def class_counts(self) -> torch.Tensor:
        """Images per class, int64 tensor of length ``num_classes`` (zeros for absent classes)."""
        return torch.bincount(self.labels, minlength=self.num_classes)

    def subset(self, indices) -> "LargeLTDataset":
        """The images at ``indices`` (1-D ints); same folder, classes and transform."""
        idx = torch.as_tensor(np.asarray(indices)).to(torch.int64).flatten()
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= len(self)):
            raise ValueError(f"indices must lie in [0, {len(self)}); got values from {int(idx.min())} to "
                             f"{int(idx.max())} instead.")
        return LargeLTDataset(self.folder, [self.paths[i] for i in idx.tolist()], self.labels[idx].numpy(),
                              classes=self.classes, transform=self.transform, name=self.name, split=self.split,
                              decoder=self.decoder)

    def __repr__(self) -> str:
        counts = self.class_counts
        span = f"{int(counts.max())}..{int(counts.min())}" if counts.numel() else "-"
        return (f"LargeLTDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, classes={self.num_classes}, "
                f"per-class {span}, folder={str(self.folder)!r})")


def load_large_lt(name: str, split: str = "train", *, root=None, transform=None,
                  num_classes: int | None = None) -> LargeLTDataset:
    """The ``split`` ("train", "val", "test"; iNaturalist 2018 has train and val) of benchmark ``name``.

    Reads the split file found by ``find_large_lt_root(name, root)``; the images are read only when
    indexed. ``transform`` is applied to each decoded uint8 image (e.g. ``train_transform()``).
    ``num_classes``: the number of classes (default: the benchmark's, 1000 / 365 / 8142; a made-up
    or partial list may use fewer, labels 0..num_classes-1).
    """
    name = _check_name(name)
    spec = LARGE_LT[name]
    split = check_choice(split, sorted(spec["files"]), name="split")
    if num_classes is not None:
        num_classes = check_positive_int(num_classes, name="num_classes")
        if num_classes > spec["num_classes"]:
            raise ValueError(f"num_classes must be <= {spec['num_classes']} for {name}; got {num_classes} instead.")
    spec = {**spec, "num_classes": num_classes or spec["num_classes"]}
    folder = find_large_lt_root(name, root)
    path = folder / spec["files"][split]
    if not path.is_file():
        raise MissingDataError(f"{name}: no {spec['files'][split]} in {str(folder)!r}. {how_to_get_large_lt(name)}")
    if spec["format"] == "json":
        paths, labels, classes = read_inat_json(path, num_classes=spec["num_classes"])
    else:
        paths, labels = read_split_list(path, num_classes=spec["num_classes"])
        classes = [str(c) for c in range(spec["num_classes"])]
    return LargeLTDataset(folder, paths, labels, classes=classes, transform=transform, name=name, split=split)


def load_large_lt_pair(name: str, *, root=None, image_size: int = 224) -> tuple[LargeLTDataset, LargeLTDataset]:
    """(train, test) of ``name`` with the standard transforms at ``image_size`` (224; smaller for tiny tests).

    The test split is ``LARGE_LT[name]["test_split"]``: "test" for ImageNet-LT / Places-LT, "val" for
    iNaturalist 2018 (its competition test labels were never released). The number of classes is
    1 + the largest training label, so a test label beyond the training classes is an error.
    """
    name = _check_name(name)
    image_size = check_positive_int(image_size, name="image_size")
    train = load_large_lt(name, "train", root=root, transform=train_transform(image_size))
    # The classes are those of the training list (all of the benchmark's in the official files).
    num_classes = int(train.labels.max()) + 1
    train.classes = train.classes[:num_classes]
    test = load_large_lt(name, LARGE_LT[name]["test_split"], root=root, transform=test_transform(image_size),
                         num_classes=num_classes)
    return train, test


def shot_groups(class_counts, many_threshold: int = 100, few_threshold: int = 20) -> dict[str, np.ndarray]:
    """Boolean class masks ``many`` (> 100 training images), ``medium`` (20-100) and ``few`` (< 20).

    The OLTR split (Liu et al., CVPR 2019) that ``metrics.shot_accuracy`` averages over.
    """
    counts = np.asarray(torch.as_tensor(class_counts).cpu())
    if counts.ndim != 1:
        raise ValueError(f"class_counts must be 1-D (one count per class); got shape {counts.shape} instead.")
    return {"many": counts > many_threshold, "medium": (counts >= few_threshold) & (counts <= many_threshold),
            "few": counts < few_threshold}


def make_loader(dataset, *, batch_size: int, shuffle: bool, seed: int | None = 0, num_workers: int = 0,
                pin_memory: bool = False, drop_last: bool = False):
    """A ``DataLoader`` that decodes in ``num_workers`` processes; ``seed`` fixes the shuffle order and each
    worker's augmentation (the same seed gives the same batches)."""
    batch_size = check_positive_int(batch_size, name="batch_size")
    num_workers = check_positive_int(num_workers, name="num_workers", minimum=0)
    seed = check_random_state(seed, name="seed")
    generator = torch.Generator()
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()  # a fresh torch.Generator starts from a fixed default seed: None must mean random
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, generator=generator,
        pin_memory=pin_memory, drop_last=drop_last, persistent_workers=num_workers > 0,
        worker_init_fn=_seed_worker if seed is not None else None,
    )


def _seed_worker(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; the v2 transforms draw from torch's global RNG,
    # so nothing else is needed, but numpy/random are seeded too for user transforms that use them.
    import random

    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def refuse_large_lt(name, *, argument: str = "name") -> None:
    """Raise a ValueError when ``name`` is one of the large benchmarks, for code that needs an in-memory
    ``ImageDataset`` (the notebooks' experiments): these sets are decoded per batch from files."""
    if isinstance(name, str) and name in LARGE_LT:
        raise ValueError(f"{argument} must be an in-memory dataset ('cifar10-lt', 'cifar100-lt', 'digits-lt'); got "
                         f"{name!r}, which is read from its image files: train on it with `ltutorial reproduce {name}`.")
