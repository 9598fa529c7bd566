"""The ``worldmem`` command.

``worldmem demo [...]`` runs the memory demo (see ``python -m worldmem.demo --help``). Generation
(``worldmem generate``) arrives with the generator model.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="worldmem", description="worldmem command line")
    parser.add_argument("command", choices=["demo"], help="demo: the memory demo on the synthetic world")
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from worldmem import demo

        return demo.main(rest)
    return 2


if __name__ == "__main__":
    sys.exit(main())
