"""A posed RGB-D clip as the readers hand it over, and the per-clip preparation steps.

Every reader turns its on-disk format into a :class:`Clip` in our conventions (OpenCV axes,
``cam_from_world``, ``K`` in pixels with pixel centres at integer + 0.5, z-depth with 0 = unknown), already
resized and centre-cropped to the curation size. Anything wrong with the input is raised as
:class:`ClipError` with a one-line reason, which ends up in ``failures.jsonl``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from worldmem.geometry.cameras import Cameras
from worldmem.memory.units import SceneUnits

__all__ = ["Clip", "ClipError", "ClipRef", "fit_frames", "fit_depth", "fit_cameras", "normalise_scale",
           "check_clip"]


class ClipError(Exception):
    """A clip cannot be used; ``str(err)`` is a one-line reason."""

    def __init__(self, reason: str):
        reason = " ".join(str(reason).split()) or "unknown error"
        super().__init__(reason[:400])


@dataclass(frozen=True)
class ClipRef:
    """Where one clip lives: enough to load it in another process (picklable, json-able).

    Attributes:
        source: the reader kind (``synthetic``, ``realestate10k``, ...).
        clip_id: unique within the source; used in sample keys (``[A-Za-z0-9_-]`` after sanitising).
        path: the file or folder the reader loads (for synthetic: the seed as a string).
    """

    source: str
    clip_id: str
    path: str

    def to_dict(self) -> dict:
        return {"source": self.source, "clip_id": self.clip_id, "path": self.path}


@dataclass
class Clip:
    """A posed RGB-D video.

    Attributes:
        frames: (N, 3, H, W) float in [0, 1].
        depth: (N, 1, H, W) z-depth in the clip's own units (0 = unknown).
        cameras: :class:`Cameras` (N,) for H x W images.
        ref: where the clip came from.
        times: (N,) float seconds (or frame numbers) of each frame, for provenance.
        meta: json-able reader provenance (e.g. the synthetic seed and path kind); ``caption``, the clip's text,
            when its source has one (a sample stores it as ``meta["caption"]``).
    """

    frames: torch.Tensor
    depth: torch.Tensor
    cameras: Cameras
    ref: ClipRef
    times: torch.Tensor | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.frames.shape[0]


def check_clip(clip: Clip) -> Clip:
    """Raises :class:`ClipError` unless frames, depth and cameras agree in count and size and are finite."""
    n = clip.frames.shape[0]
    if clip.frames.dim() != 4 or clip.frames.shape[1] != 3:
        raise ClipError(f"frames: expected shape (N, 3, H, W), got {tuple(clip.frames.shape)}")
    h, w = clip.frames.shape[-2:]
    if tuple(clip.depth.shape) != (n, 1, h, w):
        raise ClipError(f"depth: expected shape {(n, 1, h, w)} to match the frames, got {tuple(clip.depth.shape)}")
    if tuple(clip.cameras.batch_shape) != (n,):
        raise ClipError(f"frame/camera count mismatch: {n} frames, {tuple(clip.cameras.batch_shape)} cameras")
    if (clip.cameras.height, clip.cameras.width) != (h, w):
        raise ClipError(f"cameras are for {clip.cameras.height}x{clip.cameras.width} images, frames are {h}x{w}")
    if not bool(torch.isfinite(clip.frames).all()) or not bool(torch.isfinite(clip.depth).all()):
        raise ClipError("frames or depth contain NaN or inf values")
    if bool((clip.depth < 0).any()):
        raise ClipError("depth has negative values (expected z-depth >= 0, 0 = unknown)")
    return clip


def _fit_geometry(height: int, width: int, out_h: int, out_w: int) -> tuple[int, int, int, int]:
    """Resized size (rh, rw) covering (out_h, out_w) with the aspect kept, and the centre crop's (top, left)."""
    s = max(out_h / height, out_w / width)
    rh, rw = max(out_h, round(height * s)), max(out_w, round(width * s))
    return rh, rw, (rh - out_h) // 2, (rw - out_w) // 2


def fit_frames(frames: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Resizes (N, 3, H, W) frames to cover ``size`` = (h, w) (antialiased bilinear), then centre-crops."""
    if size is None or tuple(frames.shape[-2:]) == tuple(size):
        return frames
    rh, rw, top, left = _fit_geometry(*frames.shape[-2:], *size)
    x = F.interpolate(frames.float(), size=(rh, rw), mode="bilinear", antialias=True, align_corners=False)
    return x[..., top:top + size[0], left:left + size[1]].clamp(0.0, 1.0).contiguous()


def fit_depth(depth: torch.Tensor, size: tuple[int, int] | None) -> torch.Tensor:
    """Resizes (N, 1, H, W) depth like :func:`fit_frames`, by the nearest pixel centre (never mixes depths)."""
    if size is None or tuple(depth.shape[-2:]) == tuple(size):
        return depth
    height, width = depth.shape[-2:]
    rh, rw, top, left = _fit_geometry(height, width, *size)
    rows = ((torch.arange(top, top + size[0], dtype=torch.float64) + 0.5) * height / rh).floor().long()
    cols = ((torch.arange(left, left + size[1], dtype=torch.float64) + 0.5) * width / rw).floor().long()
    return depth[..., rows.clamp(0, height - 1), :][..., cols.clamp(0, width - 1)].contiguous()


def fit_cameras(cameras: Cameras, size: tuple[int, int] | None) -> Cameras:
    """The cameras of :func:`fit_frames` output: ``resize`` to the covering size, then ``crop``."""
    if size is None or (cameras.height, cameras.width) == tuple(size):
        return cameras
    rh, rw, top, left = _fit_geometry(cameras.height, cameras.width, *size)
    return cameras.resize(rh, rw).crop(top, left, *size)


def normalise_scale(clip: Clip) -> tuple[Clip, float]:
    """Rescales the clip's world so that the median valid depth is 1.

    Returns the new clip and ``scale``, the clip's original units per normalised unit (its median depth):
    normalised = original / scale. Raises :class:`ClipError` when no pixel has depth.
    """
    valid = clip.depth[clip.depth > 0]
    if valid.numel() == 0:
        raise ClipError("depth has no valid (> 0) pixels")
    # A deterministic median of at most ~1M values (large clips are subsampled with a fixed stride).
    stride = max(1, valid.numel() // 1_000_000)
    scale = float(valid[::stride].double().median())
    if not math.isfinite(scale) or scale <= 0:
        raise ClipError(f"median depth is {scale}, expected a finite value > 0")
    units = SceneUnits(scale)
    out = Clip(frames=clip.frames, depth=units.depth_to_normalised(clip.depth),
               cameras=units.cameras_to_normalised(clip.cameras), ref=clip.ref, times=clip.times,
               meta=dict(clip.meta))
    return out, scale
