"""``python -m ltutorial.data.pack`` (README's command) runs the pack writer ``ltutorial.fast.pack``."""

import sys

from ltutorial.fast.pack import main

if __name__ == "__main__":
    sys.exit(main())
