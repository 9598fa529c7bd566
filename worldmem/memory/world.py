"""WorldMemory: the one place that knows all three memories.

``write`` sends new frames to the spatial map (TSDF fusion), the working window and the episodic keyframes;
``read`` renders the map along the target cameras, takes the working window, and retrieves the keyframes that
co-see what the targets see (the targets' visible voxels come from the map's rendered depth). ``save`` /
``load`` store the complete state as ``memory.safetensors`` + ``memory.json`` in a folder, written atomically;
a round trip is exact (the same reads, and the same behaviour under further writes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from worldmem.geometry.cameras import Cameras
from worldmem.memory.config import MemoryConfig
from worldmem.memory.episodic import EpisodicMemory
from worldmem.memory.readout import MemoryReadout
from worldmem.memory.spatial import SpatialMemory
from worldmem.memory.working import WorkingMemory
from worldmem.utils.checks import check_depth, check_images, check_mask
from worldmem.utils.io import atomic_directory

__all__ = ["WorldMemory"]

FORMAT_VERSION = 1


class WorldMemory:
    """Spatial + working + episodic memory for one generated (or observed) world.

    Args:
        config: sizes and thresholds of the three memories (:class:`MemoryConfig`); defaults when None.
    """

    def __init__(self, config: MemoryConfig | dict | None = None):
        if isinstance(config, dict):
            config = MemoryConfig.from_dict(config)
        self.config = config or MemoryConfig()
        self.spatial = SpatialMemory(self.config.spatial)
        self.working = WorkingMemory(self.config.working)
        self.episodic = EpisodicMemory(self.config.episodic)
        self.num_frames = 0
        self.image_size: tuple[int, int] | None = None
        # Scene units per memory unit: writers that normalise a scene (e.g. the pipeline, to median depth 1)
        # record the factor here so a resumed rollout uses the same one. The memory itself never applies it.
        self.scene_scale = 1.0

    def __repr__(self) -> str:
        return (f"WorldMemory(frames={self.num_frames}, voxels={self.spatial.num_voxels}, "
                f"working={len(self.working)}, keyframes={len(self.episodic)})")

    # ------------------------------------------------------------------ scene units
    def set_scene_scale(self, depth: torch.Tensor) -> float:
        """Sets ``scene_scale`` to the median of the known (positive) ``depth``, so that depth / scene_scale has
        median 1 (the pipeline's and the training data's normalisation); returns it."""
        valid = depth[depth > 0]
        if valid.numel() == 0:
            raise ValueError("depth: expected some positive (known) depth to set the scene scale, got none")
        self.scene_scale = float(valid.median())
        return self.scene_scale

    def to_memory_units(self, cameras: Cameras) -> Cameras:
        """Cameras in scene units -> memory units (translations divided by ``scene_scale``)."""
        if self.scene_scale == 1.0:
            return cameras
        return cameras.transform_world(torch.eye(4, dtype=cameras.dtype), scale=1.0 / self.scene_scale)

    def to_scene_units(self, cameras: Cameras) -> Cameras:
        """Cameras in memory units -> scene units."""
        if self.scene_scale == 1.0:
            return cameras
        return cameras.transform_world(torch.eye(4, dtype=cameras.dtype), scale=self.scene_scale)

    # ------------------------------------------------------------------ write / read
    def _check_cameras(self, name: str, cameras, count: int | None) -> Cameras:
        if not isinstance(cameras, Cameras):
            raise ValueError(f"{name}: expected a Cameras instance, got {type(cameras).__name__}")
        if len(cameras.batch_shape) != 1:
            raise ValueError(f"{name}: expected batch shape (T,), got {tuple(cameras.batch_shape)}")
        if count is not None and len(cameras) != count:
            raise ValueError(f"{name}: expected {count} cameras (one per frame), got {len(cameras)}")
        if self.image_size is not None and (cameras.height, cameras.width) != self.image_size:
            raise ValueError(
                f"{name}: expected image size {self.image_size} (the memory's), got {(cameras.height, cameras.width)}"
            )
        return cameras

    def write(self, frames, depth, cameras: Cameras, mask=None) -> None:
        """Writes new frames into all three memories.

        Args:
            frames: (T, 3, H, W) float in [0, 1].
            depth: (T, 1, H, W) z-depth in scene units, 0 = unknown.
            cameras: :class:`Cameras` (T,) for images of H x W.
            mask: optional (T, 1, H, W) bool; False pixels are not fused into the spatial map (they still count
                for the working window and keyframes).
        """
        frames = check_images("frames", frames, *(self.image_size or (None, None)))
        t, _, h, w = frames.shape
        depth = check_depth("depth", depth, t, h, w)
        cameras = self._check_cameras("cameras", cameras, t)
        if (cameras.height, cameras.width) != (h, w):
            raise ValueError(f"cameras: expected image size {(h, w)} to match frames, got {(cameras.height, cameras.width)}")
        if mask is not None:
            mask = check_mask("mask", mask, t, h, w)
        if t == 0:
            return
        self.image_size = (h, w)
        indices = torch.arange(self.num_frames, self.num_frames + t, dtype=torch.int64)
        self.spatial.write(frames, depth, cameras, mask)
        self.working.write(frames, depth, cameras, indices)
        self.episodic.write(frames, depth, cameras, indices)
        self.num_frames += t

    def read(self, target_cameras: Cameras, use_spatial: bool = True, use_working: bool = True,
             use_episodic: bool = True) -> MemoryReadout:
        """Reads the memories for the frames about to be generated at ``target_cameras`` (T,).

        Returns:
            :class:`MemoryReadout`; a path switched off (or empty) is None.
        """
        cams = self._check_cameras("target_cameras", target_cameras, None)
        spatial = None
        if use_spatial or use_episodic:
            spatial = self.spatial.render(cams)
        keyframes = None
        if use_episodic and len(self.episodic):
            target_keys = self.episodic.visibility(spatial.depth, cams)
            keyframes = self.episodic.retrieve(target_keys)
        working = self.working.read() if use_working else None
        return MemoryReadout(target_cameras=cams, spatial=spatial if use_spatial else None, working=working,
                             keyframes=keyframes)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {}
        for prefix, part in (("spatial", self.spatial), ("working", self.working), ("episodic", self.episodic)):
            for k, v in part.state_dict().items():
                state[f"{prefix}.{k}"] = v.contiguous()
        return state

    def save(self, path: str | os.PathLike) -> None:
        """Saves the state to folder ``path`` (``memory.safetensors`` + ``memory.json``), atomically."""
        state = self.state_dict()
        meta = {
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "num_frames": self.num_frames,
            "image_size": list(self.image_size) if self.image_size else None,
            "scene_scale": self.scene_scale,
        }

        def fill(tmp: Path) -> None:
            save_file(state, str(tmp / "memory.safetensors"))
            with open(tmp / "memory.json", "w") as f:
                json.dump(meta, f, indent=2)
                f.write("\n")

        atomic_directory(path, fill)

    @classmethod
    def load(cls, path: str | os.PathLike) -> WorldMemory:
        """Loads a folder written by :meth:`save`."""
        path = Path(path)
        meta_file, tensor_file = path / "memory.json", path / "memory.safetensors"
        if not meta_file.is_file() or not tensor_file.is_file():
            raise ValueError(f"path: expected a saved memory folder with memory.json and memory.safetensors, got {path}")
        with open(meta_file) as f:
            meta = json.load(f)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"path: memory format_version {meta.get('format_version')!r} is not {FORMAT_VERSION}")
        memory = cls(MemoryConfig.from_dict(meta["config"]))
        state = load_file(str(tensor_file))
        memory.num_frames = int(meta["num_frames"])
        memory.image_size = tuple(meta["image_size"]) if meta["image_size"] else None
        memory.scene_scale = float(meta.get("scene_scale", 1.0))

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}

        memory.spatial.load_state_dict(part("spatial"))
        if memory.image_size is not None:
            memory.working.load_state_dict(part("working"), *memory.image_size)
            memory.episodic.load_state_dict(part("episodic"), *memory.image_size)
        return memory
