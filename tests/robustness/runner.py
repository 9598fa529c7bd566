"""Runs one robustness case and says how its entry point took the broken input.

A case builds its own broken input in a fresh folder and calls one entry point: a command's ``main(argv)`` in
this process (``SystemExit`` caught, stderr captured), or a public function. Outcomes:

- ``one-line``: the wanted refusal: exit status 2 with one stderr line ``<prog>: error: ...`` (a command), or the
  case's exception type with a one-line message (the API), naming the input (``Case.names``);
- ``vague``: refused, but not like that (several lines, another status or type, the input not named);
- ``traceback``: an exception the entry point did not turn into its error;
- ``silent``: accepted (exit 0 / no exception): the input was truncated, clamped or substituted;
- ``partial``: refused, but an output (``Case.outputs``) or a temporary sibling is left behind.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OUTCOMES = ("one-line", "vague", "traceback", "silent", "partial")


def _generate_main(argv):
    from worldmem import cli

    return cli.main(["generate", *argv])


def _eval_main(argv):
    from eval import cli

    return cli.main(argv)


def _train_main(argv):
    from train import __main__ as train_cli

    return train_cli.main(argv)


def _curation_main(argv):
    from data_curation import cli

    return cli.main(argv)


SUBCOMMANDS = ("python -m eval", "python -m data_curation")
"""Commands whose error line names the sub-command (``argv[0]``) after the program."""
COMMANDS: dict[str, tuple[Callable, str]] = {
    # entry -> (main(argv), the program its error line starts with)
    "worldmem generate": (_generate_main, "worldmem generate"),
    "python -m eval": (_eval_main, "python -m eval"),
    "python -m train": (_train_main, "python -m train"),
    "python -m data_curation": (_curation_main, "python -m data_curation"),
}


@dataclass(frozen=True)
class Case:
    """One broken input.

    ``build(tmp, base)`` makes the input in the case's own folder ``tmp`` (``base`` holds shared valid
    originals, see :mod:`tests.robustness.fixtures`). For a command it returns the argv; for the API it makes
    the call itself. ``names`` is text the error must contain (the input it names); ``outputs`` are paths under
    ``tmp`` that must not exist afterwards.
    """

    entry: str
    name: str
    build: Callable[[Path, Path], object]
    names: str
    outputs: tuple[str, ...] = ()
    error: type[BaseException] = ValueError

    @property
    def is_command(self) -> bool:
        return self.entry in COMMANDS


def _leftovers(tmp: Path, outputs: tuple[str, ...]) -> list[str]:
    left = [o for o in outputs if (tmp / o).exists()]
    for parent in {(tmp / o).parent for o in outputs} | {tmp}:
        if parent.is_dir():
            left += [str(p.relative_to(tmp)) for p in parent.iterdir()
                     if p.name.startswith(".") and (".tmp" in p.name or p.name.endswith(".old"))]
    return left


def run_case(case: Case, tmp: Path, base: Path) -> tuple[str, str]:
    """(outcome, detail) of ``case`` run in the empty folder ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp)  # anything written to a relative default lands here, where it is seen
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            if case.is_command:
                argv = case.build(tmp, base)
                status = COMMANDS[case.entry][0](argv)
                outcome, message = ("silent", f"exit status {status}") if not status else ("vague", f"returned {status}")
            else:
                case.build(tmp, base)
                outcome, message = "silent", "no exception"
    except SystemExit as stop:
        if not case.is_command:
            outcome, message = "traceback", f"SystemExit {stop.code}"
        else:
            text = err.getvalue().strip()
            prefix = f"{COMMANDS[case.entry][1]}{' ' + argv[0] if case.entry in SUBCOMMANDS else ''}: error: "
            if stop.code == 0:
                outcome, message = "silent", "exit status 0"
            elif stop.code != 2:
                outcome, message = "vague", f"exit status {stop.code}: {text[-200:]}"
            elif "\n" in text or not text.startswith(prefix):
                outcome, message = "vague", f"not one '{prefix}...' line: {text[-300:]!r}"
            elif case.names not in text:
                outcome, message = "vague", f"does not name {case.names!r}: {text}"
            else:
                outcome, message = "one-line", text
    except BaseException as exc:  # noqa: BLE001 - classifying whatever escaped is the point
        text = str(exc).strip()
        if case.is_command or not isinstance(exc, case.error):
            outcome, message = "traceback", f"{type(exc).__name__}: {text[:300]}"
        elif "\n" in text:
            outcome, message = "vague", f"several lines: {text[:300]!r}"
        elif case.names not in text:
            outcome, message = "vague", f"does not name {case.names!r}: {text[:300]}"
        else:
            outcome, message = "one-line", text
    finally:
        os.chdir(cwd)
    left = _leftovers(tmp, case.outputs)
    if left and outcome == "one-line":
        outcome, message = "partial", f"left {left}"
    return outcome, message
