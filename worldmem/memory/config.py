"""Typed memory configuration: dataclasses, loaded from plain dicts / YAML, unknown keys are an error."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

__all__ = ["SpatialConfig", "WorkingConfig", "EpisodicConfig", "MemoryConfig", "config_from_dict"]


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


@dataclass(frozen=True)
class WorkingConfig:
    window: int = 4
    """Number of most recent frames kept (W)."""


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


@dataclass(frozen=True)
class MemoryConfig:
    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    working: WorkingConfig = field(default_factory=WorkingConfig)
    episodic: EpisodicConfig = field(default_factory=EpisodicConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict | None) -> MemoryConfig:
        return config_from_dict(MemoryConfig, d or {}, "memory")


def config_from_dict(cls, d: dict, where: str):
    """Builds dataclass ``cls`` from ``d``; unknown keys and wrong types raise a one-line ValueError."""
    if not isinstance(d, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(fields)}")
    kwargs = {}
    for name, value in d.items():
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(default):
            kwargs[name] = config_from_dict(type(default), value, f"{where}.{name}")
            continue
        expected = type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not expected:
            raise ValueError(f"{where}.{name}: expected {expected.__name__}, got {value!r}")
        kwargs[name] = value
    obj = cls(**kwargs)
    _validate(obj, where)
    return obj


def _validate(obj, where: str) -> None:
    positive = {
        SpatialConfig: ("voxel_size", "trunc_voxels", "max_weight", "splat_radius"),
        WorkingConfig: ("window",),
        EpisodicConfig: ("max_keyframes", "num_retrieved", "visibility_voxel_size", "pixel_stride"),
    }.get(type(obj), ())
    for name in positive:
        if getattr(obj, name) <= 0:
            raise ValueError(f"{where}.{name}: expected a positive value, got {getattr(obj, name)!r}")
    if isinstance(obj, EpisodicConfig):
        for name in ("novelty_threshold", "min_overlap"):
            if not 0.0 <= getattr(obj, name) <= 1.0:
                raise ValueError(f"{where}.{name}: expected a value in [0, 1], got {getattr(obj, name)!r}")
