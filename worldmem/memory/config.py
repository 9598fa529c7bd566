"""Typed memory configuration: frozen dataclasses with range checks, built from dicts / YAML by
:mod:`worldmem.utils.config` (unknown keys, wrong types and out-of-range values are one-line errors)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from worldmem.utils.config import check, from_dict, require

__all__ = ["SpatialConfig", "WorkingConfig", "EpisodicConfig", "MemoryConfig", "DEFAULT_MAX_VOXELS", "MAX_FRAMES_KEPT",
           "MAX_SKY_RESOLUTION", "MAX_SUPERSAMPLE", "MAX_SPLAT_PX"]

DEFAULT_MAX_VOXELS = 2_000_000
"""The map's default voxel budget: about 8 times the largest map a shipped configuration reaches (the tiny model's
loop, 246-259 k voxels by lap 10-20, docs/memory.md), so none of them ever evicts; about 44 bytes a voxel (arrays
and index), so at most ~90 MB of map (~180 MB while the arrays double). A noisy write-back (a random model) would
otherwise grow the map with every chunk."""
MAX_FRAMES_KEPT = 1024
"""Upper bound of ``working.window`` and ``episodic.keyframe_pool`` (frames held in memory at full size)."""
MAX_SKY_RESOLUTION = 1024
"""Upper bound of ``spatial.sky_resolution`` (6 x 1024**2 bins, 96 MB)."""
MAX_SUPERSAMPLE = 8
"""Upper bound of ``spatial.render_supersample`` (the map is splatted at 64 samples per pixel at most)."""
MAX_SPLAT_PX = 64
"""Upper bound of ``spatial.max_splat_px`` times ``render_supersample`` (the splat loop visits (2r + 1)**2
offsets; :func:`~worldmem.geometry.render.render_points` has the same bound)."""


def _at_most(obj, bound: int, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        check(value <= bound, name, f"a value <= {bound}", value)


@dataclass(frozen=True)
class SpatialConfig:
    voxel_size: float = 0.05
    """TSDF voxel side, in the memory's normalised units (scene units divided by the scene scale, by default the
    median known depth of the first write, so typical depth is about 1: :mod:`worldmem.memory.units`)."""
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
    """Depth beyond this (normalised units, as ``voxel_size``) is not fused (0 = no limit)."""
    max_voxels: int = DEFAULT_MAX_VOXELS
    """Budget of live map voxels (default :data:`DEFAULT_MAX_VOXELS`; 0 = unbounded, an explicit opt-out); over
    it the least recently used (fused or rendered) are evicted down to 90 % of it
    (:class:`~worldmem.geometry.tsdf.SparseTSDF`)."""
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
        _at_most(self, MAX_SKY_RESOLUTION, "sky_resolution")
        _at_most(self, MAX_SUPERSAMPLE, "render_supersample")
        check(self.max_splat_px * self.render_supersample <= MAX_SPLAT_PX, "max_splat_px",
              f"a value <= {MAX_SPLAT_PX} // render_supersample ({self.render_supersample})", self.max_splat_px)


@dataclass(frozen=True)
class WorkingConfig:
    window: int = 4
    """Number of most recent frames kept (W)."""

    def __post_init__(self) -> None:
        require(self, ">= 1", "window")
        _at_most(self, MAX_FRAMES_KEPT, "window")


@dataclass(frozen=True)
class EpisodicConfig:
    RENAMED_KEYS: ClassVar[dict[str, str]] = {"max_keyframes": "keyframe_pool"}
    """Saved memories and pipelines written before the capacity's rename name it ``max_keyframes``."""

    keyframe_pool: int = 8
    """Capacity: the most keyframes held; when full, inserting evicts the keyframe whose removal loses the least
    coverage (the same name and meaning as ``CurationConfig.keyframe_pool``)."""
    num_retrieved: int = 4
    """Keyframes returned per read (best first): the K the model reads (``CurationConfig.max_keyframes`` for
    training samples)."""
    novelty_threshold: float = 0.5
    """A frame becomes a keyframe when at least this fraction of its visible voxels is unseen by keyframes."""
    min_overlap: float = 0.05
    """Retrieval drops keyframes that add less than this fraction of the target's visible voxels."""
    visibility_voxel_size: float = 0.2
    """Voxel side of the coarse visibility sets used for insertion and retrieval (normalised units, as
    ``spatial.voxel_size``)."""
    pixel_stride: int = 2
    """Depth pixels sampled for visibility sets (every n-th row and column)."""

    def __post_init__(self) -> None:
        require(self, ">= 1", "keyframe_pool", "num_retrieved", "pixel_stride")
        _at_most(self, MAX_FRAMES_KEPT, "keyframe_pool")
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
