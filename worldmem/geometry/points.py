"""Point-set helpers: voxel keys for visibility sets, depth-to-points, and PLY output.

Visibility sets are sorted int64 voxel keys, packed by :func:`~worldmem.geometry.voxel_keys.point_keys` (the
TSDF's keys), which makes set operations (``torch.isin``, ``torch.unique``) cheap.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.voxel_keys import point_keys
from worldmem.utils.io import atomic_write

__all__ = ["visible_voxel_keys", "depth_to_points", "write_ply"]


def depth_to_points(depth: torch.Tensor, cameras: Cameras, colors: torch.Tensor | None = None,
                    stride: int = 1) -> tuple[torch.Tensor, torch.Tensor | None]:
    """World points (N, 3) of the valid (depth > 0) pixels of (T, 1, H, W) depth maps, every ``stride``-th
    pixel, with their (N, C) colours when ``colors`` (T, C, H, W) is given."""
    pts = cameras.unproject(depth)  # (T, H, W, 3)
    valid = depth[:, 0] > 0
    if stride > 1:
        pts = pts[:, ::stride, ::stride]
        valid = valid[:, ::stride, ::stride]
    out = pts[valid]
    cols = None
    if colors is not None:
        c = colors.permute(0, 2, 3, 1)
        if stride > 1:
            c = c[:, ::stride, ::stride]
        cols = c[valid]
    return out, cols


def visible_voxel_keys(depth: torch.Tensor, cameras: Cameras, voxel_size: float, stride: int = 1) -> torch.Tensor:
    """Sorted unique keys of the voxels seen by the valid pixels of depth maps (T, 1, H, W)."""
    pts, _ = depth_to_points(depth, cameras, stride=stride)
    if pts.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64)
    return torch.unique(point_keys(pts, voxel_size))


def write_ply(path: str | os.PathLike, points: torch.Tensor, colors: torch.Tensor | None = None) -> None:
    """Writes a binary little-endian PLY point cloud (colours in [0, 1] stored as uchar), atomically."""
    pts = points.detach().cpu().to(torch.float32).numpy()
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points: expected shape (N, 3), got {tuple(pts.shape)}")
    n = pts.shape[0]
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        cols = colors.detach().cpu().to(torch.float32).numpy()
        if cols.shape != (n, 3):
            raise ValueError(f"colors: expected shape ({n}, 3), got {tuple(cols.shape)}")
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    data = np.empty(n, dtype=fields)
    data["x"], data["y"], data["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    if colors is not None:
        c8 = np.clip(np.round(cols * 255.0), 0, 255).astype(np.uint8)
        data["red"], data["green"], data["blue"] = c8[:, 0], c8[:, 1], c8[:, 2]
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property float {name}" for name in ("x", "y", "z")]
    if colors is not None:
        header += [f"property uchar {name}" for name in ("red", "green", "blue")]
    header.append("end_header")

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(("\n".join(header) + "\n").encode("ascii"))
            f.write(data.tobytes())

    atomic_write(path, _write)
