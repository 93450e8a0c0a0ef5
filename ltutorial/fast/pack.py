"""A compact, portable CIFAR "pack": one file of encoded image bytes to carry to another machine.

A GPU machine that cannot reach the internet gets its data by copying files, often under a size
limit (64 MiB here). Decoded CIFAR-10 is 184 MB; its JPEG copy is about 900 bytes per image,
so the whole set packs into ~55 MB and the long-tailed train split (rho = 100) plus the test split
into ~20 MB. The pack keeps the original bytes (JPEG from an ImageFolder tree; lossless PNG when
packing the official pixel files), so decoding it gives the same pixels as the source copy.

Layout (``torch.save`` of plain tensors, lists and numbers, loadable with ``weights_only=True``)::

    {"format": "ltutorial-pack", "version": 1, "name": "cifar10", "classes": [...],
     "origin": "<source of the packed copy>", "encoding": "jpeg" | "png" | "mixed",
     "longtail": None | {"imbalance_ratio": r, "profile": p, "seed": s},
     "train": {"data": uint8[B], "offsets": int64[N+1], "labels": int64[N],
               "indices": int64[N] (positions in the full train split), "full_labels": int64[50000],
               "mean": [3 floats], "std": [3 floats] (of the FULL train split)},
     "test":  {"data", "offsets", "labels"}}

Command line: ``python -m ltutorial.fast.pack --out DIR [--root ROOT] [--imbalance-ratio 100]`` (also
``python -m ltutorial.data.pack``). ``load_dataset`` reads a root holding ``cifar10.ltpack`` like any other
copy (the reader, ``read_pack_split``, is in ``ltutorial.data.cifar``, so data loading needs no engine tier).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ltutorial.data.cifar import (
    CIFAR_SPECS,
    PACK_FORMAT,
    PACK_VERSION,
    atomic_save,
    check_name,
    find_cifar_root,
    jpeg_mask,
    load_cifar_split,
    locate_cifar,
    read_cifar_pickles,
    read_image_folder_bytes,
    read_pack_split,
)
from ltutorial.data.longtail import longtail_indices

__all__ = ["PACK_FORMAT", "pack_cifar", "read_pack_split", "main"]


def _concat(blobs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    sizes = torch.tensor([b.numel() for b in blobs], dtype=torch.int64)
    offsets = torch.zeros(len(blobs) + 1, dtype=torch.int64)
    torch.cumsum(sizes, 0, out=offsets[1:])
    data = torch.cat(blobs) if blobs else torch.zeros(0, dtype=torch.uint8)
    return data, offsets


def _select(data: torch.Tensor, offsets: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    bounds = offsets.tolist()
    return _concat([data[bounds[i] : bounds[i + 1]] for i in indices.tolist()])


def _png_bytes(image: torch.Tensor) -> torch.Tensor:
    """Lossless PNG encoding of one uint8 3 x H x W image, as a uint8 tensor of bytes."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="PNG")
    return torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)


def _encoded_split(kind: str, path: Path, name: str, split: str) -> dict:
    """Encoded bytes of one split: the files' own bytes for a tree, PNG for the official pixels."""
    if kind == "imagefolder":
        return read_image_folder_bytes(path, split)
    if kind == "pickle":
        raw = read_cifar_pickles(path, name, split)
        data, offsets = _concat([_png_bytes(img) for img in raw["images"]])
        return {"data": data, "offsets": offsets, "labels": raw["labels"], "classes": raw["classes"]}
    raise ValueError(f"root must hold an ImageFolder tree or the official files to pack; got a {kind} at {path} instead.")


def _encoding(data: torch.Tensor, offsets: torch.Tensor) -> str:
    mask = jpeg_mask(data, offsets)
    return "jpeg" if bool(mask.all()) else ("png" if not bool(mask.any()) else "mixed")


def pack_cifar(
    root=None,
    dst=".",
    *,
    name: str = "cifar10",
    imbalance_ratio: float | None = None,
    profile: str = "exp",
    seed: int = 0,
    verbose: bool = False,
) -> Path:
    """Write ``<dst>/<name>.ltpack`` (or the file ``dst`` if it ends in .ltpack); return its path.

    Holds the test split and either the full train split (``imbalance_ratio=None``) or only the
    long-tailed subset ``longtail_indices(train_labels, imbalance_ratio, profile, seed)``. Such a
    pack serves any ``load_dataset`` request whose subset it contains (same seed and profile, the
    same or a larger ratio) and raises a clear error otherwise. Mean/std stored are those of the
    full train split, so training normalises identically whichever copy is read.
    """
    name = check_name(name)
    find_cifar_root(root, name)
    kind, path = locate_cifar(root, name)
    dst = Path(dst).expanduser()
    if dst.suffix != ".ltpack":
        dst = dst / f"{name}.ltpack"
    if kind == "pack":
        raise ValueError(f"root must hold an ImageFolder tree or the official files to pack; got the pack {path} instead.")
    # The decoded (cached) train split gives the full-set statistics and checks every image decodes.
    full_train = load_cifar_split(name, "train", root, verbose=verbose)
    train = _encoded_split(kind, path, name, "train")
    test = _encoded_split(kind, path, name, "test")
    full_labels = train["labels"]
    longtail = None
    indices = torch.arange(full_labels.numel(), dtype=torch.int64)
    if imbalance_ratio is not None:
        indices = longtail_indices(full_labels, imbalance_ratio, profile, seed, num_classes=len(train["classes"]))
        train["data"], train["offsets"] = _select(train["data"], train["offsets"], indices)
        longtail = {"imbalance_ratio": float(imbalance_ratio), "profile": profile, "seed": int(seed)}
    pack = {
        "format": PACK_FORMAT,
        "version": PACK_VERSION,
        "name": name,
        "classes": list(train["classes"]),
        "origin": full_train["source"],
        "encoding": _encoding(train["data"], train["offsets"]),
        "longtail": longtail,
        "train": {
            "data": train["data"].clone(),
            "offsets": train["offsets"],
            "labels": full_labels[indices].clone(),
            "indices": indices,
            "full_labels": full_labels.clone(),
            "mean": list(full_train["mean"]),
            "std": list(full_train["std"]),
        },
        "test": {"data": test["data"].clone(), "offsets": test["offsets"], "labels": test["labels"].clone()},
    }
    atomic_save(pack, dst)
    if verbose:
        print(f"wrote {dst} ({dst.stat().st_size / 2**20:.1f} MiB): {indices.numel()} train + {test['labels'].numel()} test images from {full_train['source']}")
    return dst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ltutorial.fast.pack",
        description="Pack CIFAR (test split + full or long-tailed train split) into one portable file.",
    )
    parser.add_argument("--out", required=True, help="folder to write <name>.ltpack into (or a path ending in .ltpack)")
    parser.add_argument("--root", default=None, help="where the CIFAR copy is (default: LTUTORIAL_DATA, else ./data)")
    parser.add_argument("--name", default="cifar10", choices=sorted(CIFAR_SPECS))
    parser.add_argument("--imbalance-ratio", type=float, default=None, help="keep only the long-tailed train subset with this ratio")
    parser.add_argument("--profile", default="exp")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".ltpack":
        out.mkdir(parents=True, exist_ok=True)
    pack_cifar(args.root, out, name=args.name, imbalance_ratio=args.imbalance_ratio, profile=args.profile, seed=args.seed, verbose=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
