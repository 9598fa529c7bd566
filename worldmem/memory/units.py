"""Scene units and the memory's normalised units: the one place where lengths change scale.

A world can come in any unit (metres, a SLAM run's arbitrary scale, a synthetic scene's units). The memory and
the model work in **normalised units**: scene units divided by the scene scale ``s``, by default the median of
the known depth of the first frames written, so that typical depth is about 1 whatever the source. Map sizes
in :class:`~worldmem.memory.config.MemoryConfig` (voxel size, truncation) are in normalised units, and so is
everything a :class:`~worldmem.memory.readout.MemoryReadout` hands to the model.

``normalised = scene / s`` for depth and camera translations; rotations and intrinsics do not change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from worldmem.geometry.cameras import Cameras

__all__ = ["SceneUnits", "median_known_depth"]


def median_known_depth(depth: torch.Tensor, name: str = "depth") -> float:
    """The median of the known (positive) values of ``depth``; raises ValueError when there are none."""
    valid = depth[depth > 0]
    if valid.numel() == 0:
        raise ValueError(f"{name}: expected some positive (known) depth to set the scene scale, got none")
    return float(valid.median())


@dataclass(frozen=True)
class SceneUnits:
    """Scene units per normalised unit (``scale``), and the conversions both ways."""

    scale: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"scene_scale: expected a finite value > 0, got {self.scale!r}")

    @classmethod
    def from_depth(cls, depth: torch.Tensor, name: str = "depth") -> SceneUnits:
        """Units in which the median known depth of ``depth`` is 1."""
        return cls(median_known_depth(depth, name))

    def depth_to_normalised(self, depth: torch.Tensor) -> torch.Tensor:
        return depth if self.scale == 1.0 else depth / self.scale

    def depth_to_scene(self, depth: torch.Tensor) -> torch.Tensor:
        return depth if self.scale == 1.0 else depth * self.scale

    def points_to_scene(self, points: torch.Tensor) -> torch.Tensor:
        return points if self.scale == 1.0 else points * self.scale

    def cameras_to_normalised(self, cameras: Cameras) -> Cameras:
        """Cameras in scene units -> normalised units (translations divided by ``scale``)."""
        return self._rescale(cameras, 1.0 / self.scale)

    def cameras_to_scene(self, cameras: Cameras) -> Cameras:
        """Cameras in normalised units -> scene units."""
        return self._rescale(cameras, self.scale)

    def _rescale(self, cameras: Cameras, factor: float) -> Cameras:
        if self.scale == 1.0:
            return cameras
        return cameras.transform_world(torch.eye(4, dtype=cameras.dtype), scale=factor)
