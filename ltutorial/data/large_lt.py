"""ImageNet-LT, Places-LT, iNaturalist 2018 from their official split files beside the images (no download):
``ImageNet_LT_*.txt`` / ``Places_LT_*.txt`` (Liu et al., CVPR 2019: ``path label`` lines), ``{train,val}2018.json``
(COCO-style; val is the papers' test set); images decode in the loader workers."""

import json
from pathlib import Path

import numpy as np
import torch

from ltutorial._validation import check_choice, check_labels, check_positive_int, make_generator
from ltutorial.data.cifar import decode_encoded, default_root
from ltutorial.data.images import ClassCounts, subset_indices

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LISTS = "split lists of Liu et al. (CVPR 2019; github.com/zhmiao/OpenLongTailRecognition-OLTR, 'Data Preparation')"
#: name -> format, classes, test split, split files, and where the files come from.
LARGE_LT = {
    "imagenet-lt": {"format": "list", "num_classes": 1000, "test_split": "test",
                    "files": {s: f"ImageNet_LT_{s}.txt" for s in ("train", "val", "test")},
                    "from": f"the ImageNet-LT {_LISTS} and the ILSVRC-2012 train/ and val/ folders (image-net.org)"},
    "places-lt": {"format": "list", "num_classes": 365, "test_split": "test",
                  "files": {s: f"Places_LT_{s}.txt" for s in ("train", "val", "test")},
                  "from": f"the Places-LT {_LISTS} and the Places365-Standard 256x256 folders they name (data_256/, "
                          "val_256/; places2.csail.mit.edu)"},
    "inat2018": {"format": "json", "num_classes": 8142, "test_split": "val",
                 "files": {"train": "train2018.json", "val": "val2018.json"},
                 "from": "the iNaturalist 2018 competition annotations (github.com/visipedia/inat_comp/tree/master/"
                         "2018) and its train_val2018/ image folder"},
}


class MissingDataError(FileNotFoundError, ValueError):
    """A benchmark's split file is missing (a ValueError too, so ``ltutorial reproduce`` prints one error line)."""


class LargeLTDataset(torch.utils.data.Dataset, ClassCounts):
    """Item i = (``transform(decode_rgb(folder / paths[i]))``, label), decoded when indexed (in loader workers)."""

    def __init__(self, folder, paths, labels, *, classes, transform=None, name: str = "custom", split: str = "train"):
        self.folder, self.paths, self.classes = Path(folder), list(paths), list(classes)
        self.labels = check_labels(labels, num_classes=len(self.classes))  # refuses 0.9 (a cast made it 0)
        if self.labels.numel() != len(self.paths):
            raise ValueError(f"labels must hold one label per path ({len(self.paths)}); got {self.labels.numel()} "
                             "instead.")
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None; got {type(transform).__name__} instead.")
        self.transform, self.name, self.split = transform, name, split

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        image = decode_rgb(self.folder / self.paths[index])
        return (image if self.transform is None else self.transform(image)), int(self.labels[index])

    def subset(self, indices) -> "LargeLTDataset":
        """The images at ``indices`` (ints or a boolean mask, as ``ImageDataset.subset``); same folder, classes and
        transform."""
        idx = subset_indices(indices, len(self)).cpu()
        return LargeLTDataset(self.folder, [self.paths[i] for i in idx.tolist()], self.labels[idx].numpy(),
                              classes=self.classes, transform=self.transform, name=self.name, split=self.split)

    def __repr__(self) -> str:
        return (f"LargeLTDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, classes={self.num_classes}, "
                f"per-class {self.counts_span()}, folder={str(self.folder)!r})")


def load_large_lt(name: str, split: str = "train", *, root=None, transform=None,
                  num_classes: int | None = None) -> LargeLTDataset:
    """The ``split`` of benchmark ``name``, read lazily; ``num_classes`` None: the benchmark's (1000 / 365 / 8142)."""
    spec = LARGE_LT[check_choice(name, sorted(LARGE_LT), name="name")]
    split = check_choice(split, sorted(spec["files"]), name="split")
    num_classes = spec["num_classes"] if num_classes is None else check_positive_int(num_classes, name="num_classes")
    folder = find_large_lt_root(name, root)
    path = folder / spec["files"][split]
    if not path.is_file():
        raise MissingDataError(f"{name}: no {spec['files'][split]} in {str(folder)!r}. {how_to_get_large_lt(name)}")
    reader = read_inat_json if spec["format"] == "json" else read_split_list
    paths, labels, classes = reader(path, num_classes=num_classes)
    return LargeLTDataset(folder, paths, labels, classes=classes, transform=transform, name=name, split=split)


