"""Readers of posed-video formats, by name. Each turns one clip of its format into a :class:`Clip`.

A reader is two functions: ``list_clips(path) -> list[ClipRef]`` (deterministic order; a bad ``path`` is a
``ValueError`` for the whole source) and ``load_clip(ref, config, depth_dir, allow_outside=False) -> Clip``
(anything wrong with one clip is a :class:`ClipError` with a one-line reason). The on-disk layouts are in each
module's docstring and in docs/data.md.

Paths read from a dataset file (a ``file_path``, a TUM list's file names, a linked ``.npz`` or frames folder)
stay inside the clip's folder, links followed: anything else is an :class:`OutsidePathError` (a
:class:`ClipError`) raised before the file is opened, unless ``allow_outside`` (the user's opt-in,
``data_curation build --allow-outside-paths``). See :mod:`worldmem.utils.paths`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from worldmem.data.readers import megasam, nerfstudio, realestate10k, synthetic, tum
from worldmem.data.readers._paths import OutsidePathError

__all__ = ["READERS", "ReaderSpec", "parse_source", "OutsidePathError"]


@dataclass(frozen=True)
class ReaderSpec:
    kind: str
    list_clips: Callable
    load_clip: Callable
    has_depth: bool
    """False: depth comes from ``--depth-dir`` (``<clip_id>.npy``) or the clip is reported unusable."""


READERS: dict[str, ReaderSpec] = {
    "synthetic": ReaderSpec("synthetic", synthetic.list_clips, synthetic.load_clip, True),
    "realestate10k": ReaderSpec("realestate10k", realestate10k.list_clips, realestate10k.load_clip, False),
    "nerfstudio": ReaderSpec("nerfstudio", nerfstudio.list_clips, nerfstudio.load_clip, True),
    "tum": ReaderSpec("tum", tum.list_clips, tum.load_clip, True),
    "megasam": ReaderSpec("megasam", megasam.list_clips, megasam.load_clip, True),
}


def parse_source(spec: str) -> tuple[str, str]:
    """``"KIND:PATH"`` -> (kind, path); a one-line ``ValueError`` lists the valid kinds."""
    kind, sep, path = str(spec).partition(":")
    if not sep or not path:
        raise ValueError(f"source {spec!r}: expected KIND:PATH with KIND one of {', '.join(READERS)}")
    if kind not in READERS:
        raise ValueError(f"source {spec!r}: unknown kind {kind!r}; expected one of {', '.join(READERS)}")
    return kind, path
