"""``python -m ltutorial.data.pack``: kept for the commands in README and benchmarks/README; the pack
writer lives in the engine tier (``ltutorial.fast.pack``), the reader in ``ltutorial.data.cifar``."""

from __future__ import annotations

import sys

from ltutorial.fast.pack import PACK_FORMAT, main, pack_cifar, read_pack_split

__all__ = ["PACK_FORMAT", "pack_cifar", "read_pack_split", "main"]

if __name__ == "__main__":
    sys.exit(main())
