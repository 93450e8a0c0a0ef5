"""CIFAR-10/100 readers of ``cifar-10-batches-py/`` (Krizhevsky, 2009), a tree ``<root>/{train,test}/<class>/<image>``
(classes sorted: CIFAR's label order) or a ``<name>.ltpack`` (``ltutorial.fast.pack``); each split is decoded once and
cached as uint8 tensors under ``LTUTORIAL_CACHE`` (default ~/.cache/ltutorial): a second load takes under 2 s."""

import hashlib
import os
import pickle
import socket
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ltutorial._validation import check_choice
from ltutorial.data.images import channel_mean_std, short_source

CACHE_VERSION = 1  # bump when the cached layout changes, so stale caches are rebuilt instead of misread
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PACK_FORMAT, PACK_VERSION = "ltutorial-pack", 1
CIFAR_SPECS = {
    "cifar10": {"title": "CIFAR-10", "num_classes": 10, "pickle_dir": "cifar-10-batches-py", "torchvision": "CIFAR10",
                "pickle_train": [f"data_batch_{i}" for i in range(1, 6)], "pickle_test": ["test_batch"],
                "pickle_meta": ("batches.meta", "label_names"), "label_key": "labels"},
    "cifar100": {"title": "CIFAR-100", "num_classes": 100, "pickle_dir": "cifar-100-python", "torchvision": "CIFAR100",
                 "pickle_train": ["train"], "pickle_test": ["test"], "pickle_meta": ("meta", "fine_label_names"),
                 "label_key": "fine_labels"},
}


def load_cifar_split(name: str, split: str, root=None, *, verbose: bool = False) -> dict:
    """One split of ``find_cifar_root``'s copy, cached: ``images`` (uint8 N x 3 x 32 x 32), ``labels``, ``classes``,
    ``mean``/``std``, ``indices`` in the full split (a pack may hold a subset), ``full_labels``, ``source``."""
    split = check_choice(split, ["train", "test"], name="split")
    kind, path = locate_cifar(root, name, required=True)  # checks name
    dst, t0, entry = _cache_path(name, kind, path, split), time.perf_counter(), None
    try:
        entry, how = torch.load(dst, weights_only=True), "decoded copy read from the ltutorial cache"
    except Exception:  # none yet, or a corrupt or foreign file: (re)build it rather than fail
        pass
    if entry is None:
        entry = _read_source(name, kind, path, split)
        how = f"decoded {entry['labels'].numel()} images, saved to the ltutorial cache"
        try:
            atomic_save(entry, dst)
            for old in dst.parent.glob(f"{dst.name.rsplit('-', 1)[0]}-*.pt"):  # this copy's older caches: stale
                if old != dst:
                    old.unlink(missing_ok=True)
        except OSError as exc:  # read-only home, full disk: the data are fine, only the next load is slow
            warnings.warn(f"could not write the decoded {name} {split} split to the cache {dst} ({exc}); set "
                          "LTUTORIAL_CACHE to a writable folder to skip decoding next time.", RuntimeWarning, 2)
    if verbose:
        print(f"{name} {split}: {short_source(entry['source'])} ({how}, {time.perf_counter() - t0:.1f} s)")
    return entry


def _read_source(name: str, kind: str, path: Path, split: str) -> dict:
    """Read and decode one split of the copy at ``path`` (no cache)."""
    if kind == "pickle":
        out = read_cifar_pickles(path, name, split)
    elif kind == "imagefolder":
        raw = read_image_folder_bytes(path, split)
        fmt = "JPEG" if bool(jpeg_mask(raw["data"], raw["offsets"]).all()) else "image"
        out = dict(images=decode_encoded(raw["data"], raw["offsets"], names=raw["files"]), labels=raw["labels"],
                   classes=raw["classes"], source=f"ImageFolder {fmt} copy at {path}")
    else:
        out = read_pack_split(path, split, name=name)
    out.setdefault("indices", torch.arange(out["labels"].numel(), dtype=torch.int64))
    out.setdefault("full_labels", out["labels"])
    if "mean" not in out:
        out["mean"], out["std"] = channel_mean_std(out["images"])
    return out


