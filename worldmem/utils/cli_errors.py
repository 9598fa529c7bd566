"""The commands' one shape: ``add_arguments(parser)`` + ``run(args)``, and one error line ``<prog>: error: <message>``.

Every command of this toolkit (``worldmem generate``, ``worldmem demo``, each ``python -m eval`` sub-command) is a
module with two functions: ``add_arguments(parser)`` declares its flags, ``run(args)`` does the work for the parsed
flags and raises :class:`UsageError` for a bad input, its message one line that names the input (``--steps:
expected an int >= 1, got 0``). The entry point (``worldmem``, ``python -m eval``) builds one sub-parser per
command from ``add_arguments`` (so ``worldmem generate --help`` lists generate's own options) and turns a
:class:`UsageError` into the error line and exit status 2 in one place (:func:`run_command`).

argparse's own errors (a missing or unknown flag, a value of the wrong type) are one line too
(:class:`ArgumentParser`); argparse would print its usage block first. ``--help`` still shows the usage.

``key=value`` overrides (``generation.write_gate.margin=0``) may stand anywhere on a command line, among the
flags: a command that takes them declares the positional with :func:`add_overrides`, and :func:`take_overrides`
gathers the ones argparse leaves over after a flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["ArgumentParser", "UsageError", "add_overrides", "parse_command", "run_command", "take_overrides",
           "usage_exit"]


class UsageError(Exception):
    """A bad input to a command: one line that names the input (the flag, the file, the ``key=value``)."""


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line (sub-command parsers inherit it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see --help)\n")


def usage_exit(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """Prints ``<prog>: error: <message>`` (on one line, whatever ``message`` holds) and exits with status 2."""
    parser.exit(2, f"{parser.prog}: error: {' '.join(str(message).split())}\n")


def run_command(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Any],
                args: argparse.Namespace) -> int:
    """``run(args)`` for the command whose parser is ``parser``; a :class:`UsageError` becomes its error line and
    exit status 2 (:func:`usage_exit`). Returns 0, the exit status of a finished run."""
    try:
        run(args)
    except UsageError as err:
        usage_exit(parser, str(err))
    return 0


def add_overrides(parser: argparse.ArgumentParser, help: str) -> None:
    """Declares the ``key=value`` overrides of ``parser``'s command (``args.overrides``, a list of strings)."""
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=help)


def take_overrides(parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]) -> None:
    """Moves the words ``parse_known_args`` left over that are ``key=value`` overrides into ``args.overrides``
    (argparse gives its positional only the first run of them, those between two flags); any other left-over
    word, or any at all for a command without overrides, is the one-line unknown-argument error of ``parser``."""
    takes = hasattr(args, "overrides")
    unknown = [word for word in extra if not (takes and "=" in word and not word.startswith("-"))]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if takes:
        args.overrides = [*args.overrides, *extra]


def parse_command(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed by the command's ``parser``, its ``key=value`` overrides gathered (:func:`take_overrides`)."""
    args, extra = parser.parse_known_args(argv)
    take_overrides(parser, args, extra)
    return args
