"""The ``worldmem`` command.

``worldmem demo [...]`` runs the demo (see ``python -m worldmem.demo --help``); ``worldmem generate [...]``
generates a long camera-controlled video with a trained pipeline (see ``worldmem generate --help``).
"""

from __future__ import annotations

import sys

from worldmem.utils.cli_errors import ArgumentParser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = ArgumentParser(prog="worldmem", description="worldmem command line")
    parser.add_argument("command", choices=["demo", "generate"],
                        help="demo: the memory demo; generate: a long video from a trained pipeline")
    args, rest = parser.parse_known_args(argv)
    if args.command == "generate":
        from worldmem import generate

        return generate.main(rest)
    if args.command == "demo":
        from worldmem import demo

        return demo.main(rest)
    return 2


if __name__ == "__main__":
    sys.exit(main())
