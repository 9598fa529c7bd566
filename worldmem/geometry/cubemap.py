"""Directions on the sphere binned on a cube map: the index of what lies at infinity.

A world-space direction ``d`` falls on the face of its largest absolute coordinate (``axis``, ``sign``); the
other two coordinates divided by ``|d[axis]|`` lie in [-1, 1] and are cut into ``resolution`` bins per side.
Face ``f = 2 * axis + (sign < 0)``; a bin's flat index is ``(f * resolution + row) * resolution + col`` where
``col`` bins the first remaining coordinate and ``row`` the second (x-y-z order with ``axis`` left out).
A bin near a face's centre spans about ``90 / resolution`` degrees, one at a corner about a third of that.

Directions of pixels come from :class:`~worldmem.geometry.cameras.Cameras` (OpenCV axes, rays through pixel
centres at +0.5); ``samples`` per side places ``samples**2`` rays on a regular sub-grid of each pixel.
"""

from __future__ import annotations

import torch

from worldmem.geometry.cameras import Cameras

__all__ = ["cube_bins", "pixel_directions", "num_bins"]


def num_bins(resolution: int) -> int:
    """Number of bins of a cube map with ``resolution`` bins per face side."""
    return 6 * resolution * resolution


def cube_bins(directions: torch.Tensor, resolution: int) -> torch.Tensor:
    """Flat bin index (...) int64 in [0, 6 * resolution**2) of each direction (..., 3) (any non-zero length)."""
    a = directions.abs()
    axis = a.argmax(dim=-1)
    major = directions.gather(-1, axis[..., None])[..., 0]
    face = 2 * axis + (major < 0).long()
    # The two remaining coordinates in x-y-z order: for axis 0 (y, z), 1 (x, z), 2 (x, y).
    first = torch.where(axis == 0, directions[..., 1], directions[..., 0])
    second = torch.where(axis == 2, directions[..., 1], directions[..., 2])
    scale = major.abs().clamp_min(1e-12)

    def to_bin(c: torch.Tensor) -> torch.Tensor:
        return ((c / scale + 1.0) * (0.5 * resolution)).floor().long().clamp(0, resolution - 1)

    return (face * resolution + to_bin(second)) * resolution + to_bin(first)


def pixel_directions(cameras: Cameras, samples: int = 1) -> torch.Tensor:
    """World-space ray directions (T, H * samples, W * samples, 3) (not unit length) of cameras (T,), through
    the centres of a ``samples`` x ``samples`` sub-grid of every pixel."""
    fine = cameras if samples == 1 else cameras.resize(cameras.height * samples, cameras.width * samples)
    rays = fine.ray_directions()  # (T, h, w, 3) camera space, z = 1
    rotation = fine.world_from_cam[..., None, None, :3, :3]
    return (rotation @ rays[..., None])[..., 0]
