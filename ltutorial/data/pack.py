"""``python -m ltutorial.data.pack`` (README's command): the writer is ``ltutorial.fast.pack``, the reader
``ltutorial.data.cifar.read_pack_split``."""

from __future__ import annotations

import sys

from ltutorial.data.cifar import PACK_FORMAT, read_pack_split
from ltutorial.fast.pack import main, pack_cifar

__all__ = ["PACK_FORMAT", "pack_cifar", "read_pack_split", "main"]

if __name__ == "__main__":
    sys.exit(main())
