"""Tensor-level pinhole-camera math, written once: rigid inversion, intrinsics, pixel grids, projection.

:class:`~worldmem.geometry.cameras.Cameras` is built on these; code that works on raw matrices for speed (the
TSDF's per-frame loops, revisit detection over many cameras at once) calls them directly. The conventions are
those of :mod:`worldmem.geometry.cameras`: OpenCV axes, ``cam_from_world`` rigid 4x4, ``K`` in pixels,
pixel centres at integer + 0.5, z-depth.
"""

from __future__ import annotations

import math

import torch

__all__ = ["OPENGL_FROM_OPENCV", "intrinsics_from_fov", "invert_rigid", "pixel_centers", "project_points"]

# Flips y and z: maps OpenCV camera axes to OpenGL camera axes (and back; it is its own inverse).
OPENGL_FROM_OPENCV = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


def invert_rigid(m: torch.Tensor) -> torch.Tensor:
    """Inverts rigid 4x4 transforms (..., 4, 4): ``[R | t]^-1 = [R^T | -R^T t]``."""
    r = m[..., :3, :3]
    t = m[..., :3, 3:]
    rt = r.transpose(-1, -2)
    out = torch.zeros_like(m)
    out[..., :3, :3] = rt
    out[..., :3, 3:] = -rt @ t
    out[..., 3, 3] = 1.0
    return out


def intrinsics_from_fov(fov_deg: float, height: int, width: int, dtype=torch.float32) -> torch.Tensor:
    """Pinhole ``K`` (3, 3) with horizontal field of view ``fov_deg`` and the principal point at the centre."""
    if not (0.0 < fov_deg < 180.0):
        raise ValueError(f"fov_deg: expected a value in (0, 180), got {fov_deg}")
    f = 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)
    return torch.tensor([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]], dtype=dtype)


def pixel_centers(height: int, width: int, dtype, device) -> torch.Tensor:
    """Pixel centres (H, W, 2) as (u, v) = (j + 0.5, i + 0.5)."""
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device) + 0.5,
        torch.arange(width, dtype=dtype, device=device) + 0.5,
        indexing="ij",
    )
    return torch.stack([u, v], dim=-1)


def project_points(points: torch.Tensor, cam_from_world: torch.Tensor,
                   K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x_cam = R @ x_world + t``; ``u = (fx * x + s * y) / z + cx``, ``v = fy * y / z + cy``.

    Args:
        points: (..., N, 3) world points; the leading dims broadcast against the batch of the cameras (e.g.
            (N, 3) for every camera, or (T, N, 3) with T cameras).
        cam_from_world: (..., 4, 4) rigid transforms; K: (..., 3, 3) intrinsics (``s = K[0, 1]`` the skew).

    Returns:
        uv: (..., N, 2) pixel coordinates, z: (..., N) z-depth in the camera; where z <= 0 the point is
        behind the camera and its uv is not meaningful.
    """
    x_cam = points @ cam_from_world[..., :3, :3].transpose(-1, -2) + cam_from_world[..., None, :3, 3]
    z = x_cam[..., 2]
    safe_z = torch.where(z.abs() < 1e-12, torch.full_like(z, 1e-12), z)
    k = K[..., None, :, :]
    u = (k[..., 0, 0] * x_cam[..., 0] + k[..., 0, 1] * x_cam[..., 1]) / safe_z + k[..., 0, 2]
    v = k[..., 1, 1] * x_cam[..., 1] / safe_z + k[..., 1, 2]
    return torch.stack([u, v], dim=-1), z
