"""``--depth-estimator KIND:PATH``: depth for RGB-only clips from a monocular model, fitted to the clip's cameras.

For a clip whose reader has no depth (RealEstate10K, nerfstudio without depth files), the estimator runs on the
clip's frames (``batch_size`` at a time, in the process that curates the clip; loaded once per process) and
:func:`worldmem.data.depth_fit.fit_depth_affine` fits its output's scale and shift to the clip's cameras. A clip
whose fit is unreliable (too little parallax, too few matches, a large residual, non-positive depth) fails with
the fit's reason, as any other clip defect does (``failures.jsonl``); depth is never guessed.

The estimator is described by a json-able entry that goes into the plan (``plan.json`` and its hash), so a rerun
with another estimator, output kind or batch size is refused like any other change of the plan::

    {"kind": "transformers", "path": "/abs/folder", "output": "disparity", "batch_size": 8}
"""

from __future__ import annotations

import os
from collections.abc import Callable

from worldmem.data.clip import Clip, ClipError
from worldmem.data.depth_fit import fit_depth_affine
from worldmem.models.depth import TransformersDepthEstimator

__all__ = ["ESTIMATORS", "estimator_entry", "load_estimator", "estimate_clip_depth"]


def _transformers(path: str, output: str, batch_size: int) -> TransformersDepthEstimator:
    return TransformersDepthEstimator(path, output=output, batch_size=batch_size)


ESTIMATORS: dict[str, Callable] = {"transformers": _transformers}
"""Estimator kinds: ``loader(path, output, batch_size)`` -> an object with ``.output`` ("depth" or
"disparity") and ``.predict(frames (T, 3, H, W)) -> (T, 1, H, W)``."""

_LOADED: dict[tuple, object] = {}  # this process's estimators, by (kind, path, output, batch_size)


def estimator_entry(spec: str, output: str = "auto", batch_size: int = 8) -> dict:
    """Parses ``KIND:PATH``, loads the estimator once (so a broken folder fails before any work) and returns
    its plan entry; a one-line ``ValueError`` starting with ``--depth-estimator SPEC:`` otherwise."""
    kind, sep, path = str(spec).partition(":")
    prefix = f"--depth-estimator {spec}"
    if not sep or not path or kind not in ESTIMATORS:
        raise ValueError(f"{prefix}: expected KIND:PATH with KIND one of {', '.join(ESTIMATORS)}")
    if output not in ("auto", "depth", "disparity"):
        raise ValueError(f"--depth-output: expected auto, depth or disparity, got {output!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"--depth-batch-size: expected an int >= 1, got {batch_size!r}")
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"{prefix}: not a folder")
    try:
        estimator = ESTIMATORS[kind](path, output, batch_size)
    except (OSError, ValueError, ImportError) as err:
        raise ValueError(f"{prefix}: {' '.join(str(err).split())}") from None
    entry = {"kind": kind, "path": path, "output": estimator.output, "batch_size": batch_size}
    _LOADED[_key(entry)] = estimator
    return entry


def _key(entry: dict) -> tuple:
    return entry["kind"], entry["path"], entry["output"], entry["batch_size"]


def load_estimator(entry: dict):
    """The estimator of a plan entry, loaded once per process."""
    key = _key(entry)
    if key not in _LOADED:
        _LOADED[key] = ESTIMATORS[entry["kind"]](entry["path"], entry["output"], entry["batch_size"])
    return _LOADED[key]


def estimate_clip_depth(clip: Clip, entry: dict) -> Clip:
    """The clip with the estimator's depth, fitted to its cameras; ``ClipError`` with the fit's reason when the
    cameras do not determine the fit. The fit's numbers go into ``clip.meta["depth_fit"]``."""
    estimator = load_estimator(entry)
    output = estimator.predict(clip.frames.float())
    if tuple(output.shape) != (len(clip), 1, *clip.frames.shape[-2:]):
        raise ClipError(f"depth estimator: expected output {(len(clip), 1, *clip.frames.shape[-2:])}, "
                        f"got {tuple(output.shape)}")
    fit = fit_depth_affine(output, clip.frames.float(), clip.cameras, estimator.output)
    if not fit.reliable:
        raise ClipError(f"estimated depth unusable: {fit.reason}")
    meta = dict(clip.meta) | {"depth_fit": fit.to_dict() | {"estimator": entry["path"]}}
    return Clip(frames=clip.frames, depth=fit.apply(output).float(), cameras=clip.cameras, ref=clip.ref,
                times=clip.times, meta=meta)
