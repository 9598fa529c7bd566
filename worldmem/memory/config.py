"""Typed memory configuration: frozen dataclasses with range checks, built from dicts / YAML by
:mod:`worldmem.utils.config` (unknown keys, wrong types and out-of-range values are one-line errors)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from worldmem.utils.config import from_dict, require

__all__ = ["SpatialConfig", "WorkingConfig", "EpisodicConfig", "MemoryConfig"]


@dataclass(frozen=True)
class SpatialConfig:
    voxel_size: float = 0.05
    """TSDF voxel side, in scene units."""
    trunc_voxels: float = 4.0
    """Truncation band half-width, in voxels."""
    max_weight: float = 32.0
    """Cap on the per-voxel fusion weight (keeps the map able to change)."""
    carve: bool = True
    """Free-space carving: voxels later seen through lose weight, so moved objects leave no ghost."""
    carve_weight: float = 1.0
    """Weight a voxel loses per frame that sees through it."""
    min_weight: float = 1.0
    """Voxels with less fused weight are not rendered."""
    splat_radius: float = 0.75
    """Rendered point disc radius, in voxels (about half the diagonal of a voxel face)."""
    max_splat_px: int = 4
    """Largest splat radius in pixels."""
    depth_max: float = 0.0
    """Depth beyond this is not fused (0 = no limit)."""
    max_voxels: int = 0
    """Budget of live map voxels (0 = unbounded); over it the least recently used (fused or rendered) are
    evicted (:class:`~worldmem.geometry.tsdf.SparseTSDF`)."""
    render_supersample: int = 1
    """Anti-aliasing: the map is splatted at this many times the image size per side and box-filtered down
    (1 = one sample per pixel, as the first shipped models were trained)."""
    sky_resolution: int = 0
    """What lies at infinity: pixels of unknown depth (0) are also remembered by direction, on a cube map with
    this many bins per face side (:mod:`worldmem.memory.distant`), so the sky looks the same on every pass;
    0 = off. Only where depth 0 means "far" (synthetic data, the tiny model's depth channel), not sensor holes."""

    def __post_init__(self) -> None:
        require(self, "> 0", "voxel_size", "trunc_voxels", "max_weight", "carve_weight", "splat_radius")
        require(self, ">= 0", "min_weight", "depth_max", "max_voxels", "sky_resolution")
        require(self, ">= 1", "max_splat_px", "render_supersample")


@dataclass(frozen=True)
class WorkingConfig:
    window: int = 4
    """Number of most recent frames kept (W)."""

    def __post_init__(self) -> None:
        require(self, ">= 1", "window")


@dataclass(frozen=True)
class EpisodicConfig:
    max_keyframes: int = 8
    """Capacity K; when full, inserting evicts the keyframe whose removal loses the least coverage."""
    num_retrieved: int = 4
    """Keyframes returned per read (best first)."""
    novelty_threshold: float = 0.5
    """A frame becomes a keyframe when at least this fraction of its visible voxels is unseen by keyframes."""
    min_overlap: float = 0.05
    """Retrieval drops keyframes that add less than this fraction of the target's visible voxels."""
    visibility_voxel_size: float = 0.2
    """Voxel side of the coarse visibility sets used for insertion and retrieval."""
    pixel_stride: int = 2
    """Depth pixels sampled for visibility sets (every n-th row and column)."""

    def __post_init__(self) -> None:
        require(self, ">= 1", "max_keyframes", "num_retrieved", "pixel_stride")
        require(self, "> 0", "visibility_voxel_size")
        require(self, "in [0, 1]", "novelty_threshold", "min_overlap")


@dataclass(frozen=True)
class MemoryConfig:
    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    working: WorkingConfig = field(default_factory=WorkingConfig)
    episodic: EpisodicConfig = field(default_factory=EpisodicConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict | None) -> MemoryConfig:
        """The config saved as ``to_dict()`` (e.g. ``memory_config`` in a pipeline's model_index.json)."""
        return from_dict(MemoryConfig, d)
