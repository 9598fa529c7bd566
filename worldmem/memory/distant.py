"""What lies at infinity: the colours of pixels with unknown depth (sky, far background), kept per direction.

The TSDF map holds surfaces; a pixel whose depth is unknown (0: the sky, or a model's "far" guess capped to
unknown by the write gate) adds nothing to it, so without this layer the sky is generated afresh on every pass
and drifts with the working window, lap after lap. Seen from any camera position such a pixel looks the same way
(parallax vanishes at infinity), so its colour is stored by world-space direction on a cube map
(:mod:`worldmem.geometry.cubemap`): a running mean per bin. A read looks up every pixel's direction at
``supersample`` x ``supersample`` rays and covers the pixel when at least half of them hit a written bin.

Writes spread each pixel over ``WRITE_SAMPLES`` x ``WRITE_SAMPLES`` rays so that a written view leaves no gaps
between bins whatever the bins' size against the pixels'. Only opt in (``SpatialConfig.sky_resolution``) where
depth 0 means "far": a sensor's holes (also 0) would otherwise be remembered as sky.
"""

from __future__ import annotations

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.cubemap import cube_bins, num_bins, pixel_directions
from worldmem.memory.readout import SpatialRender

__all__ = ["DistantMemory", "WRITE_SAMPLES"]

WRITE_SAMPLES = 4
"""Rays per pixel side when a pixel is written."""


class DistantMemory:
    """A cube map of colours at infinity with ``resolution`` bins per face side (running mean per bin)."""

    def __init__(self, resolution: int):
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise ValueError(f"resolution: expected an int >= 1, got {resolution!r}")
        self.resolution = resolution
        n = num_bins(resolution)
        self.colour_sum = torch.zeros(n, 3)
        self.weight = torch.zeros(n)

    @property
    def num_bins_written(self) -> int:
        return int((self.weight > 0).sum())

    def write(self, frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras,
              mask: torch.Tensor | None = None) -> None:
        """Adds the pixels of frames (T, 3, H, W) in [0, 1] whose depth (T, 1, H, W) is 0 (and ``mask``
        (T, 1, H, W), if given, is True) to the bins their rays point at, seen from cameras (T,)."""
        keep = depth[:, 0] <= 0
        if mask is not None:
            keep = keep & mask[:, 0].bool()
        if not bool(keep.any()):
            return
        s = WRITE_SAMPLES
        dirs = pixel_directions(cameras.to(device=frames.device), s)  # (T, H*s, W*s, 3)
        t, h, w = keep.shape
        dirs = dirs.reshape(t, h, s, w, s, 3).permute(0, 1, 3, 2, 4, 5)[keep]  # (P, s, s, 3) per kept pixel
        colours = frames.permute(0, 2, 3, 1)[keep]  # (P, 3), in the same order
        bins = cube_bins(dirs, self.resolution).reshape(-1)
        self.colour_sum = self.colour_sum.to(frames.device)
        self.weight = self.weight.to(frames.device)
        self.colour_sum.index_add_(0, bins, colours.float().repeat_interleave(s * s, dim=0))
        self.weight.index_add_(0, bins, torch.ones_like(bins, dtype=self.weight.dtype))

    def render(self, cameras: Cameras, supersample: int = 1) -> SpatialRender | None:
        """The remembered colours seen from cameras (T,): rgb (T, 3, H, W) (0 where not covered), depth 0,
        mask (T, 1, H, W); None while nothing is written."""
        if not bool((self.weight > 0).any()):
            return None
        s, device = supersample, self.weight.device
        t, h, w = len(cameras), cameras.height, cameras.width
        bins = cube_bins(pixel_directions(cameras.to(device=device), s), self.resolution)
        bin_mean = self.colour_sum / self.weight.clamp_min(1e-12)[:, None]  # 0 in unwritten bins
        count = (self.weight[bins] > 0).reshape(t, h, s, w, s).sum(dim=(2, 4))
        total = bin_mean[bins].reshape(t, h, s, w, s, 3).sum(dim=(2, 4))
        mask = count * 2 >= s * s
        rgb = torch.where(mask[..., None], total / count.clamp_min(1)[..., None], torch.zeros_like(total))
        return SpatialRender(rgb=rgb.permute(0, 3, 1, 2).clamp(0.0, 1.0),
                             depth=torch.zeros(t, 1, h, w, device=device), mask=mask[:, None])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"colour_sum": self.colour_sum.clone(), "weight": self.weight.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        n = num_bins(self.resolution)
        if set(state) != {"colour_sum", "weight"}:
            raise ValueError(f"sky: expected tensors ['colour_sum', 'weight'], got {sorted(state)}")
        for name, shape in (("colour_sum", (n, 3)), ("weight", (n,))):
            value = state[name]
            if tuple(value.shape) != shape or not value.is_floating_point():
                raise ValueError(f"sky.{name}: expected a float tensor of shape {shape} (sky_resolution "
                                 f"{self.resolution}), got {tuple(value.shape)} {value.dtype}")
            if value.numel() and float(value.min()) < 0:
                raise ValueError(f"sky.{name}: expected values >= 0")
        self.colour_sum = state["colour_sum"].float().clone()
        self.weight = state["weight"].float().clone()
