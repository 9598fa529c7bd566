"""Camera geometry, trajectories, point rendering and the sparse-voxel TSDF.

Conventions: OpenCV camera axes, ``cam_from_world`` extrinsics, ``K`` in pixels with pixel centres at
integer + 0.5, z-depth (0 = unknown). See :mod:`worldmem.geometry.cameras` and docs/conventions.md.
"""

from worldmem.geometry.cameras import Cameras, intrinsics_from_fov, invert_rigid

__all__ = ["Cameras", "intrinsics_from_fov", "invert_rigid"]
