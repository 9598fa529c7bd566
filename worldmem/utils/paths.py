"""The path rule for data files: a path read from a dataset stays inside the dataset's folder.

Dataset files name other files (a nerfstudio ``transforms.json``'s ``file_path``, a TUM list's image paths, a
curated manifest's ``shard``, a sample's key used as an output name). Such a path is resolved against the folder
that holds the dataset (its *root*), with links followed, and must land inside that root: an absolute path, a
``../`` that climbs out, or a link that points elsewhere is refused with one line naming the file field and the
root, unless the user opted in (``allow_outside=True``, e.g. ``data_curation build --allow-outside-paths``).
Errors never quote the content of the file they refuse to read. See docs/data.md, "Paths inside data files".
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["inside", "plain_name"]


def inside(root: str | os.PathLike, path: str | os.PathLike, what: str, allow_outside: bool = False,
           opt_in: str = "--allow-outside-paths") -> Path:
    """``path`` as written in a data file under ``root``, resolved (``root / path``, links followed).

    ``what`` names the field in errors (e.g. ``"transforms.json: frame 3: file_path"``). Raises ``ValueError``
    when the resolved path is not inside ``root`` and ``allow_outside`` is False; ``opt_in`` is what the error
    tells the user to pass to allow it.
    """
    text = os.fspath(path)
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ValueError(f"{what}: expected a non-empty file path, got {text!r}")
    base = Path(root).resolve()
    target = (base / text).resolve()
    if not allow_outside and target != base and base not in target.parents:
        raise ValueError(f"{what}: {text!r} points outside the dataset folder {base} (paths in a dataset stay "
                         f"inside its folder; {opt_in} allows it)")
    return target


def plain_name(name: object, what: str, max_length: int = 200) -> str:
    """``name`` (read from data) checked to be usable as one file name: no folder separators, no leading dot,
    no control characters, at most ``max_length`` characters. Raises ``ValueError`` naming ``what``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what}: expected a non-empty name, got {name!r}")
    bad = ("/" in name or "\\" in name or name.startswith(".") or len(name) > max_length
           or any(ord(c) < 32 or ord(c) == 127 for c in name))
    if bad:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise ValueError(f"{what}: {shown!r} is not a plain file name (no '/', no leading '.', no control "
                         f"characters, at most {max_length} characters)")
    return name
