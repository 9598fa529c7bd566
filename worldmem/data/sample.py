"""One training sample: a target chunk and the memory readout a generator would get for it.

On disk a sample is two files (the members of a shard that share its key):

- ``sample.safetensors``: tensors named ``<group>.<field>`` with groups ``target``, ``working``,
  ``keyframes`` (absent when no keyframe qualified) and ``spatial``. Frame groups hold ``frames`` (N, 3, H, W)
  uint8, ``depth`` (N, 1, H, W) float32, ``cam_from_world`` (N, 4, 4) float32, ``K`` (N, 3, 3) float32,
  ``indices`` (N,) int64 and, for keyframes, ``scores`` (N,) float32; ``spatial`` holds ``rgb`` (T, 3, H, W)
  uint8, ``depth`` (T, 1, H, W) float32 and ``mask`` (T, 1, H, W) bool; optionally ``text.embedding``
  (L, D), the T5 embedding of the clip's caption (``meta["caption"]``; docs/prompts.md) in the encoder's dtype.
- ``meta.json``: ``format_version``, ``height``, ``width`` and the provenance and statistics (see
  docs/data.md).

Images are stored as uint8 (``round(x * 255)``); curation quantises them before a sample is made, so
``from_bytes(to_bytes(s))`` equals ``s`` exactly. No pickle anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from safetensors.torch import load, save

from worldmem.geometry.cameras import Cameras
from worldmem.memory.readout import FrameSet, MemoryReadout, SpatialRender

__all__ = ["TrainingSample", "SAMPLE_FORMAT_VERSION", "quantize_images"]

SAMPLE_FORMAT_VERSION = 1
_FRAME_GROUPS = ("target", "working", "keyframes")


def quantize_images(x: torch.Tensor) -> torch.Tensor:
    """Rounds images in [0, 1] to the uint8 grid (what a sample stores), keeping float32."""
    return (x.clamp(0.0, 1.0) * 255.0).round() / 255.0


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


@dataclass
class TrainingSample:
    """A target chunk with its memory readout.

    Attributes:
        target: T target frames: ``frames`` (T, 3, H, W) in [0, 1], ``depth`` (T, 1, H, W) normalised z-depth,
            ``cameras`` (T,), ``indices`` (T,) int64 frame indices in the clip.
        readout: ``target_cameras`` == ``target.cameras``; ``spatial`` the source part's TSDF rendered along
            them (T,); ``working`` the W frames right before the target; ``keyframes`` up to K retrieved
            keyframes (best first, ``scores`` set) or None.
        meta: json-able provenance and statistics (source, clip_id, frame indices, scale, coverage, ...);
            ``caption`` when the clip has one.
        text_embedding: (L, D) the caption's prompt embedding (curated with a text encoder), or None.
    """

    target: FrameSet
    readout: MemoryReadout
    meta: dict
    text_embedding: torch.Tensor | None = None

    @property
    def caption(self) -> str | None:
        """The clip's caption, or None."""
        return self.meta.get("caption")

    @property
    def key(self) -> str:
        return self.meta["key"]

    def to_bytes(self) -> dict[str, bytes]:
        """``{"sample.safetensors": ..., "meta.json": ...}``."""
        tensors: dict[str, torch.Tensor] = {}
        for name, fs in (("target", self.target), ("working", self.readout.working),
                         ("keyframes", self.readout.keyframes)):
            if fs is None:
                if name != "keyframes":
                    raise ValueError(f"sample: {name} frames are required")
                continue
            tensors[f"{name}.frames"] = _to_uint8(fs.frames)
            tensors[f"{name}.depth"] = fs.depth.float()
            tensors[f"{name}.cam_from_world"] = fs.cameras.cam_from_world.float()
            tensors[f"{name}.K"] = fs.cameras.K.float()
            tensors[f"{name}.indices"] = fs.indices.to(torch.int64)
            if fs.scores is not None:
                tensors[f"{name}.scores"] = fs.scores.float()
        sp = self.readout.spatial
        if sp is None:
            raise ValueError("sample: the spatial render is required")
        tensors["spatial.rgb"] = _to_uint8(sp.rgb)
        tensors["spatial.depth"] = sp.depth.float()
        tensors["spatial.mask"] = sp.mask.bool()
        if self.text_embedding is not None:
            tensors["text.embedding"] = self.text_embedding
        h, w = self.target.frames.shape[-2:]
        meta = {**self.meta, "format_version": SAMPLE_FORMAT_VERSION, "height": int(h), "width": int(w)}
        return {
            "sample.safetensors": save({k: v.contiguous() for k, v in tensors.items()}),
            "meta.json": (json.dumps(meta, sort_keys=True, separators=(",", ":")) + "\n").encode(),
        }

    @classmethod
    def from_bytes(cls, files: dict[str, bytes]) -> TrainingSample:
        for name in ("sample.safetensors", "meta.json"):
            if name not in files:
                raise ValueError(f"sample: missing member {name!r} (got {sorted(files)})")
        meta = json.loads(files["meta.json"])
        if meta.get("format_version") != SAMPLE_FORMAT_VERSION:
            raise ValueError(f"sample: format_version {meta.get('format_version')!r} is not {SAMPLE_FORMAT_VERSION}")
        h, w = int(meta["height"]), int(meta["width"])
        t = load(files["sample.safetensors"])

        def frame_set(name: str) -> FrameSet | None:
            if f"{name}.frames" not in t:
                return None
            return FrameSet(frames=t[f"{name}.frames"].float() / 255.0, depth=t[f"{name}.depth"],
                            cameras=Cameras(t[f"{name}.cam_from_world"], t[f"{name}.K"], h, w),
                            indices=t[f"{name}.indices"], scores=t.get(f"{name}.scores"))

        target = frame_set("target")
        spatial = SpatialRender(rgb=t["spatial.rgb"].float() / 255.0, depth=t["spatial.depth"], mask=t["spatial.mask"])
        readout = MemoryReadout(target_cameras=target.cameras, spatial=spatial, working=frame_set("working"),
                                keyframes=frame_set("keyframes"))
        return cls(target=target, readout=readout, meta=meta, text_embedding=t.get("text.embedding"))

    def equals(self, other: TrainingSample) -> bool:
        """Exact equality of every tensor and of the meta (what a shard stores)."""
        a, b = self.to_bytes(), other.to_bytes()
        return a == b
