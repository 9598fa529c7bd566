"""Camera geometry, trajectories, point rendering and the sparse-voxel TSDF.

Conventions: OpenCV camera axes, ``cam_from_world`` extrinsics, ``K`` in pixels with pixel centres at
integer + 0.5, z-depth (0 = unknown). See :mod:`worldmem.geometry.cameras` and docs/conventions.md.
"""

from worldmem.geometry import trajectories
from worldmem.geometry.cameras import Cameras, intrinsics_from_fov, invert_rigid
from worldmem.geometry.render import RenderedPoints, available_backends, render_points
from worldmem.geometry.tsdf import SparseTSDF

__all__ = [
    "Cameras",
    "RenderedPoints",
    "SparseTSDF",
    "available_backends",
    "intrinsics_from_fov",
    "invert_rigid",
    "render_points",
    "trajectories",
]