def how_to_get(name: str = "cifar10") -> str:
    """One sentence telling a learner how to obtain the data set."""
    spec = CIFAR_SPECS[check_choice(name, sorted(CIFAR_SPECS), name="name")]
    return (f"download {spec['title']} with lt.data.load_dataset({name + '-lt'!r}, root='./data', download=True) "
            f"(torchvision, about 170 MB) or set LTUTORIAL_DATA to a folder holding {name}/ (ImageFolder with train/ "
            f"and test/), {spec['pickle_dir']}/ or {name}.ltpack")


def default_root(root) -> tuple[Path, str]:
    """(the data folder, where it came from): ``root``, else ``LTUTORIAL_DATA``, else ./data."""
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise ValueError(f"root must be a path (str or os.PathLike) or None; got {type(root).__name__} instead.")
        return Path(root).expanduser(), "argument"
    if os.environ.get("LTUTORIAL_DATA"):
        return Path(os.environ["LTUTORIAL_DATA"]).expanduser(), "LTUTORIAL_DATA"
    # Notebooks run in notebooks/, where the repository's data/ (filled by `make data`) is ../data.
    if not Path("data").is_dir() and Path.cwd().name == "notebooks" and Path("../data").is_dir():
        return Path("../data"), "default ../data (the repository's data/ seen from notebooks/)"
    return Path("data"), "default ./data"


def locate_cifar(root=None, name: str = "cifar10", *, required: bool = False) -> tuple[str, Path] | None:
    """("pickle" | "imagefolder" | "pack", path) of ``name``'s copy: ``root`` itself, else its ``cifar-10-batches-py/``,
    ``cifar10/`` or ``cifar10.ltpack`` (official pixels first); else None (``required``: a ValueError telling how to
    get one)."""
    (base, origin), spec = default_root(root), CIFAR_SPECS[check_choice(name, sorted(CIFAR_SPECS), name="name")]
    for path in (base, base / spec["pickle_dir"], base / name, base / f"{name}.ltpack"):
        if path.is_file() and path.suffix == ".ltpack":
            return "pack", path
        if not path.is_dir():
            continue
        if all((path / f).is_file() for f in spec["pickle_train"] + spec["pickle_test"] + [spec["pickle_meta"][0]]):
            return "pickle", path
        if (path / "train").is_dir() and (path / "test").is_dir():
            classes = _class_dirs(path / "train")
            if len(classes) == spec["num_classes"] and classes == _class_dirs(path / "test"):
                return "imagefolder", path
    if required:
        raise ValueError(f"root must point to a {spec['title']} copy or a folder holding one; got root={str(base)!r} "
                         f"({origin}) instead, where none exists. To fix: {how_to_get(name)}.")
    return None


def find_cifar_root(root=None, name: str = "cifar10") -> Path:
    """The path of the copy ``load_dataset`` reads (``locate_cifar``); else a ValueError saying how to get one."""
    return locate_cifar(root, name, required=True)[1]


def read_cifar_pickles(path, name: str, split: str) -> dict:
    """One split of the official release (rows of 3072: the R, G, B planes): ``images``, ``labels``, ``classes``,
    ``source``."""
    spec, path, images, labels = CIFAR_SPECS[name], Path(path), [], []
    for batch in spec[f"pickle_{split}"]:
        d = _unpickle(path / batch)
        images.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(d[spec["label_key"]], dtype=np.int64))
    meta_file, meta_key = spec["pickle_meta"]
    return {"images": torch.from_numpy(np.concatenate(images)), "labels": torch.from_numpy(np.concatenate(labels)),
            "classes": [str(c) for c in _unpickle(path / meta_file)[meta_key]],
            "source": f"official {spec['title']} files at {path}"}


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        obj = pickle.load(fh, encoding="latin1")  # pickled by Python 2: latin1 turns byte-string keys into str
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def read_image_folder_bytes(path, split: str) -> dict:
    """An ImageFolder split's encoded bytes (``data``, ``offsets``), ``labels``, ``classes`` and ``files``."""
    names, labels, classes = _image_folder(split_dir := Path(path) / split)
    # plain strings, not Path objects: building 60,000 Paths costs ~0.7 s on a slow core
    files = [f"{split_dir}{os.sep}{n}" for n in names]
    if not files:
        raise ValueError(f"path must hold {split}/<class>/<image> files ({', '.join(IMAGE_SUFFIXES)}); got none "
                         f"under {split_dir} instead.")
    blobs = [torch.from_numpy(np.fromfile(f, dtype=np.uint8)) for f in files]
    return dict(zip(("data", "offsets"), concat_blobs(blobs)), labels=torch.tensor(labels, dtype=torch.int64),
                classes=classes, files=files)


