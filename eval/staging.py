"""Output folders and files that are never half-written, with the user's usual permissions.

``python -m eval revisit`` builds its whole output folder with :func:`worldmem.utils.io.atomic_directory` (a
temporary sibling folder, swapped into place at the end; on an error ``--out`` is left as it was).
:func:`check_replaceable` refuses an existing non-empty folder that does not hold a previous report, and an
``--out`` that is, holds or lies inside one of the inputs, so a wrong ``--out`` never deletes the user's files.
(The atomic writers give outputs the user's usual permissions.)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["REPORT_MARKER", "check_replaceable"]

REPORT_MARKER = "results.json"
"""The file every report folder holds: a folder with it may be replaced by a new report."""


def check_replaceable(out: Path, inputs: dict[str, Path | str | None] | None = None,
                      marker: str = REPORT_MARKER) -> str | None:
    """Why ``out`` may not be replaced by a new report (a one-line reason), or None when it may.

    ``inputs``: ``{flag: path}`` of what the run reads (a checkpoint, weights, a source folder); ``out`` may not
    overlap any of them."""
    from worldmem.utils.io import overlap_problem, replace_problem

    return (overlap_problem({"--out": out}, inputs or {}) if inputs else None) or replace_problem(out, marker)
