"""Spatial (long-term) memory: a persistent static 3D map fused from RGB-D frames, rendered into any view.

The map is a :class:`~worldmem.geometry.tsdf.SparseTSDF`: writes fuse only the new frames' pixels (their cost
does not grow with the video), moving things are carved away as later frames see through them, and reads
render the map's zero-level surface points with z-buffered disc splats (RGB, depth, coverage mask), optionally
supersampled and box-filtered (``render_supersample``: a z-buffer keeps one point per sample, so one sample per
pixel aliases the map's texture; four per side raise the PSNR of a map rendered back into its own views from
about 23-25 dB to 26-31 dB on the synthetic scenes). The extracted points are cached until the next write, so
several reads between writes cost one extraction. Reads are frustum-culled: the points are grouped in blocks of
``CULL_BLOCK`` voxels and only blocks that can reach the target views are splatted, so a read costs what the
views can see rather than the whole map (the result is exactly the unculled render).

With ``sky_resolution`` the memory also keeps what lies at infinity (:mod:`worldmem.memory.distant`): pixels of
unknown depth are remembered by direction and read back with :meth:`SpatialMemory.render_distant`.
"""

from __future__ import annotations

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.render import cull_points, downsample_render, point_blocks, render_points
from worldmem.geometry.tsdf import SparseTSDF
from worldmem.memory.config import SpatialConfig
from worldmem.memory.distant import DistantMemory
from worldmem.memory.readout import SpatialRender

__all__ = ["SpatialMemory", "CULL_BLOCK"]

CULL_BLOCK = 8
"""Side of the culling blocks, in voxels."""


class SpatialMemory:
    def __init__(self, config: SpatialConfig | None = None):
        self.config = config or SpatialConfig()
        c = self.config
        self.tsdf = SparseTSDF(
            voxel_size=c.voxel_size, trunc_voxels=c.trunc_voxels, max_weight=c.max_weight, carve=c.carve,
            carve_weight=c.carve_weight, depth_max=c.depth_max if c.depth_max > 0 else None,
            max_voxels=c.max_voxels or None,
        )
        self.distant = DistantMemory(c.sky_resolution) if c.sky_resolution else None
        self._cache: tuple | None = None  # points, colours, voxel of each point, culling blocks
        self._surface: tuple | None = None  # the TSDF's last surface() (points, colours, voxels, axes)

    @property
    def num_voxels(self) -> int:
        return self.tsdf.num_voxels

    def write(self, frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras,
              mask: torch.Tensor | None = None) -> None:
        """Fuses frames (T, 3, H, W) in [0, 1] with z-depth (T, 1, H, W) seen from cameras (T,).

        ``mask`` (T, 1, H, W) bool selects the pixels to fuse (e.g. to leave out known moving objects). With a
        distant layer, the selected pixels of unknown depth are remembered there by direction.
        """
        self.tsdf.integrate(frames, depth, cameras, mask=mask)
        if self.distant is not None:
            self.distant.write(frames, depth, cameras, mask)
        self._cache = None

    def points(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The map's surface points (N, 3) and colours (N, 3), cached until the next write."""
        return self._points()[:2]

    def _points(self) -> tuple:
        """(points, colours, voxels, culling blocks), brought up to date after writes (:meth:`SparseTSDF.surface`
        recomputes only the crossings next to the voxels the writes changed)."""
        if self._cache is None:
            self._surface = self.tsdf.surface(self._surface, self.config.min_weight)
            pts, cols, vox, _ = self._surface
            self._cache = (pts, cols, vox, point_blocks(pts, CULL_BLOCK * self.config.voxel_size))
        return self._cache

    def render(self, cameras: Cameras) -> SpatialRender:
        """Renders the map into cameras (T,): rgb (T, 3, H, W), depth (T, 1, H, W), mask (T, 1, H, W).

        With a voxel budget, the voxels whose surface wins a pixel count as used (the eviction order)."""
        c = self.config
        pts, cols, vox, blocks = self._points()
        s = c.render_supersample
        fine = cameras if s == 1 else cameras.resize(cameras.height * s, cameras.width * s)
        splat_px = c.max_splat_px * s
        subset = cull_points(pts, fine, splat_px, block=CULL_BLOCK * c.voxel_size, blocks=blocks)
        if subset is not None:
            pts, cols, vox = pts[subset], cols[subset], vox[subset]
        out = render_points(pts, cols, fine, radius=c.splat_radius * c.voxel_size, max_splat_px=splat_px)
        if s > 1:
            out = downsample_render(out, s)
        if self.tsdf.max_voxels is not None:
            self.tsdf.touch(vox[out.index[out.mask]])
        return SpatialRender(rgb=out.features.clamp(0.0, 1.0), depth=out.depth, mask=out.mask)

    def render_distant(self, cameras: Cameras) -> SpatialRender | None:
        """What lies at infinity seen from cameras (T,) (rgb, depth 0, mask), at the map's supersampling; None
        without a distant layer or while it is empty."""
        return None if self.distant is None else self.distant.render(cameras, self.config.render_supersample)

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = self.tsdf.state_dict()
        if self.distant is not None:
            state.update({f"sky.{k}": v for k, v in self.distant.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """A :meth:`state_dict`; one saved without a distant layer leaves this one's empty."""
        sky = {k[4:]: v for k, v in state.items() if k.startswith("sky.")}
        if sky and self.distant is None:
            raise ValueError("state: holds a distant (sky) layer but the config has sky_resolution 0")
        self.tsdf.load_state_dict({k: v for k, v in state.items() if not k.startswith("sky.")})
        if sky:
            self.distant.load_state_dict(sky)
        elif self.distant is not None:
            self.distant = DistantMemory(self.config.sky_resolution)
        self._cache = self._surface = None
