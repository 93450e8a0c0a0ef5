"""A CIFAR "pack": one file of the source's encoded bytes (JPEG from a tree, lossless PNG from the official pixels),
to carry the data to a machine without internet: CIFAR-10 in ~55 MB instead of 184 MB decoded, its long-tailed split
(rho = 100) + test in ~20 MB. ``torch.save`` of plain tensors (``weights_only``)::

    {"format": "ltutorial-pack", "version": 1, "name", "classes", "origin", "encoding", "longtail": None |
     {"imbalance_ratio", "profile", "seed"}, "train": {"data": uint8[B], "offsets": int64[N+1], "labels", "indices"
     (in the full split), "full_labels", "mean", "std" (full split)}, "test": {"data", "offsets", "labels"}}

``python -m ltutorial.data.pack --out DIR`` writes one; ``ltutorial.data.cifar.read_pack_split`` reads it.
"""

import argparse
import io
import sys
from pathlib import Path

import torch

from ltutorial.data.cifar import (CIFAR_SPECS, PACK_FORMAT, PACK_VERSION, atomic_save, concat_blobs, jpeg_mask,
                                  load_cifar_split, locate_cifar, read_cifar_pickles, read_image_folder_bytes)
from ltutorial.data.longtail import longtail_indices

__all__ = ["pack_cifar", "main"]


def pack_cifar(root=None, dst=".", *, name: str = "cifar10", imbalance_ratio: float | None = None, profile: str = "exp",
               seed: int = 0, verbose: bool = False) -> Path:
    """Write ``<dst>/<name>.ltpack`` (or ``dst`` ending in .ltpack): test and train split, or only train's
    ``longtail_indices(labels, imbalance_ratio, profile, seed)`` (it serves the same or a larger ratio)."""
    kind, path = locate_cifar(root, name, required=True)
    dst = Path(dst).expanduser()
    dst = dst if dst.suffix == ".ltpack" else dst / f"{name}.ltpack"
    if kind not in ("imagefolder", "pickle"):
        raise ValueError(f"root must hold an ImageFolder tree or the official files to pack; got the {kind} {path} "
                         "instead.")
    full_train = load_cifar_split(name, "train", root, verbose=verbose)  # full-set statistics; every image decodes
    train, test = (_encoded_split(kind, path, name, split) for split in ("train", "test"))
    full_labels, indices, longtail = train["labels"], torch.arange(train["labels"].numel()), None
    if imbalance_ratio is not None:
        indices = longtail_indices(full_labels, imbalance_ratio, profile, seed, num_classes=len(train["classes"]))
        bounds = train["offsets"].tolist()
        train["data"], train["offsets"] = concat_blobs([train["data"][bounds[i]:bounds[i + 1]]
                                                        for i in indices.tolist()])
        longtail = {"imbalance_ratio": float(imbalance_ratio), "profile": profile, "seed": int(seed)}
    mask = jpeg_mask(train["data"], train["offsets"])
    pack = {"format": PACK_FORMAT, "version": PACK_VERSION, "name": name, "classes": list(train["classes"]),
            "origin": full_train["source"], "longtail": longtail,
            "encoding": "jpeg" if bool(mask.all()) else ("png" if not bool(mask.any()) else "mixed"),
            "train": {"data": train["data"].clone(), "offsets": train["offsets"], "indices": indices,
                      "labels": full_labels[indices].clone(), "full_labels": full_labels.clone(),
                      "mean": list(full_train["mean"]), "std": list(full_train["std"])},
            "test": {"data": test["data"].clone(), "offsets": test["offsets"], "labels": test["labels"].clone()}}
    atomic_save(pack, dst)
    if verbose:
        print(f"wrote {dst} ({dst.stat().st_size / 2**20:.1f} MiB): {indices.numel()} train + {test['labels'].numel()} "
              f"test images from {full_train['source']}")
    return dst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ltutorial.data.pack", description="Pack CIFAR into one file.")
    parser.add_argument("--out", required=True, help="folder to write <name>.ltpack into (or a path ending in .ltpack)")
    parser.add_argument("--root", default=None, help="where the CIFAR copy is (default: LTUTORIAL_DATA, else ./data)")
    parser.add_argument("--name", default="cifar10", choices=sorted(CIFAR_SPECS))
    parser.add_argument("--imbalance-ratio", type=float, default=None, help="keep only the long-tailed train subset")
    parser.add_argument("--profile", default="exp")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pack_cifar(args.root, args.out, name=args.name, imbalance_ratio=args.imbalance_ratio, profile=args.profile,
               seed=args.seed, verbose=True)
    return 0


def _encoded_split(kind: str, path: Path, name: str, split: str) -> dict:
    """One split's encoded bytes: the files' own for a tree, lossless PNG for the official pixels."""
    if kind == "imagefolder":
        return read_image_folder_bytes(path, split)
    from PIL import Image

    raw, blobs = read_cifar_pickles(path, name, split), []
    for image in raw["images"]:
        buf = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="PNG")
        blobs.append(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8))
    return dict(zip(("data", "offsets"), concat_blobs(blobs)), labels=raw["labels"], classes=raw["classes"])


if __name__ == "__main__":
    sys.exit(main())
