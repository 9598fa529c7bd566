"""Runs one robustness case and says how its entry point took the broken input or the fault.

A case builds its own input in a fresh folder and calls one entry point: a command's ``main(argv)`` in this
process (``SystemExit`` caught, stderr captured), or a public function. Most cases give broken input and want a
refusal; fault cases (a killed run, an output folder of the user's) may want the call to succeed.

Outcomes (:data:`OUTCOMES`), the first that applies, in this order of severity:

- ``escape``: the call read or wrote inside the honeypot folder (:func:`tests.robustness.fixtures.outside`),
  created a file there, or printed the honeypot's secret token (a file's content echoed into an error);
- ``data loss``: a file that was in the case folder before the call (made by the case's ``setup`` or, for a
  command, by ``build``) is gone or changed afterwards (``Case.may_change`` lists the ones it may change);
- ``hang``: the call ran past ``Case.timeout`` seconds (a ``SIGALRM`` timer in this process; a case that drives a
  subprocess raises :class:`Hang` itself);
- ``traceback``: an exception the entry point did not turn into its error;
- ``silent``: accepted (exit 0 / no exception) where a refusal was wanted: the input was truncated, clamped or
  substituted;
- ``vague``: refused, but not like that (several lines, another status or type, the input not named), or, for a
  case that wants success, refused at all;
- ``partial``: the call behaved, but an output (``Case.outputs``) or a hidden temporary sibling is left behind;
- ``clean``: the wanted refusal (exit status 2 with one stderr line ``<prog>: error: ...`` naming the input, or
  the case's exception type with a one-line message naming it), or the wanted success.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OUTCOMES = ("clean", "vague", "traceback", "silent", "partial", "hang", "data loss", "escape")
GROUPS = ("values", "outputs", "structure", "paths", "faults", "sizes", "numeric", "hangs")
"""``values``: the first sweep (one argument value or file field broken at a time); the others are the second
sweep's classes: output folders, file structure, paths inside data files, killed runs, sizes, numeric edges,
loops that could spin."""


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


def _demo_main(argv):
    from worldmem import demo

    return demo.main(argv)


SUBCOMMANDS = ("python -m eval", "python -m data_curation")
"""Commands whose error line names the sub-command (``argv[0]``) after the program."""
COMMANDS: dict[str, tuple[Callable, str]] = {
    # entry -> (main(argv), the program its error line starts with)
    "worldmem generate": (_generate_main, "worldmem generate"),
    "python -m worldmem.demo": (_demo_main, "python -m worldmem.demo"),
    "python -m eval": (_eval_main, "python -m eval"),
    "python -m train": (_train_main, "python -m train"),
    "python -m data_curation": (_curation_main, "python -m data_curation"),
}


RECORDED: list[tuple[Case, str, str]] = []
"""(case, outcome, detail) of every case the test module ran in this process: ``make test`` prints their counts."""


class Hang(BaseException):
    """Raised by a case (or the runner's timer) when the call did not finish in time."""


class DataLoss(BaseException):
    """Raised by a case's own check when a user's file or folder was lost (e.g. after a killed run)."""


class Escape(BaseException):
    """Raised by a case's own check when a path read from data reached outside its folder."""


@dataclass(frozen=True)
class Case:
    """One broken input or fault.

    ``build(tmp, base)`` makes the input in the case's own folder ``tmp`` (``base`` holds shared valid
    originals, see :mod:`tests.robustness.fixtures`). For a command it returns the argv; for the API it makes
    the call itself. ``setup(tmp, base)``, when given, runs first and makes the user's files that must survive
    the call (for a command, everything ``build`` makes must survive too). ``names`` is text the error must
    contain (the input it names); ``outputs`` are paths under ``tmp`` that must not exist afterwards.
    ``wants`` is ``"refusal"`` (the default) or ``"success"``; ``group`` is one of :data:`GROUPS`;
    ``may_change`` lists the files (or ``"folder/"`` prefixes) that the call may change or delete (a previous
    run's output that a new run replaces).
    """

    entry: str
    name: str
    build: Callable[[Path, Path], object]
    names: str = ""
    outputs: tuple[str, ...] = ()
    error: type[BaseException] = ValueError
    group: str = "values"
    setup: Callable[[Path, Path], object] | None = None
    wants: str = "refusal"
    timeout: float = 120.0
    may_change: tuple[str, ...] = ()

    def __post_init__(self):
        assert self.group in GROUPS, self.group
        assert self.wants in ("refusal", "success"), self.wants

    @property
    def is_command(self) -> bool:
        return self.entry in COMMANDS


def _leftovers(tmp: Path, outputs: tuple[str, ...]) -> list[str]:
    """``outputs`` that exist, and every hidden temporary (``.NAME...tmp...``, ``.NAME...old``) anywhere under
    ``tmp`` (shards, checkpoints and pipelines inside output folders included)."""
    left = [o for o in outputs if (tmp / o).exists()]
    left += [str(p.relative_to(tmp)) for p in tmp.rglob(".*")
             if ".tmp" in p.name or p.name.endswith(".old")]
    return left


def _temporary(relative: Path) -> bool:
    """A writer's own temporary (``.NAME....tmp``, ``.NAME....old``, ``.tmp_NAME``), or a file inside one."""
    return any(part.startswith(".") and (".tmp" in part or part.endswith(".old")) for part in relative.parts)


def snapshot(folder: Path) -> dict[str, str]:
    """{path relative to ``folder``: sha1 of its bytes} of every file under ``folder`` (links not followed), the
    writers' temporaries left out (a killed run's temporaries are for the next run to clean)."""
    out = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and not path.is_symlink() and not _temporary(relative):
                out[str(relative)] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


class _Watch:
    """Records every file-system event (``sys.addaudithook``) that touches the honeypot while armed."""

    armed: Path | None = None
    touched: list[str] = []
    installed = False

    _EVENTS = {"open", "os.rename", "os.remove", "os.listdir", "os.scandir", "os.mkdir", "os.symlink", "os.link",
               "shutil.copyfile", "shutil.copytree", "shutil.rmtree", "os.chmod", "os.truncate", "os.unlink"}

    @classmethod
    def hook(cls, event, args):
        if cls.armed is None or event not in cls._EVENTS or not args:
            return
        for arg in args[:2]:
            if isinstance(arg, (str, bytes, os.PathLike)):
                try:
                    path = Path(os.fsdecode(arg)).absolute()
                except (TypeError, ValueError):
                    continue
                if path == cls.armed or cls.armed in path.parents or cls.armed in path.resolve().parents:
                    cls.touched.append(f"{event} {path}")

    @classmethod
    @contextlib.contextmanager
    def on(cls, honeypot: Path):
        if not cls.installed:
            sys.addaudithook(cls.hook)
            cls.installed = True
        cls.touched = []
        cls.armed = honeypot.resolve()
        try:
            yield cls.touched
        finally:
            cls.armed = None


@contextlib.contextmanager
def _timer(seconds: float):
    def alarm(signum, frame):
        raise Hang(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _refusal(case: Case, text: str, argv) -> tuple[str, str]:
    """How a command's exit status 2 and stderr ``text`` read (for a refusal)."""
    prefix = f"{COMMANDS[case.entry][1]}{' ' + argv[0] if case.entry in SUBCOMMANDS and argv else ''}: error: "
    if "\n" in text or not text.startswith(prefix):
        return "vague", f"not one '{prefix}...' line: {text[-300:]!r}"
    if case.names not in text:
        return "vague", f"does not name {case.names!r}: {text}"
    return "clean", text


def _call(case: Case, tmp: Path, base: Path, err: io.StringIO) -> tuple[str, str]:
    """(outcome, detail) of the call itself, before the file checks."""
    argv = None
    try:
        if case.is_command:
            argv = case.build(tmp, base)
            with _timer(case.timeout):
                status = COMMANDS[case.entry][0](argv)
            if status:
                return "vague", f"returned {status}"
        else:
            with _timer(case.timeout):
                case.build(tmp, base)
        return ("clean", "succeeded") if case.wants == "success" else ("silent", "accepted")
    except (Hang, DataLoss, Escape):
        raise
    except SystemExit as stop:
        text = err.getvalue().strip()
        if not case.is_command:
            return "traceback", f"SystemExit {stop.code}"
        if stop.code == 0:
            return ("clean", "exit status 0") if case.wants == "success" else ("silent", "exit status 0")
        if case.wants == "success":
            return "vague", f"refused: exit status {stop.code}: {text[-300:]}"
        if stop.code != 2:
            return "vague", f"exit status {stop.code}: {text[-200:]}"
        return _refusal(case, text, argv)
    except BaseException as exc:  # noqa: BLE001 - classifying whatever escaped is the point
        text = str(exc).strip()
        if case.is_command or not isinstance(exc, case.error):
            return "traceback", f"{type(exc).__name__}: {text[:300]}"
        if case.wants == "success":
            return "vague", f"refused: {text[:300]}"
        if "\n" in text:
            return "vague", f"several lines: {text[:300]!r}"
        if case.names not in text:
            return "vague", f"does not name {case.names!r}: {text[:300]}"
        return "clean", text


def run_case(case: Case, tmp: Path, base: Path) -> tuple[str, str]:
    """(outcome, detail) of ``case`` run in the empty folder ``tmp``."""
    from tests.robustness import fixtures as fx

    tmp.mkdir(parents=True, exist_ok=True)
    honeypot = fx.outside(base)
    _Watch.touched = []
    err, out = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp)  # anything written to a relative default lands here, where it is seen
    before = honeypot_before = {}
    try:
        if case.setup is not None:
            case.setup(tmp, base)
        if case.is_command:  # the argv's files are made by build: snapshot them just before the call
            build = case.build

            def snap_then_build(t, b):
                argv = build(t, b)
                before.update(snapshot(tmp))
                return argv
            case = _with_build(case, snap_then_build)
        else:
            before.update(snapshot(tmp))
        honeypot_before = snapshot(honeypot)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out), _Watch.on(honeypot) as touched:
            outcome, message = _call(case, tmp, base, err)
    except Hang as exc:
        outcome, message, touched = "hang", str(exc), _Watch.touched
    except DataLoss as exc:
        outcome, message, touched = "data loss", str(exc), _Watch.touched
    except Escape as exc:
        outcome, message, touched = "escape", str(exc), _Watch.touched
    finally:
        os.chdir(cwd)
    printed = err.getvalue() + out.getvalue() + message
    after = snapshot(tmp)
    lost = [p for p, digest in before.items() if after.get(p) != digest and not _may_change(case, p)]
    if touched or snapshot(honeypot) != honeypot_before or fx.SECRET in printed:
        what = touched[:2] or ["the secret token printed" if fx.SECRET in printed else "files changed"]
        return "escape", f"honeypot: {what} ({outcome}: {message[:200]})"
    if lost and outcome != "escape":
        return "data loss", f"lost or changed {lost[:4]} ({outcome}: {message[:200]})"
    if outcome != "clean":
        return outcome, message
    left = _leftovers(tmp, case.outputs)
    if left:
        return "partial", f"left {left}"
    return outcome, message


def _may_change(case: Case, path: str) -> bool:
    """``Case.may_change`` lists files, or folders as ``"name/"`` (everything under them)."""
    return any(path == m or (m.endswith("/") and path.startswith(m)) for m in case.may_change)


def _with_build(case: Case, build) -> Case:
    import dataclasses

    return dataclasses.replace(case, build=build)