def concat_blobs(blobs: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(data, offsets) of 1-D uint8 tensors laid end to end: blob i is data[offsets[i]:offsets[i + 1]]."""
    offsets = torch.zeros(len(blobs) + 1, dtype=torch.int64)
    torch.cumsum(torch.tensor([len(b) for b in blobs], dtype=torch.int64), 0, out=offsets[1:])
    return torch.cat(blobs), offsets


def _image_folder(split_dir: Path) -> tuple[list[str], list[int], list[str]]:
    """``<class>/<file>`` names of a split's images, their labels and the classes (folders, then files sorted)."""
    classes, names, labels = _class_dirs(split_dir), [], []
    for label, cls in enumerate(classes):
        files = sorted(n for n in os.listdir(split_dir / cls) if n.lower().endswith(IMAGE_SUFFIXES))
        names.extend(f"{cls}/{n}" for n in files)
        labels.extend([label] * len(files))
    return names, labels, classes


def _class_dirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def jpeg_mask(data: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Which blobs start with the JPEG SOI marker FF D8 (all blobs at once)."""
    if data.numel() < 3:
        return torch.zeros(offsets.numel() - 1, dtype=torch.bool)
    starts = offsets[:-1].clamp(max=data.numel() - 2)
    return (offsets[1:] - offsets[:-1] > 2) & (data[starts] == 0xFF) & (data[starts + 1] == 0xD8)


def decode_encoded(data: torch.Tensor, offsets: torch.Tensor, *, names=None) -> torch.Tensor:
    """Concatenated JPEG/PNG bytes as uint8 RGB N x 3 x H x W (torchvision's decoders: about half PIL's time); a
    blob that does not decode raises a ValueError naming it (``names[i]``, else i)."""
    bounds, images = offsets.tolist(), []
    with warnings.catch_warnings():
        # torchvision 0.29 marks its codecs deprecated in favour of TorchCodec; they still work
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_image

        for i in range(len(bounds) - 1):
            blob = data[bounds[i] : bounds[i + 1]]
            try:
                images.append(decode_image(blob, mode=ImageReadMode.RGB))
            except (RuntimeError, OSError, ValueError) as exc:  # torchvision's C++ raises RuntimeError
                detail = str(exc).strip().splitlines()[-1][-160:] if str(exc).strip() else type(exc).__name__
                raise ValueError(f"{names[i] if names is not None else f'image {i}'} must be a readable JPEG or PNG "
                                 f"image; got an empty, truncated or corrupt file ({blob.numel()} bytes; the decoder "
                                 f"said: {detail}) instead. Replace or delete it.") from exc
    shapes = {tuple(img.shape) for img in images}
    if len(shapes) > 1:
        raise ValueError(f"images must all have the same size to be stacked; got shapes {sorted(shapes)} instead.")
    return torch.stack(images)


def _cache_path(name: str, kind: str, path: Path, split: str) -> Path:
    """``<name>-<split>-<kind>-<path hash>-<signature hash>.pt``; the signature: each file's name, size and
    modification time (a tree: ~0.3 s for CIFAR-10's 50,000 files), so a changed copy misses the cache."""
    path = path.resolve()
    parts = [f"v{CACHE_VERSION}", kind, str(path), split, "torchvision"]  # the decoder: JPEG decoders may differ
    if kind == "imagefolder":  # an image overwritten in place keeps its name: its size or mtime changes
        names = _image_folder(path / split)[0]
        files = (f"{n}:{st.st_size}:{st.st_mtime_ns}" for n in names for st in [os.stat(path / split / n)])
        parts.append(hashlib.sha1("\n".join(files).encode()).hexdigest())
    else:
        for p in sorted(path.iterdir()) if path.is_dir() else [path]:
            parts.append(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}")
    where = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    key = hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("LTUTORIAL_CACHE") or Path.home() / ".cache" / "ltutorial").expanduser()
    return cache / f"{name}-{split}-{kind}-{where}-{key}.pt"


def atomic_save(obj, dst: Path) -> None:
    """``torch.save`` beside ``dst``, then ``os.replace`` (atomic): a concurrent reader sees no file or a whole one."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # one per writer, threads too
    try:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def download_cifar(root, name: str = "cifar10", *, timeout: float = 15.0) -> Path:
    """Download the official python release with torchvision into ``root``; offline, fail within ~``timeout`` s."""
    spec, root = CIFAR_SPECS[check_choice(name, sorted(CIFAR_SPECS), name="name")], Path(root).expanduser()
    old_timeout, pool = socket.getdefaulttimeout(), ThreadPoolExecutor(1)
    try:
        # socket timeouts do not cover the DNS look-up, which can hang: it is waited for in a thread
        pool.submit(socket.getaddrinfo, "www.cs.toronto.edu", 443).result(timeout)
        socket.setdefaulttimeout(timeout)
        import torchvision.datasets

        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            getattr(torchvision.datasets, spec["torchvision"])(root=str(root), train=train, download=True)
    except Exception as exc:
        raise RuntimeError(f"downloading {spec['title']} into {str(root)!r} failed ({type(exc).__name__}: {exc}). "
                           f"Offline, copy {spec['pickle_dir']}/, a tree {name}/ (train/, test/) or a pack (`python -m "
                           "ltutorial.data.pack`) to a folder and set LTUTORIAL_DATA to it (or pass root=).") from exc
    finally:
        socket.setdefaulttimeout(old_timeout)
        pool.shutdown(wait=False)
    return root / spec["pickle_dir"]


def read_pack_split(path, split: str, name: str | None = None) -> dict:
    """One split of a pack (``ltutorial.fast.pack``) as ``load_cifar_split`` returns it (of data set ``name``); its
    format, version and layout checked first (a bad file raises a ValueError naming it)."""
    path = Path(path)
    corrupt = (f"path must be an ltutorial pack written by pack_cifar; got {str(path)!r}, which is truncated or "
               "corrupt ({}), instead. Copy it again or make it again with pack_cifar.")
    try:
        pack = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # zip and pickle errors of every kind
        raise ValueError(corrupt.format(f"{type(exc).__name__}: {str(exc)[:120]}")) from exc
    if not isinstance(pack, dict) or (pack.get("format"), pack.get("version")) != (PACK_FORMAT, PACK_VERSION):
        raise ValueError(f"path must be a version {PACK_VERSION} ltutorial pack written by pack_cifar; got "
                         f"{str(path)!r}, which is not one, instead.")
    for part_name, keys in (("train", ("data", "offsets", "labels", "indices", "full_labels", "mean", "std")),
                            ("test", ("data", "offsets", "labels"))):
        part = pack[part_name] if isinstance(pack.get(part_name), dict) else {}
        missing = [k for k in keys if k not in part] + [k for k in ("classes", "longtail", "origin") if k not in pack]
        if missing:
            raise ValueError(corrupt.format(f"{part_name} lacks {missing}"))
        offsets, data, labels = part["offsets"], part["data"], part["labels"]
        if not (all(isinstance(t, torch.Tensor) for t in (offsets, data, labels)) and offsets.ndim == 1
                and offsets.numel() == labels.numel() + 1 and int(offsets[-1]) == data.numel()):
            raise ValueError(corrupt.format(f"the {part_name} offsets do not match its bytes and labels"))
    if name is not None and pack.get("name") != name:
        raise ValueError(f"path must be a pack of {name}; got a pack of {pack.get('name')!r} at {str(path)!r} instead.")
    part = pack[split]
    try:
        images = decode_encoded(part["data"], part["offsets"])
    except ValueError as exc:
        raise ValueError(f"path must be an intact ltutorial pack; got {str(path)!r}, which is corrupt ({exc}), "
                         "instead. Make it again with pack_cifar.") from exc
    lt_part = split == "train" and pack["longtail"]
    what = f"long-tailed train subset {pack['longtail']}" if lt_part else f"full {split} split"
    out = {"images": images, "labels": part["labels"], "classes": list(pack["classes"]),
           "source": f"ltutorial pack ({what}; bytes from {short_source(pack['origin'])}) at {path}"}  # path last
    if split == "train":
        out.update(indices=part["indices"], full_labels=part["full_labels"], mean=tuple(part["mean"]),
                   std=tuple(part["std"]))
    return out
