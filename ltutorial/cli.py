"""The ``ltutorial`` console command: ``ltutorial <sub-command> [options]``.

Sub-commands (one explicit dict, no dynamic lookup):

- ``notebooks``: execute notebooks headless with papermill (:mod:`ltutorial.notebooks`);
- ``reproduce``: re-run a paper table on CIFAR-LT (:mod:`ltutorial.reproduce`), or on ImageNet-LT,
  Places-LT, iNaturalist 2018 from the user's files (:mod:`ltutorial.reproduce_large`).
- ``student``: workshop hand-outs, notebooks without their solutions (:mod:`ltutorial.workshop`).

Each sub-command module is imported only when it is called, so ``ltutorial --help`` is instant.
"""

from __future__ import annotations

import sys


def _notebooks(argv: list[str]) -> int:
    from ltutorial import notebooks

    return notebooks.main(argv, prog="ltutorial notebooks")


def _reproduce(argv: list[str]) -> int:
    if argv and argv[0] in LARGE_BENCHMARK_NAMES:  # issue 15: file-backed sets, their own loop
        from ltutorial import reproduce_large

        return reproduce_large.main(argv)
    from ltutorial import reproduce

    return reproduce.main(argv)


#: The large benchmarks (ltutorial.reproduce_large), read from the user's split files; listed here so
#: dispatching needs no import.
LARGE_BENCHMARK_NAMES = ("imagenet-lt", "inat2018", "places-lt")


# issue 14 (workshop hand-outs)
def _student(argv: list[str]) -> int:
    from ltutorial import workshop

    return workshop.main(argv, prog="ltutorial student")


SUBCOMMANDS = {
    "notebooks": (_notebooks, "execute notebooks headless with papermill (profiles smoke/cpu/full/auto)"),
    "reproduce": (_reproduce, "reproduce a long-tailed benchmark table, e.g. `ltutorial reproduce cifar10-lt` "
                              "(also imagenet-lt, places-lt, inat2018 from your own copy)"),
    "student": (_student, "write workshop notebooks: student copies without solutions + instructor copies"),
}


def usage() -> str:
    from ltutorial._version import __version__

    lines = [f"usage: ltutorial <command> [options]   (ltutorial {__version__})", "", "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in SUBCOMMANDS.items()]
    lines += ["", "`ltutorial <command> --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a sub-command; returns its exit status (2 for an unknown command)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    if args[0] == "--version":
        from ltutorial._version import __version__

        print(__version__)
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"error: command must be one of {sorted(SUBCOMMANDS)}; got {name!r} instead.\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    command, _ = SUBCOMMANDS[name]
    status = command(rest)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
