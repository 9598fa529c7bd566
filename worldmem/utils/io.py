"""Atomic writes: everything we save goes to a temporary name in the same folder and is renamed.

Temporary files and folders are created private (``mkstemp`` 0600, ``mkdtemp`` 0700); before the rename they
get the mode a plain ``open`` or ``mkdir`` would have given them (0666 / 0777 minus the process umask).

Output folders (docs/outputs.md has the rules for users):

- **Only a command's own folder is replaced.** :func:`atomic_directory` (and the commands, before any work,
  through :func:`replace_problem`) refuses an existing folder that is not empty and does not hold the writer's
  *marker* file (``run.json`` for ``worldmem generate``, ``memory.json`` for a saved memory, ``results.json``
  for an eval report, ...): a wrong ``--out`` never deletes anything of the user's.
- **The swap cannot lose a folder.** The new folder is built under ``.NAME.PID-XXXX.tmp`` next to ``NAME`` and
  exchanged with the old one in one atomic ``renameat2(RENAME_EXCHANGE)`` (Linux); the old folder, now under
  the temporary name, is deleted afterwards. At every instant ``NAME`` holds the complete old or the complete
  new folder. Where the exchange is not available (another OS or file system) the old folder is first renamed
  to ``.NAME.PID-XXXX.old``; a death between the two renames leaves it there, and the next write to ``NAME`` (or
  :func:`recover`) renames it back.
- **Leftovers are cleaned.** Temporary names carry the writer's process id; the next write next to them
  deletes the ``.tmp`` files and folders of writers that are no longer running (and restores an ``.old`` folder
  as above), so a killed run leaves nothing behind for long.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["RUN_RECORD", "atomic_write", "atomic_write_json", "atomic_directory", "usual_mode", "unwritable", "replace_problem",
           "overlap_problem", "output_file_problem", "recover", "swap_in", "read_json"]


def usual_mode(path: str | os.PathLike) -> None:
    """chmod ``path`` to 0666 (files) or 0777 (folders) minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~umask)


# ---------------------------------------------------------------- temporary names and their cleaning
def _prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _stale(path: Path) -> Iterable[tuple[Path, str]]:
    """(sibling, "tmp" | "old") for each temporary sibling of ``path`` left by a writer no longer running."""
    parent = path.parent
    if not parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)-[^/]*\.(tmp|old)$")
    found = []
    for sibling in parent.iterdir():
        m = pattern.match(sibling.name)
        if m and not _alive(int(m.group(1))):
            found.append((sibling, m.group(2)))
    return found


def recover(path: str | os.PathLike) -> None:
    """Cleans up after killed writers of ``path``: a folder left under ``.NAME.PID-XXXX.old`` by a swap that was
    cut short is renamed back to ``path`` when ``path`` is missing; other temporary siblings of dead writers are
    deleted."""
    path = Path(path)
    leftovers = sorted(_stale(path), key=lambda item: item[1] != "old")  # an .old folder first: it may be restored
    for sibling, kind in leftovers:
        if kind == "old" and not path.exists():
            os.replace(sibling, path)
        elif sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)


# ---------------------------------------------------------------- files
def atomic_write(path: str | os.PathLike, write_fn: Callable[[str], None], suffix: str = "") -> None:
    """Calls ``write_fn(tmp_path)`` and renames ``tmp_path`` to ``path`` only if it succeeded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    recover(path)
    fd, tmp = tempfile.mkstemp(prefix=_prefix(path), suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        usual_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    def _write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write("\n")

    atomic_write(path, _write)


# ---------------------------------------------------------------- folders
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
EXCHANGE = True
"""Use ``renameat2(RENAME_EXCHANGE)`` where the system has it (tests set False to exercise the fallback)."""


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swaps the entries ``a`` and ``b``; False when this system or file system cannot."""
    if not EXCHANGE:
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, f"cannot swap {b} for its new version: {os.strerror(code)}", str(b))


