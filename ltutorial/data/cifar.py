"""CIFAR-10/100 readers (official pickles, ImageFolder trees, ltutorial packs) with an on-disk cache.

Three copies of CIFAR are understood:

* torchvision's official python release, ``cifar-10-batches-py/`` or ``cifar-100-python/``
  (Krizhevsky, 2009), read directly with pickle + numpy; downloaded only when asked;
* an ImageFolder tree ``<root>/{train,test}/<class>/<file>.jpg|png``, class folders sorted
  alphabetically giving labels 0..C-1 (also CIFAR's own label order);
* an ltutorial pack ``cifar10.ltpack`` (see ``ltutorial.data.pack``): the encoded image bytes in
  one file, small enough to carry to a GPU machine.

Each split is decoded once and cached as a ``.pt`` of uint8 tensors under ``LTUTORIAL_CACHE``
(default ``~/.cache/ltutorial``), so a second load of CIFAR-10 takes well under 2 s.
Used through ``ltutorial.data.load_dataset`` by every CIFAR notebook.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ltutorial._validation import check_choice
from ltutorial.data.images import channel_mean_std, short_source

__all__ = [
    "CIFAR_SPECS",
    "CacheEntry",
    "cache_dir",
    "decode_encoded",
    "download_cifar",
    "find_cifar_root",
    "locate_cifar",
    "read_cifar_pickles",
    "read_image_folder_bytes",
    "load_cifar_split",
]

# Bump when the cached layout changes so stale caches are rebuilt instead of misread.
CACHE_VERSION = 1
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

CIFAR_SPECS = {
    "cifar10": {
        "title": "CIFAR-10",
        "num_classes": 10,
        "per_class_train": 5000,
        "pickle_dir": "cifar-10-batches-py",
        "pickle_train": [f"data_batch_{i}" for i in range(1, 6)],
        "pickle_test": ["test_batch"],
        "pickle_meta": ("batches.meta", "label_names"),
        "label_key": "labels",
        "torchvision": "CIFAR10",
        "host": "www.cs.toronto.edu",
    },
    "cifar100": {
        "title": "CIFAR-100",
        "num_classes": 100,
        "per_class_train": 500,
        "pickle_dir": "cifar-100-python",
        "pickle_train": ["train"],
        "pickle_test": ["test"],
        "pickle_meta": ("meta", "fine_label_names"),
        "label_key": "fine_labels",
        "torchvision": "CIFAR100",
        "host": "www.cs.toronto.edu",
    },
}

SPLITS = ("train", "test")


def check_name(name) -> str:
    return check_choice(name, sorted(CIFAR_SPECS), name="name")


def check_split(split) -> str:
    check_choice(split, list(SPLITS), name="split")
    return split


# ----------------------------------------------------------------------------------------------
# Locating a copy
# ----------------------------------------------------------------------------------------------


def how_to_get(name: str = "cifar10") -> str:
    """One sentence telling a learner how to obtain the data set."""
    title = CIFAR_SPECS[check_name(name)]["title"]
    dataset = f"{name}-lt"
    return (
        f"download {title} with lt.data.load_dataset({dataset!r}, root='./data', download=True) (torchvision, "
        f"about 170 MB) or set LTUTORIAL_DATA to a folder holding {name}/ (ImageFolder with train/ and test/), "
        f"{CIFAR_SPECS[name]['pickle_dir']}/ or {name}.ltpack"
    )


def default_root(root) -> tuple[Path, str]:
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise ValueError(f"root must be a path (str or os.PathLike) or None; got {type(root).__name__} instead.")
        return Path(root).expanduser(), "argument"
    env = os.environ.get("LTUTORIAL_DATA")
    if env:
        return Path(env).expanduser(), "LTUTORIAL_DATA"
    # Notebooks run with notebooks/ as the working directory, so the repository's data/ folder
    # (where `make data` puts CIFAR-10) is ../data there.
    if not Path("data").is_dir() and Path.cwd().name == "notebooks" and Path("../data").is_dir():
        return Path("../data"), "default ../data (the repository's data/ seen from notebooks/)"
    return Path("data"), "default ./data"


def _class_dirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def _is_image_folder(path: Path, num_classes: int) -> bool:
    if not ((path / "train").is_dir() and (path / "test").is_dir()):
        return False
    train, test = _class_dirs(path / "train"), _class_dirs(path / "test")
    return len(train) == num_classes and train == test


def _is_pickle_dir(path: Path, name: str) -> bool:
    spec = CIFAR_SPECS[name]
    files = spec["pickle_train"] + spec["pickle_test"] + [spec["pickle_meta"][0]]
    return path.is_dir() and all((path / f).is_file() for f in files)


def _is_pack(path: Path, name: str) -> bool:
    return path.is_file() and path.suffix == ".ltpack"


def locate_cifar(root=None, name: str = "cifar10") -> tuple[str, Path] | None:
    """Find a copy of ``name`` under ``root``: ("pickle" | "imagefolder" | "pack", path) or None.

    ``root`` (else ``LTUTORIAL_DATA``, else ``./data``) may be the copy itself (an ImageFolder
    with train/ and test/, the official pickle folder, or a ``.ltpack`` file) or a folder holding
    ``cifar-10-batches-py/``, ``cifar10/`` or ``cifar10.ltpack`` (checked in that order: the
    official pixels first, the lossy JPEG copy next, the pack last).
    """
    name = check_name(name)
    base, _ = default_root(root)
    spec = CIFAR_SPECS[name]
    if _is_pack(base, name):
        return "pack", base
    if not base.is_dir():
        return None
    if _is_pickle_dir(base, name):
        return "pickle", base
    if _is_image_folder(base, spec["num_classes"]):
        return "imagefolder", base
    if _is_pickle_dir(base / spec["pickle_dir"], name):
        return "pickle", base / spec["pickle_dir"]
    if _is_image_folder(base / name, spec["num_classes"]):
        return "imagefolder", base / name
    if _is_pack(base / f"{name}.ltpack", name):
        return "pack", base / f"{name}.ltpack"
    return None


def find_cifar_root(root=None, name: str = "cifar10") -> Path:
    """The path of the CIFAR copy that ``load_dataset`` would read (see ``locate_cifar``).

    Raises ValueError naming ``root`` and how to get the data when no copy is found.
    """
    found = locate_cifar(root, name)
    if found is None:
        base, origin = default_root(root)
        spec = CIFAR_SPECS[name]
        raise ValueError(
            f"root must point to a {spec['title']} copy: a folder holding {name}/ (ImageFolder with train/ and test/), "
            f"{spec['pickle_dir']}/ or {name}.ltpack, or such a copy itself; got root={str(base)!r} ({origin}) "
            f"instead, where none exists. To fix: {how_to_get(name)}."
        )
    return found[1]


# ----------------------------------------------------------------------------------------------
# Readers
# ----------------------------------------------------------------------------------------------


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        # The official files were pickled by Python 2; latin1 turns their byte-string keys into str.
        obj = pickle.load(fh, encoding="latin1")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def read_cifar_pickles(path, name: str, split: str) -> dict:
    """Read one split of the official python release: images uint8 N x 3 x 32 x 32, labels, classes.

    Each batch holds ``data`` (N x 3072 uint8, the red, green then blue planes, row-major) and
    ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100); class names come from the meta file.
    """
    name, split = check_name(name), check_split(split)
    spec, path = CIFAR_SPECS[name], Path(path)
    meta_file, meta_key = spec["pickle_meta"]
    classes = [str(c) for c in _unpickle(path / meta_file)[meta_key]]
    images, labels = [], []
    for batch in spec[f"pickle_{split}"]:
        d = _unpickle(path / batch)
        data = np.asarray(d["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{path / batch} must hold data of shape N x 3072; got {data.shape} instead.")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(d[spec["label_key"]], dtype=np.int64))
    return {
        "images": torch.from_numpy(np.concatenate(images)),
        "labels": torch.from_numpy(np.concatenate(labels)),
        "classes": classes,
    }


def _list_image_folder(path: Path, split: str) -> tuple[list[str], list[int], list[str]]:
    """Relative names ``<class>/<file>`` of a split's images, their labels, and the sorted classes."""
    split_dir = path / split
    classes = _class_dirs(split_dir)
    files, labels = [], []
    for label, cls in enumerate(classes):
        # Plain strings, not Path objects: building 60,000 Paths costs ~0.7 s on a slow core.
        names = sorted(n for n in os.listdir(split_dir / cls) if n.lower().endswith(IMAGE_SUFFIXES))
        files.extend(f"{cls}/{n}" for n in names)
        labels.extend([label] * len(names))
    return files, labels, classes


