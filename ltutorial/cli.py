"""The ``ltutorial`` console command, ``ltutorial notebooks|reproduce|student [options]``; a sub-command's module is
imported only when it runs, so ``ltutorial --help`` is instant."""

import importlib
import sys

from ltutorial._version import __version__

SUBCOMMANDS = {
    "notebooks": "execute notebooks headless with papermill (profiles smoke/cpu/full/auto)",
    "reproduce": "reproduce a long-tailed benchmark table, e.g. `ltutorial reproduce cifar10-lt` "
                 "(also imagenet-lt, places-lt, inat2018 from your own copy)",
    "student": "write workshop notebooks: student copies without solutions + instructor copies",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command; returns its exit status (2 for an unknown command)."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "\n".join([f"usage: ltutorial <command> [options]   (ltutorial {__version__})", "", "commands:",
                       *[f"  {name:<10} {text}" for name, text in SUBCOMMANDS.items()], "",
                       "`ltutorial <command> --help` shows a command's options."])
    if not args or args[0] in ("-h", "--help", "--version"):
        print(__version__ if args and args[0] == "--version" else usage)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"error: command must be one of {sorted(SUBCOMMANDS)}; got {name!r} instead.\n\n{usage}", file=sys.stderr)
        return 2
    if name == "reproduce":  # the large benchmarks (from the user's split files): ``ltutorial.reproduce_large``
        from ltutorial.data.large_lt import LARGE_LT

        from ltutorial.methods import BENCHMARKS

        # the benchmark may stand after the options, and an option's value may look like a benchmark's name
        large = any(a in LARGE_LT for a in rest) and not any(a in BENCHMARKS for a in rest)
        module = "reproduce_large" if large else "reproduce"
        return int(importlib.import_module(f"ltutorial.{module}").main(rest) or 0)
    module = importlib.import_module(f"ltutorial.{'notebooks' if name == 'notebooks' else 'workshop'}")
    return int(module.main(rest, prog=f"ltutorial {name}") or 0)
