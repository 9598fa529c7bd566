"""The metrics every part of worldmem scores with: one PSNR, the finite mean, same-pose pairs and the minimum gap.

The demo (:mod:`worldmem.demo`), training validation (``train/validate.py``), curation statistics and the
revisit benchmark (``python -m eval revisit``; :mod:`eval.metrics` adds SSIM, depth and warp metrics) all use
these, so a figure called PSNR means the same thing everywhere.

Conventions (docs/conventions.md): frames are ``(T, 3, H, W)`` float in [0, 1]; masks are ``(T, 1, H, W)``
bool (or 0/1), True = the pixel counts.

**PSNR** (:func:`psnr`) is per frame: ``10 log10(1 / MSE)`` with data range 1, the MSE over the frame's masked
pixels (all three channels), computed in float64 and capped at :data:`PSNR_MAX_DB` (identical frames would
otherwise give ``inf``, which json cannot store); a frame with an empty mask gets NaN. A figure over a whole
clip is one of two things, and says which:

- the mean over frames of the per-frame PSNR (:func:`finite_mean` of :func:`psnr`): what the benchmark reports;
- the PSNR of the clip as one image (:func:`as_one_image`: its frames side by side), i.e. the MSE pooled over
  every (masked) pixel of the clip: ``psnr(as_one_image(pred), as_one_image(target), as_one_image(mask))[0]``.
  A frame with few covered pixels then weighs little, which suits a memory render scored on covered pixels.

**Same-pose pairs** (SPMem's view recall): on a path that comes back along its own poses (frame ``T - 1 - i``
has frame ``i``'s camera; :func:`worldmem.geometry.paths.retraces`), the pairs ``(i, T - 1 - i)`` with
``i >= context`` (the earlier frame is not one of the ``context`` given frames) and a gap ``T - 1 - 2 i`` of at
least ``min_gap`` frames. :func:`default_min_gap` is the default gap: large enough that the earlier frame has left the
working window and the chunk, so only long-term memory can know it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from worldmem.utils.checks import as_float_tensor, check_finite, check_mask, check_shape

__all__ = ["PSNR_MAX_DB", "DEFAULT_MIN_GAP", "as_frames", "psnr", "as_one_image", "finite_mean",
           "default_min_gap", "same_pose_pairs", "same_pose_psnr"]

PSNR_MAX_DB = 100.0
"""The PSNR of identical frames (MSE below ``10 ** -10``)."""
_MSE_FLOOR = 10.0 ** (-PSNR_MAX_DB / 10.0)
DEFAULT_MIN_GAP = 8
"""The smallest default gap between a frame and its revisit, in frames (the tiny model keeps 2 working frames
and makes 4-frame chunks)."""


def as_frames(name: str, x, like: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` as a float tensor of shape (T, 3, H, W) (or ``like``'s shape) with finite values; a one-line
    ValueError naming ``name`` otherwise."""
    t = as_float_tensor(name, x)
    if like is None:
        check_shape(name, t, ("T", 3, "H", "W"))
    else:
        check_shape(name, t, tuple(like.shape))
    check_finite(name, t)
    return t


def psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio per frame, ``10 log10(1 / MSE)`` (data range 1), in dB.

    Args:
        pred: (T, 3, H, W) float in [0, 1].
        target: (T, 3, H, W) float in [0, 1].
        mask: optional (T, 1, H, W) bool: only these pixels (all three channels) enter the MSE.

    Returns:
        (T,) float32 PSNR, capped at :data:`PSNR_MAX_DB`; NaN for a frame whose mask is empty.
    """
    p = as_frames("pred", pred)
    t = as_frames("target", target, like=p)
    err = (p.double() - t.double()) ** 2
    if mask is None:
        mse = err.flatten(1).mean(1)
    else:
        m = check_mask("mask", mask, *p.shape[:1], *p.shape[2:]).to(err.dtype)
        count = m.flatten(1).sum(1) * p.shape[1]
        mse = (err * m).flatten(1).sum(1) / count  # 0 / 0 = NaN for an empty mask
    return (10.0 * torch.log10(1.0 / mse.clamp_min(_MSE_FLOOR))).float()


def as_one_image(x: torch.Tensor) -> torch.Tensor:
    """A clip (T, C, H, W) as one image (1, C, H, T * W), its frames side by side: :func:`psnr` of clips laid out
    so scores the MSE pooled over every (masked) pixel of the clip. Works for frames (C = 3) and masks (C = 1)."""
    if x.dim() != 4:
        raise ValueError(f"x: expected a clip of shape (T, C, H, W), got {tuple(x.shape)}")
    num, channels, height, width = x.shape
    return x.permute(1, 2, 0, 3).reshape(1, channels, height, num * width)


def finite_mean(values: Iterable) -> float | None:
    """The mean of the values that are not None and are finite (NaN and inf skipped), or None when none is."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def default_min_gap(working_window: int, chunk_size: int, same_pose: bool = True) -> int:
    """The default minimum gap G in frames: at least :data:`DEFAULT_MIN_GAP`, and more than ``working_window +
    chunk_size`` for same-pose pairs (neither the working window nor the chunk can then hold the earlier frame);
    at least ``working_window + chunk_size`` for the given-half protocol's revisits (``same_pose=False``)."""
    return max(DEFAULT_MIN_GAP, int(working_window) + int(chunk_size) + int(same_pose))


def same_pose_pairs(num_frames: int, context: int, min_gap: int) -> list[tuple[int, int]]:
    """The pairs ``(i, T - 1 - i)`` of a retracing path with ``i >= context`` and ``T - 1 - 2 i >= min_gap``."""
    return [(i, num_frames - 1 - i) for i in range(context, num_frames) if num_frames - 1 - 2 * i >= min_gap]


def same_pose_psnr(frames: torch.Tensor, pairs: list[tuple[int, int]]) -> float | None:
    """Mean over ``pairs`` (i, j) of PSNR(frame i, frame j): both frames from the same video (T, 3, H, W), the
    same camera; None for no pair."""
    if not pairs:
        return None
    i, j = zip(*pairs, strict=True)
    return finite_mean(psnr(frames[list(i)], frames[list(j)]).tolist())
