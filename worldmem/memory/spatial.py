"""Spatial (long-term) memory: a persistent static 3D map fused from RGB-D frames, rendered into any view.

The map is a :class:`~worldmem.geometry.tsdf.SparseTSDF`: writes fuse only the new frames' pixels (their cost
does not grow with the video), moving things are carved away as later frames see through them, and reads
render the map's zero-level surface points with z-buffered disc splats (RGB, depth, coverage mask). The
extracted points are cached until the next write, so several reads between writes cost one extraction.
"""

from __future__ import annotations

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.render import render_points
from worldmem.geometry.tsdf import SparseTSDF
from worldmem.memory.config import SpatialConfig
from worldmem.memory.readout import SpatialRender

__all__ = ["SpatialMemory"]


class SpatialMemory:
    def __init__(self, config: SpatialConfig | None = None):
        self.config = config or SpatialConfig()
        c = self.config
        self.tsdf = SparseTSDF(
            voxel_size=c.voxel_size, trunc_voxels=c.trunc_voxels, max_weight=c.max_weight, carve=c.carve,
            carve_weight=c.carve_weight, depth_max=c.depth_max if c.depth_max > 0 else None,
        )
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def num_voxels(self) -> int:
        return self.tsdf.num_voxels

    def write(self, frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras,
              mask: torch.Tensor | None = None) -> None:
        """Fuses frames (T, 3, H, W) in [0, 1] with z-depth (T, 1, H, W) seen from cameras (T,).

        ``mask`` (T, 1, H, W) bool selects the pixels to fuse (e.g. to leave out known moving objects).
        """
        self.tsdf.integrate(frames, depth, cameras, mask=mask)
        self._cache = None

    def points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The map's surface points (N, 3) and colours (N, 3), cached until the next write."""
        if self._cache is None:
            self._cache = self.tsdf.extract_points(min_weight=self.config.min_weight)
        return self._cache

    def render(self, cameras: Cameras) -> SpatialRender:
        """Renders the map into cameras (T,): rgb (T, 3, H, W), depth (T, 1, H, W), mask (T, 1, H, W)."""
        pts, cols = self.points()
        out = render_points(pts, cols, cameras, radius=self.config.splat_radius * self.config.voxel_size,
                            max_splat_px=self.config.max_splat_px)
        return SpatialRender(rgb=out.features.clamp(0.0, 1.0), depth=out.depth, mask=out.mask)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.tsdf.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.tsdf.load_state_dict(state)
        self._cache = None