def read_image_folder_bytes(path, split: str) -> dict:
    """The encoded bytes of an ImageFolder split, concatenated: data uint8, offsets int64 (N+1), labels.

    Order: class folders sorted alphabetically (label = position), files sorted by name.
    """
    split = check_split(split)
    split_dir = Path(path) / split
    files, labels, classes = _list_image_folder(Path(path), split)
    if not files:
        raise ValueError(f"path must hold {split}/<class>/<image> files ({', '.join(IMAGE_SUFFIXES)}); got none under {split_dir} instead.")
    prefix = str(split_dir) + os.sep
    blobs = []
    for f in files:
        with open(prefix + f, "rb") as fh:
            blobs.append(fh.read())
    sizes = torch.tensor([len(b) for b in blobs], dtype=torch.int64)
    offsets = torch.zeros(len(blobs) + 1, dtype=torch.int64)
    torch.cumsum(sizes, 0, out=offsets[1:])
    data = torch.frombuffer(bytearray(b"".join(blobs)), dtype=torch.uint8)
    return {"data": data, "offsets": offsets, "labels": torch.tensor(labels, dtype=torch.int64), "classes": classes,
            "files": [prefix + f for f in files]}


def jpeg_mask(data: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Which blobs start with the JPEG SOI marker FF D8 (checked for all blobs at once)."""
    starts, sizes = offsets[:-1], offsets[1:] - offsets[:-1]
    long_enough = sizes > 2
    first = data[starts.clamp(max=max(data.numel() - 2, 0))] if data.numel() >= 2 else torch.zeros_like(starts, dtype=torch.uint8)
    second = data[(starts + 1).clamp(max=max(data.numel() - 1, 0))] if data.numel() >= 2 else first
    return long_enough & (first == 0xFF) & (second == 0xD8)


def _decode_torchvision(blobs: list[torch.Tensor], is_jpeg: list[bool], chunk: int) -> list[torch.Tensor]:
    with warnings.catch_warnings():
        # torchvision 0.29 flags its image codecs as deprecated in favour of TorchCodec; they
        # still work, and the "pil" decoder below is the drop-in should they disappear.
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_image, decode_jpeg

        out: list = [None] * len(blobs)
        jpeg_pos = [i for i, j in enumerate(is_jpeg) if j]
        for start in range(0, len(jpeg_pos), chunk):
            pos = jpeg_pos[start : start + chunk]
            for i, img in zip(pos, decode_jpeg([blobs[i] for i in pos], mode=ImageReadMode.RGB)):
                out[i] = img
        for i, j in enumerate(is_jpeg):
            if not j:
                out[i] = decode_image(blobs[i], mode=ImageReadMode.RGB)
    return out


def _decode_pil(blobs: list[torch.Tensor], is_jpeg: list[bool], chunk: int) -> list[torch.Tensor]:
    import io

    from PIL import Image

    out = []
    for b in blobs:
        with Image.open(io.BytesIO(b.numpy().tobytes())) as im:
            out.append(torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1))
    return out


def _torchvision_codecs_available() -> bool:
    try:
        import torchvision.io as tio

        return hasattr(tio, "decode_jpeg") and hasattr(tio, "decode_image")
    except ImportError:
        return False


DECODERS = {"torchvision": _decode_torchvision, "pil": _decode_pil}
# What the two decoders raise on an empty, truncated or non-image blob (torchvision: RuntimeError
# from its C++ code; PIL: OSError, of which UnidentifiedImageError is a subclass).
_DECODE_ERRORS = (RuntimeError, OSError, ValueError)


def _undecodable_error(blobs, is_jpeg, decoder: str, names) -> ValueError:
    """The ValueError for the first blob ``decoder`` cannot decode, naming it (``names[i]``, else its
    position); decoded one at a time, so only a failed decode pays for the search."""
    for i, blob in enumerate(blobs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                DECODERS[decoder]([blob], [is_jpeg[i]], 1)
        except _DECODE_ERRORS as exc:
            what = names[i] if names is not None else f"image {i}"
            detail = str(exc).strip().splitlines()[-1][-160:] if str(exc).strip() else type(exc).__name__
            return ValueError(f"{what} must be a readable JPEG or PNG image; got an empty, truncated or corrupt file "
                              f"({blob.numel()} bytes; the decoder said: {detail}) instead. Replace or delete it.")
    return ValueError("images must be readable JPEG or PNG images; got a batch that failed to decode instead.")


def decode_encoded(data: torch.Tensor, offsets: torch.Tensor, *, decoder: str = "auto", chunk: int = 4096,
                   names=None) -> torch.Tensor:
    """Decode concatenated JPEG/PNG bytes to uint8 RGB images N x 3 x H x W (all the same size).

    ``decoder="auto"`` uses torchvision (``decode_jpeg`` in batches; ``decode_image`` for PNG)
    and PIL only where torchvision lacks its codecs: on 2 cores torchvision decoded 32x32 CIFAR
    JPEGs about twice as fast as PIL (29 vs 57 us each), with identical pixels on this build
    (both wrap libjpeg-turbo). ImageFolder trees and packs both decode through this function,
    so they give the same pixels.
    """
    if decoder == "auto":
        decoder = "torchvision" if _torchvision_codecs_available() else "pil"
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be 'auto' or one of {sorted(DECODERS)}; got {decoder!r} instead.")
    n = offsets.numel() - 1
    if n == 0:
        return torch.zeros(0, 3, 32, 32, dtype=torch.uint8)
    bounds = offsets.tolist()
    blobs = [data[bounds[i] : bounds[i + 1]] for i in range(n)]
    is_jpeg = jpeg_mask(data, offsets).tolist()
    try:
        out = DECODERS[decoder](blobs, is_jpeg, chunk)
    except _DECODE_ERRORS as exc:
        raise _undecodable_error(blobs, is_jpeg, decoder, names) from exc
    shapes = {tuple(img.shape) for img in out}
    if len(shapes) > 1:
        raise ValueError(f"images must all have the same size to be stacked; got shapes {sorted(shapes)} instead.")
    return torch.stack(out)


# ----------------------------------------------------------------------------------------------
# Cache
# ----------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """``LTUTORIAL_CACHE`` if set, else ``~/.cache/ltutorial``."""
    env = os.environ.get("LTUTORIAL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ltutorial"


class CacheEntry(dict):
    """A cached split: images, labels, classes, mean, std, indices, full_labels, source."""


def _fingerprint(kind: str, path: Path, split: str) -> str:
    """What the cache key hashes: the copy's kind, absolute path, split and a cheap content signature.

    For an ImageFolder the signature is the list of file names (one directory listing, ~50 ms
    for CIFAR-10), so adding or removing images invalidates the cache; for files (pickles, a
    pack) it is their size and modification time.
    """
    path = path.resolve()
    # The decoder is part of the key: two JPEG decoders may differ by one grey level.
    # find_spec, not an import: importing torchvision costs ~1 s, more than the cached load itself.
    decoder = "torchvision" if importlib.util.find_spec("torchvision") is not None else "pil"
    parts = [f"v{CACHE_VERSION}", kind, str(path), split, decoder]
    if kind == "imagefolder":
        files, _, _ = _list_image_folder(path, split)
        parts.append(hashlib.sha1("\n".join(files).encode()).hexdigest())
    else:
        targets = sorted(p for p in path.iterdir()) if path.is_dir() else [path]
        parts.extend(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in targets)
    return "|".join(parts)


def _cache_prefix(name: str, kind: str, path: Path, split: str) -> str:
    where = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{name}-{split}-{kind}-{where}-"


def _cache_path(name: str, kind: str, path: Path, split: str) -> Path:
    """``<name>-<split>-<kind>-<hash of the path>-<hash of the fingerprint>.pt`` in ``cache_dir()``."""
    key = hashlib.sha1(_fingerprint(kind, path, split).encode()).hexdigest()[:12]
    return cache_dir() / f"{_cache_prefix(name, kind, path, split)}{key}.pt"


def _remove_stale(current: Path, prefix: str) -> None:
    """Delete older cache files of the same copy and split (their source has changed since)."""
    for old in current.parent.glob(f"{prefix}*.pt"):
        if old != current:
            try:
                old.unlink()
            except OSError:  # in use on Windows, or removed by another process first
                pass


def atomic_save(obj, dst: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename over ``dst``.

    os.replace is atomic on POSIX and Windows, so a notebook loading concurrently sees either
    no file or a complete one, never a half-written file.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a shared cache folder must stay readable
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_source(name: str, kind: str, path: Path, split: str) -> dict:
    """Read and decode one split from the copy at ``path`` (no cache)."""
    title = CIFAR_SPECS[name]["title"]
    if kind == "pickle":
        out = read_cifar_pickles(path, name, split)
        out["source"] = f"official {title} files at {path}"
    elif kind == "imagefolder":
        raw = read_image_folder_bytes(path, split)
        fmt = "JPEG" if bool(jpeg_mask(raw["data"], raw["offsets"]).all()) else "image"
        images = decode_encoded(raw["data"], raw["offsets"], names=raw["files"])
        out = {"images": images, "labels": raw["labels"], "classes": raw["classes"]}
        out["source"] = f"ImageFolder {fmt} copy at {path}"
    elif kind == "pack":
        out = read_pack_split(path, split, name=name)
    else:  # pragma: no cover - kinds come from locate_cifar
        raise ValueError(f"kind must be one of ['imagefolder', 'pack', 'pickle']; got {kind!r} instead.")
    n = out["labels"].numel()
    out.setdefault("indices", torch.arange(n, dtype=torch.int64))
    out.setdefault("full_labels", out["labels"])
    if "mean" not in out:
        out["mean"], out["std"] = channel_mean_std(out["images"])
    return out


def load_cifar_split(name: str, split: str, root=None, *, verbose: bool = False) -> CacheEntry:
    """One split of CIFAR from the copy ``find_cifar_root`` finds, through the on-disk cache.

    Returns a CacheEntry with ``images`` (uint8 N x 3 x 32 x 32), ``labels``, ``classes``,
    ``mean``/``std`` of these images in [0, 1] units, ``indices`` (positions in the full split;
    a pack may hold only the long-tailed part of train), ``full_labels`` and ``source``.
    """
    name, split = check_name(name), check_split(split)
    find_cifar_root(root, name)  # raises the explanatory error when nothing is there
    kind, path = locate_cifar(root, name)
    dst = _cache_path(name, kind, path, split)
    if dst.is_file():
        try:
            t0 = time.perf_counter()
            entry = torch.load(dst, weights_only=True)
            if verbose:
                print(f"{name} {split}: {short_source(entry['source'])} (decoded copy read from the ltutorial cache, "
                      f"{time.perf_counter() - t0:.2f} s)")
            return CacheEntry(entry)
        except Exception as exc:  # a corrupt or foreign file: rebuild it rather than fail
            if verbose:
                print(f"{name} {split}: cache file {dst.name} unreadable ({type(exc).__name__}); decoding again")
    t0 = time.perf_counter()
    entry = _read_source(name, kind, path, split)
    entry["images"] = entry["images"].contiguous()
    elapsed = time.perf_counter() - t0
    try:
        atomic_save(dict(entry), dst)
        _remove_stale(dst, _cache_prefix(name, kind, path, split))
    except OSError as exc:  # read-only home, full disk: the data are fine, only the next load is slow
        warnings.warn(
            f"could not write the decoded {name} {split} split to the cache {dst} ({exc}); set LTUTORIAL_CACHE "
            f"to a writable folder so the next load does not decode again.",
            RuntimeWarning,
            stacklevel=2,
        )
    if verbose:
        print(f"{name} {split}: {short_source(entry['source'])} (decoded {entry['labels'].numel()} images in {elapsed:.1f} s, "
              f"saved to the ltutorial cache: LTUTORIAL_CACHE or ~/.cache/ltutorial)")
    return CacheEntry(entry)


# ----------------------------------------------------------------------------------------------
# Download
# ----------------------------------------------------------------------------------------------


def _resolve_host(host: str, timeout: float) -> None:
    """Resolve ``host`` in a daemon thread: socket timeouts do not cover DNS, which can hang."""
    result: dict = {}

    def target():
        try:
            result["addr"] = socket.getaddrinfo(host, 443)
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ConnectionError(f"resolving {host} took more than {timeout:.0f} s")
    if "error" in result:
        raise result["error"]


def download_cifar(root, name: str = "cifar10", *, timeout: float = 15.0) -> Path:
    """Download the official python release with torchvision into ``root``; fail fast offline.

    A blocked network raises a RuntimeError within about ``timeout`` seconds (DNS look-up in a
    thread, ``timeout`` on every socket operation) saying how else to get the data.
    """
    name = check_name(name)
    spec = CIFAR_SPECS[name]
    root = Path(root).expanduser()
    old_timeout = socket.getdefaulttimeout()
    try:
        _resolve_host(spec["host"], timeout)
        socket.setdefaulttimeout(timeout)
        import torchvision.datasets

        dataset_cls = getattr(torchvision.datasets, spec["torchvision"])
        root.mkdir(parents=True, exist_ok=True)
        dataset_cls(root=str(root), train=True, download=True)
        dataset_cls(root=str(root), train=False, download=True)
    except Exception as exc:
        raise RuntimeError(
            f"downloading {spec['title']} into {str(root)!r} failed ({type(exc).__name__}: {exc}). Without network "
            f"access, copy {spec['pickle_dir']}/ or an ImageFolder tree {name}/ (train/, test/) to a folder and set "
            f"LTUTORIAL_DATA to it (or pass root=...), or carry a pack made with `python -m ltutorial.data.pack`."
        ) from exc
    finally:
        socket.setdefaulttimeout(old_timeout)
    return root / spec["pickle_dir"]


# ----------------------------------------------------------------------------------------------
# Reading an ltutorial pack (written by ``ltutorial.fast.pack.pack_cifar``): layout, see there
# ----------------------------------------------------------------------------------------------
PACK_FORMAT = "ltutorial-pack"
PACK_VERSION = 1
_PACK_KEYS = {"train": ("data", "offsets", "labels", "indices", "full_labels", "mean", "std"),
              "test": ("data", "offsets", "labels")}


def _load_pack(path: Path) -> dict:
    """The pack at ``path``, its format, version and layout checked; a truncated, empty or garbage
    file raises a ValueError naming it (not torch's OSError/EOFError/KeyError)."""
    corrupt = (f"path must be an ltutorial pack written by pack_cifar; got {str(path)!r}, which is truncated or "
               "corrupt ({}), instead. Copy it again or make it again with pack_cifar.")
    try:
        pack = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # zip/pickle errors of every kind: EOFError, RuntimeError, UnpicklingError ...
        raise ValueError(corrupt.format(f"{type(exc).__name__}: {str(exc)[:120]}")) from exc
    if not isinstance(pack, dict) or pack.get("format") != PACK_FORMAT:
        raise ValueError(f"path must be an ltutorial pack written by pack_cifar; got {str(path)!r}, which is not one, instead.")
    if pack.get("version") != PACK_VERSION:
        raise ValueError(f"path must be a version {PACK_VERSION} pack; got version {pack.get('version')!r} in {str(path)!r} instead.")
    for split, keys in _PACK_KEYS.items():
        part = pack.get(split)
        missing = [k for k in keys if not isinstance(part, dict) or k not in part]
        if missing or "classes" not in pack or "longtail" not in pack or "origin" not in pack:
            raise ValueError(corrupt.format(f"{split} lacks {missing}" if missing else "metadata missing"))
        offsets, data, labels = part["offsets"], part["data"], part["labels"]
        ok = (all(isinstance(t, torch.Tensor) for t in (offsets, data, labels)) and offsets.ndim == 1
              and offsets.numel() == labels.numel() + 1 and int(offsets[-1]) == data.numel())
        if not ok:
            raise ValueError(corrupt.format(f"the {split} offsets do not match its bytes and labels"))
    return pack


def read_pack_split(path, split: str, name: str | None = None) -> dict:
    """Decode one split of a pack: images, labels, classes, indices, full_labels (+ mean/std for train).

    With ``name`` given, the pack must hold that data set (a cifar100 pack is not CIFAR-10).
    """
    split = check_split(split)
    path = Path(path)
    pack = _load_pack(path)
    if name is not None and pack.get("name") != name:
        raise ValueError(f"path must be a pack of {name}; got a pack of {pack.get('name')!r} at {str(path)!r} instead.")
    part = pack[split]
    try:
        images = decode_encoded(part["data"], part["offsets"])
    except ValueError as exc:
        raise ValueError(f"path must be an intact ltutorial pack; got {str(path)!r}, which is corrupt ({exc}), "
                         "instead. Make it again with pack_cifar.") from exc
    out = {"images": images, "labels": part["labels"], "classes": list(pack["classes"])}
    what = "long-tailed train subset " + str(pack["longtail"]) if (split == "train" and pack["longtail"]) else f"full {split} split"
    out["source"] = f"ltutorial pack at {path} ({what}; bytes from {pack['origin']})"
    if split == "train":
        out["indices"] = part["indices"]
        out["full_labels"] = part["full_labels"]
        out["mean"], out["std"] = tuple(part["mean"]), tuple(part["std"])
    return out
