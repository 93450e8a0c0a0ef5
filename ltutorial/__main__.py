"""``python -m ltutorial <command> ...``: the same as the ``ltutorial`` console command."""

import sys

from ltutorial.cli import main

sys.exit(main())
