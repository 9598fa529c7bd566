"""Typed configuration of data curation (``configs/curation/*.yaml``).

One flat dataclass, loaded from YAML by :mod:`worldmem.utils.config`; unknown keys, wrong types and
out-of-range values are a one-line :class:`~worldmem.utils.config.ConfigError` naming the file and the key.
Scene units below are *normalised* units: every clip is rescaled so that the median of its valid depth is 1
(the factor is kept in each sample's ``meta["scale"]``).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from worldmem.geometry.paths import RANDOM_PATH_NAMES
from worldmem.memory.config import EpisodicConfig, MemoryConfig, SpatialConfig, WorkingConfig
from worldmem.utils.config import check, from_dict, load, require

__all__ = ["CurationConfig", "SYNTHETIC_PATH_KINDS", "load_curation_config"]

SYNTHETIC_PATH_KINDS = RANDOM_PATH_NAMES  # the path registry's random families (worldmem/geometry/paths.py)


@dataclass(frozen=True)
class CurationConfig:
    """How posed videos become training samples. Defaults fit the tiny CPU model."""

    image_size: tuple[int, int] = (64, 64)
    """(height, width) of every sample; frames are resized to cover it and centre-cropped (``K`` follows)."""
    frame_stride: int = 1
    """Keep every n-th frame of a clip (temporal subsampling of 30 fps videos)."""
    max_clip_frames: int = 0
    """Keep at most this many frames of a clip after striding (0 = all)."""
    source_frames: int = 24
    """Most frames fused into the memory before a target chunk: frames ``[t0 - source_frames, t0)``."""
    min_source_frames: int = 8
    """A target chunk starts at frame ``t0 >= min_source_frames`` (so the memory has something in it)."""
    target_frames: int = 4
    """Frames per target chunk (T)."""
    working_frames: int = 2
    """Working-window frames (W): the last W source frames, right before the target (shared with the source)."""
    max_keyframes: int = 4
    """Keyframes retrieved per sample (K) from the episodic memory of the source part."""
    keyframe_pool: int = 8
    """Capacity of the episodic memory the keyframes are retrieved from."""
    keyframe_min_overlap: float = 0.05
    """A keyframe is kept only if it adds at least this fraction of the target's visible voxels."""
    voxel_size: float = 0.02
    """TSDF voxel side in normalised units (median depth 1): ~1 pixel footprint at median depth for 64 px."""
    visibility_voxel_size: float = 0.1
    """Coarse voxel side for visibility sets (keyframe retrieval, overlap and revisit scores)."""
    render_supersample: int = 1
    """Samples per pixel side of the map's render (``SpatialConfig.render_supersample``; 1 = aliased)."""
    samples_per_clip: int = 2
    """Target chunks taken from one clip (their target frames never overlap)."""
    revisit_windows: bool = True
    """Choose target chunks by their revisit score (best first); False: evenly spaced chunks."""
    revisit_min_gap: int = 8
    """The revisit score counts what source frames at least this many frames before the target saw."""
    revisit_min_overlap: float = 0.5
    """A sample whose revisit score reaches this is flagged ``revisit`` in its meta (stats, filtering)."""
    synthetic_frames: int = 28
    """Frames per synthetic clip (source_frames + target_frames: every chunk's memory reaches frame 0)."""
    synthetic_paths: tuple[str, ...] = SYNTHETIC_PATH_KINDS
    """Camera path kinds drawn (by seed) for synthetic clips; all explore first and then revisit."""
    synthetic_dynamic_fraction: float = 0.3
    """Fraction of synthetic clips (by seed) with moving objects."""
    synthetic_fov_deg: tuple[float, float] = (60.0, 80.0)
    """Range of the horizontal field of view of synthetic cameras, degrees."""
    synthetic_supersample: int = 3
    """Synthetic frames are ray-cast at n x n rays per pixel and tent-filtered (odd n; 1 = one ray, aliased)."""
    clips_per_shard: int = 8
    """Clips per output shard (the unit of resumption and of work splitting)."""

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def height(self) -> int:
        return self.image_size[0]

    @property
    def width(self) -> int:
        return self.image_size[1]

    def memory_config(self) -> MemoryConfig:
        """The memory a sample's readout is computed with (other memory settings keep their defaults)."""
        return MemoryConfig(
            spatial=SpatialConfig(voxel_size=self.voxel_size, render_supersample=self.render_supersample),
            working=WorkingConfig(window=self.working_frames),
            episodic=EpisodicConfig(keyframe_pool=self.keyframe_pool, num_retrieved=self.max_keyframes,
                                    min_overlap=self.keyframe_min_overlap,
                                    visibility_voxel_size=self.visibility_voxel_size),
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @staticmethod
    def from_dict(d: dict | None) -> CurationConfig:
        return from_dict(CurationConfig, d)


def _validate(c: CurationConfig) -> None:
    def need(ok: bool, name: str, what: str) -> None:
        check(ok, name, what, getattr(c, name))

    need(len(c.image_size) == 2 and all(isinstance(s, int) and s >= 8 for s in c.image_size), "image_size",
         "[height, width] with both >= 8")
    require(c, ">= 1", "frame_stride", "source_frames", "target_frames", "working_frames", "keyframe_pool",
            "samples_per_clip", "synthetic_frames", "synthetic_supersample", "clips_per_shard",
            "render_supersample")
    require(c, ">= 0", "max_clip_frames", "max_keyframes", "revisit_min_gap")
    need(c.working_frames <= c.min_source_frames <= c.source_frames, "min_source_frames",
         "working_frames <= min_source_frames <= source_frames")
    need(c.synthetic_frames >= c.min_source_frames + c.target_frames, "synthetic_frames",
         "at least min_source_frames + target_frames")
    require(c, "in [0, 1]", "keyframe_min_overlap", "revisit_min_overlap", "synthetic_dynamic_fraction")
    require(c, "> 0", "voxel_size", "visibility_voxel_size")
    need(c.synthetic_supersample % 2 == 1, "synthetic_supersample", "an odd int (the centre ray gives the depth)")
    need(len(c.synthetic_paths) > 0 and all(p in SYNTHETIC_PATH_KINDS for p in c.synthetic_paths),
         "synthetic_paths", f"a non-empty list of {list(SYNTHETIC_PATH_KINDS)}")
    lo, hi = c.synthetic_fov_deg
    need(0 < lo <= hi < 170, "synthetic_fov_deg", "[min, max] with 0 < min <= max < 170")


def load_curation_config(path: str | os.PathLike | None) -> CurationConfig:
    """Reads a YAML file (None: the defaults). Errors are one line and name the file and the key."""
    return load(CurationConfig, path)
