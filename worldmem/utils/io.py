"""Atomic writes: everything we save goes to a temporary name in the same folder and is renamed.

Temporary files and folders are created private (``mkstemp`` 0600, ``mkdtemp`` 0700); before the rename they
get the mode a plain ``open`` or ``mkdir`` would have given them (0666 / 0777 minus the process umask).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_json", "atomic_directory", "usual_mode", "unwritable"]


def usual_mode(path: str | os.PathLike) -> None:
    """chmod ``path`` to 0666 (files) or 0777 (folders) minus the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~umask)


def atomic_write(path: str | os.PathLike, write_fn: Callable[[str], None], suffix: str = "") -> None:
    """Calls ``write_fn(tmp_path)`` and renames ``tmp_path`` to ``path`` only if it succeeded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
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


def atomic_directory(path: str | os.PathLike, fill_fn: Callable[[Path], None]) -> None:
    """Builds a directory with ``fill_fn(tmp_dir)`` and swaps it in for ``path``.

    Readers see either the old complete directory or the new complete one; a failure leaves ``path`` as it
    was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        usual_mode(tmp)
        fill_fn(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.rmdir(old)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


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
    import json

    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: expected a readable JSON file ({err})") from err