def load_large_lt_pair(name: str, *, root=None, image_size: int = 224) -> tuple[LargeLTDataset, LargeLTDataset]:
    """(train, test ``LARGE_LT[name]["test_split"]``) with the standard transforms, classes 0..max train label."""
    train = load_large_lt(name, "train", root=root, transform=imagenet_transform(image_size, train=True))
    num_classes = int(train.labels.max()) + 1
    train.classes = train.classes[:num_classes]
    test = load_large_lt(name, LARGE_LT[name]["test_split"], root=root,
                         transform=imagenet_transform(image_size, train=False), num_classes=num_classes)
    return train, test


def how_to_get_large_lt(name: str) -> str:
    """One sentence: which files ``name`` needs, in which folder, and where they come from."""
    spec = LARGE_LT[name]
    return (f"{name} needs {', '.join(spec['files'].values())} ({spec['from']}, next to the lists); ltutorial does "
            f"not download them. Put them in <root>/{name}/ and pass --root <root> or set LTUTORIAL_DATA=<root>.")


def find_large_lt_root(name: str, root=None) -> Path:
    """The folder holding ``name``'s split files: ``root/name`` or ``root`` itself; else ``MissingDataError``."""
    base, origin = default_root(root)
    first = LARGE_LT[check_choice(name, sorted(LARGE_LT), name="name")]["files"]["train"]
    for folder in (base / name, base):
        if (folder / first).is_file():
            return folder
    raise MissingDataError(f"{name}: no {first} in {str(base / name)!r} or {str(base)!r} ({origin}). "
                           f"{how_to_get_large_lt(name)}")


def read_split_list(path, *, num_classes: int | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """(relative paths, int64 labels, class names "0", "1", ...) of an ImageNet-LT / Places-LT list, one
    ``relative/path label`` a line."""
    path, paths, labels = Path(path), [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.strip().rsplit(maxsplit=1)  # the label is the last field; a path may hold spaces
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise ValueError(f"{path.name} line {number} must be 'relative/path label'; got {line.strip()!r} instead.")
        paths.append(parts[0])
        labels.append(int(parts[1]))
    labels = _check_label_range(np.asarray(labels, dtype=np.int64), num_classes, path)
    return paths, labels, [str(c) for c in range(num_classes or int(labels.max()) + 1)]


def read_inat_json(path, *, num_classes: int | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """(relative paths, int64 labels, class names) of an iNaturalist file: label = the one annotation's category."""
    path = Path(path)
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
    labels = _check_label_range(np.asarray([label_of[img["id"]] for img in images], dtype=np.int64), num_classes, path)
    names = {int(c["id"]): str(c.get("name", c["id"])) for c in data.get("categories", [])}
    classes = [names.get(i, str(i)) for i in range(num_classes or int(labels.max()) + 1)]
    return [img["file_name"] for img in images], labels, classes


def _check_label_range(labels: np.ndarray, num_classes, path: Path) -> np.ndarray:
    if labels.size == 0:
        raise ValueError(f"{path.name} must list at least one image; got an empty file instead.")
    if labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes):
        raise ValueError(f"{path.name}: labels must lie in [0, {num_classes if num_classes is not None else 'C'}); "
                         f"got values from {labels.min()} to {labels.max()} instead.")
    return labels


def imagenet_transform(size: int = 224, *, train: bool):
    """Train: RandomResizedCrop(size) + flip (Kang et al., ICLR 2020); test: resize the short side to 256/224 of
    ``size``, centre-crop ``size``; then the ImageNet normalisation."""
    from torchvision.transforms import v2

    size = check_positive_int(size, name="size")
    crop = ([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()] if train
            else [v2.Resize(round(size * 256 / 224), antialias=True), v2.CenterCrop(size)])
    return v2.Compose([*crop, v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def decode_rgb(path) -> torch.Tensor:
    """The image file at ``path`` as a uint8 3 x H x W RGB tensor (grey and CMYK converted), as CIFAR's decode."""
    data = torch.from_numpy(np.fromfile(path, dtype=np.uint8))
    return decode_encoded(data, torch.tensor([0, data.numel()]), names=[f"image {str(path)!r}"])[0]


def make_loader(dataset, *, batch_size: int, shuffle: bool, seed: int | None = 0, num_workers: int = 0,
                pin_memory: bool = False):
    """A ``DataLoader`` decoding in ``num_workers`` processes; ``seed`` fixes the order, and with ``num_workers`` >= 1
    the augmentation (with 0 the transforms run in this process and draw from torch's global generator: seed it)."""
    # each worker's torch, numpy and random seeds (the v2 transforms draw from torch's) come from the generator
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                                       generator=make_generator(seed, name="seed"), pin_memory=pin_memory,
                                       persistent_workers=num_workers > 0)


def refuse_large_lt(name, *, argument: str = "name") -> None:
    """Refuse the large benchmarks where an in-memory ``ImageDataset`` is needed (the notebooks' experiments)."""
    if isinstance(name, str) and name in LARGE_LT:
        raise ValueError(f"{argument} must be an in-memory dataset ('cifar10-lt', 'cifar100-lt', 'digits-lt'); got "
                         f"{name!r}, read from its image files: train on it with `ltutorial reproduce {name}`.")
