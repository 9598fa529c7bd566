"""The path rule applied by the readers: a path read from a dataset file stays inside the clip's folder.

Each reader passes every path it reads from a dataset file (and every file it opens by listing a folder) through
:func:`data_path` before opening anything, so a refused path is never opened. See
:mod:`worldmem.utils.paths` and docs/data.md, "Paths inside data files".
"""

from __future__ import annotations

import os
from pathlib import Path

from worldmem.data.clip import ClipError
from worldmem.utils.paths import inside

__all__ = ["OutsidePathError", "data_path"]


class OutsidePathError(ClipError):
    """A clip's data file names a file outside the clip's folder (an absolute path, a ``../`` that climbs out,
    or a link that points elsewhere) and the user did not opt in (``--allow-outside-paths``)."""


def data_path(root: str | os.PathLike, path: object, what: str, allow_outside: bool = False) -> Path:
    """``path`` (as written in a data file under ``root``) resolved, links followed; :class:`OutsidePathError`
    naming ``what`` and ``root`` when it leaves ``root`` (unless ``allow_outside``), :class:`ClipError` when it
    is not a file path at all."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path) or "\x00" in os.fspath(path):
        raise ClipError(f"{what}: expected a non-empty file path (a string without NUL characters)")
    try:
        return inside(root, path, what, allow_outside=allow_outside)
    except ValueError as err:
        raise OutsidePathError(str(err)) from None