def swap_in(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Puts the complete folder ``tmp`` (a sibling of ``path``) at ``path``, replacing what is there, such that
    ``path`` always holds the old or the new folder (see the module docstring); deletes the old one."""
    tmp, path = Path(tmp), Path(path)
    if not path.exists():
        os.replace(tmp, path)
        return
    if _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old folder
        return
    old = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".old", dir=path.parent))
    os.rmdir(old)
    os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


RUN_RECORD = "run.json"
"""The marker a command writes into its output folder: ``{"command": "worldmem generate", ...}``."""


def _recorded_command(path: Path) -> str | None:
    try:
        record = json.loads((path / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record.get("command") if isinstance(record, dict) else None


def replace_problem(path: str | os.PathLike, marker: str | Iterable[str], command: str | None = None) -> str | None:
    """Why folder ``path`` may not be written (replaced) by a writer whose folders hold ``marker`` (a file name,
    or several: any one of them), as one line starting with the path; None when it may.

    It may when it does not exist, is an empty folder, or holds the marker. A :data:`RUN_RECORD` marker counts
    only when it names ``command`` (so one command never replaces another's folder). Call it before any work;
    it first cleans up after killed writers of ``path`` (:func:`recover`)."""
    path = Path(path)
    markers = (marker,) if isinstance(marker, str) else tuple(marker)
    problem = unwritable(path)
    if problem:
        return f"{path}: {problem}"
    if path.is_symlink():
        return f"{path}: is a link; expected a new folder or one this command wrote"
    recover(path)
    if not path.is_dir() or not any(path.iterdir()):
        return None
    recorded = _recorded_command(path) if (path / RUN_RECORD).is_file() else None
    if recorded is not None and command is not None and recorded != command:
        return f"{path} holds the output of {recorded!r} ({RUN_RECORD}), not of {command!r}; choose another folder"
    if not any((path / m).is_file() and (m != RUN_RECORD or recorded == command) for m in markers):
        return (f"{path} is a non-empty folder that this command did not write (no {' or '.join(markers)}); "
                f"choose a new or empty folder")
    return None


def atomic_directory(path: str | os.PathLike, fill_fn: Callable[[Path], None],
                     marker: str | Iterable[str], command: str | None = None) -> None:
    """Builds a folder with ``fill_fn(tmp_dir)`` and swaps it in for ``path`` (:func:`swap_in`).

    Readers see either the old complete folder or the new complete one; a failure leaves ``path`` as it was.
    ``marker``: the file (or files, any one of them) that this writer's folders hold; an existing non-empty
    folder without it is not replaced (``ValueError`` naming it, before ``fill_fn`` runs); ``command`` as in
    :func:`replace_problem`.
    """
    path = Path(path)
    problem = replace_problem(path, marker, command)
    if problem:
        raise ValueError(problem)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        usual_mode(tmp)
        fill_fn(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_in(tmp, path)


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def overlap_problem(outputs: dict[str, str | os.PathLike | None],
                    inputs: dict[str, str | os.PathLike | None]) -> str | None:
    """Why these output folders cannot be written (a one-line reason naming both flags), or None: an output may
    not be, contain or lie inside another output or an input (``{flag: path or None}``; None is skipped)."""
    def real(p):
        return Path(p).resolve()

    outs = [(flag, real(p)) for flag, p in outputs.items() if p is not None]
    ins = [(flag, real(p)) for flag, p in inputs.items() if p is not None]
    for i, (flag, out) in enumerate(outs):
        for other, path in outs[i + 1:] + ins:
            if _inside(out, path) or _inside(path, out):
                how = "is" if out == path else ("is inside" if _inside(out, path) else "contains")
                return f"{flag}: {out} {how} {other} {path}; writing it would replace what {other} names"
    return None


def output_file_problem(path: str | os.PathLike, suffixes: str | Iterable[str]) -> str | None:
    """Why the output file ``path`` may not be written (one line starting with the path), or None.

    An output file is written only under its format's extension (``suffixes``, e.g. ``".png"``), so that a
    mistyped ``--out`` never replaces a document of the user's (``notes.txt``, ``thesis.tex``); it must not be a
    folder or a link, and its folder must be writable."""
    path = Path(path)
    allowed = (suffixes,) if isinstance(suffixes, str) else tuple(suffixes)
    if path.suffix.lower() not in allowed:
        return (f"{path}: expected a {' or '.join(allowed)} file name (an output file is written only under its "
                f"format's extension)")
    if path.is_symlink():
        return f"{path}: is a link; expected a file name to write"
    problem = unwritable(path, folder=False)
    return f"{path}: {problem}" if problem else None


def unwritable(path: str | os.PathLike, folder: bool = True) -> str | None:
    """Why output ``path`` (a folder, or a file when ``folder`` is False) cannot be written, or None: checked
    before any work, so that a long run does not fail at its end."""
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        return "exists and is not a folder" if folder else "is a folder, expected a file"
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable"
    return None


def read_json(path: str | os.PathLike):
    """Reads a JSON file; a missing or malformed file is a ValueError naming the path."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: expected a readable JSON file ({err})") from err
