"""Output folders and files that are never half-written, with the user's usual permissions.

``python -m eval revisit`` builds its whole output folder with :func:`worldmem.utils.io.atomic_directory` (a
temporary sibling folder, renamed into place at the end; on an error ``--out`` is left as it was).
:func:`check_replaceable` refuses an existing non-empty folder that does not hold a previous report, so a wrong
``--out`` never deletes unrelated files. (The atomic writers give outputs the user's usual permissions.)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["check_replaceable"]


def check_replaceable(out: Path, marker: str = "results.json") -> str | None:
    """Why ``out`` may not be replaced by a new report (a one-line reason), or None when it may."""
    from worldmem.utils.io import unwritable

    problem = unwritable(out)
    if problem:
        return f"{out}: {problem}"
    if out.is_dir() and any(out.iterdir()) and not (out / marker).is_file():
        return f"{out} is a non-empty folder without {marker} (not a report folder); choose a new or empty folder"
    return None
