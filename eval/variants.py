"""The variants the revisit benchmark compares, and the memory oracle.

Pipeline variants are one :class:`~worldmem.pipelines.WorldMemPipeline` rollout each, with the same given
frames, cameras and noise seed; only the memory paths differ (the working window is always on):

| name | spatial | episodic |
|---|---|---|
| ``full`` | yes | yes |
| ``working_only`` | no | no |
| ``episodic`` | no | yes |
| ``spatial`` | yes | no |

``oracle`` is not a rollout: it is the spatial memory's render itself, built from ground truth
(:func:`oracle_render`), an upper bound for what the render path can supply.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.memory import MemoryConfig, WorldMemory

__all__ = ["PIPELINE_VARIANTS", "ORACLE", "VARIANT_NAMES", "Rollout", "run_variant", "oracle_render"]

PIPELINE_VARIANTS: dict[str, dict[str, bool]] = {
    "full": {"use_spatial": True, "use_episodic": True},
    "working_only": {"use_spatial": False, "use_episodic": False},
    "episodic": {"use_spatial": False, "use_episodic": True},
    "spatial": {"use_spatial": True, "use_episodic": False},
}
ORACLE = "oracle"
VARIANT_NAMES = (*PIPELINE_VARIANTS, ORACLE)


@dataclass
class Rollout:
    """One variant's video along the path.

    Attributes:
        frames: (T, 3, H, W) in [0, 1]; the first C are the given ground-truth frames.
        depth: (T, 1, H, W) z-depth in scene units, 0 = unknown (the oracle's uncovered pixels).
        memory_render: (T, 3, H, W) the spatial memory's render the variant read for each generated frame
            (black where the map has nothing and for the given frames), or None when it read none.
    """

    frames: torch.Tensor
    depth: torch.Tensor
    memory_render: torch.Tensor | None = None
    memory_sizes: list[tuple[int, int, int]] | None = None
    """``(frames written so far, map voxels, episodic keyframes)`` after each chunk's write (pipeline variants)."""


def run_variant(pipe, name: str, frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras, context: int,
                steps: int, seed: int) -> Rollout:
    """Rolls ``pipe`` out along ``cameras`` (T,) from the first ``context`` ground-truth frames.

    Args:
        pipe: a WorldMemPipeline.
        name: one of :data:`PIPELINE_VARIANTS`.
        frames, depth: (T, 3, H, W) and (T, 1, H, W) ground truth; only the first ``context`` are given.
        steps: denoising steps per chunk.
        seed: noise seed (the same for every variant).
    """
    flags = PIPELINE_VARIANTS[name]
    renders: list[torch.Tensor] = []

    sizes: list[tuple[int, int, int]] = []

    def grab(_pipe, _index, info):
        spatial = info["readout"].spatial
        renders.append(spatial.rgb.float().cpu() if spatial is not None else torch.zeros_like(info["frames"]))
        memory = info["memory"]
        sizes.append((memory.num_frames, memory.spatial.num_voxels, len(memory.episodic)))

    out = pipe(frames=frames[:context], depth=depth[:context], cameras=cameras, num_inference_steps=steps,
               generator=torch.Generator().manual_seed(seed), progress=False, callback_on_chunk_end=grab, **flags)
    render = None
    if flags["use_spatial"]:
        render = torch.cat([torch.zeros_like(frames[:context]), *renders])
    return Rollout(frames=out.frames.float(), depth=out.depth.float(), memory_render=render, memory_sizes=sizes)


@torch.no_grad()
def oracle_render(frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras, context: int, chunk_size: int,
                  memory_config: dict | MemoryConfig, working_window: int, fill: str = "working_mean") -> Rollout:
    """The spatial memory's render built from ground truth: an upper bound for the render path.

    Exactly as the pipeline does (its stage 2), a :class:`WorldMemory` with ``memory_config`` is seeded with the
    first ``context`` frames (which fix its scene scale: median depth 1 in its normalised units).
    Then, chunk by chunk (the pipeline's chunks: ``context``, ``context + chunk_size``, ...), the memory is
    rendered at the chunk's cameras and the chunk's **ground-truth** frames are written, so the render of a
    frame holds every ground-truth frame before its chunk: what the pipeline's render would hold if every
    earlier frame had been generated perfectly.

    Args:
        frames, depth: (T, 3, H, W), (T, 1, H, W) ground truth; depth in scene units.
        cameras: (T,) the path.
        fill: uncovered pixels get ``"working_mean"``, the per-channel mean colour of the last
            ``working_window`` ground-truth frames before the chunk (what a model could at least guess from
            its working window), or ``"black"``.

    Returns:
        :class:`Rollout`: frames (the ground truth for the first ``context``, then the filled renders), depth
        in scene units (0 where the map has nothing) and ``memory_render`` (the unfilled renders).
    """
    if fill not in ("working_mean", "black"):
        raise ValueError(f"fill: expected 'working_mean' or 'black', got {fill!r}")
    memory = WorldMemory(MemoryConfig.from_dict(memory_config) if isinstance(memory_config, dict) else memory_config)
    memory.write(frames[:context], depth[:context], cameras[:context])
    out_frames, out_depth, raw = [frames[:context]], [depth[:context]], [torch.zeros_like(frames[:context])]
    window = max(1, working_window)
    for start in range(context, len(cameras), chunk_size):
        end = min(start + chunk_size, len(cameras))
        rendered = memory.render(cameras[start:end])
        rgb, mask = rendered.rgb.float(), rendered.mask.bool()
        if fill == "working_mean":
            mean = frames[max(0, start - window):start].mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
            filled = torch.where(mask, rgb, mean.expand_as(rgb))
        else:
            filled = torch.where(mask, rgb, torch.zeros_like(rgb))
        out_frames.append(filled.clamp(0, 1))
        out_depth.append(torch.where(mask, rendered.depth.float(), torch.zeros_like(rendered.depth.float())))
        raw.append(torch.where(mask, rgb, torch.zeros_like(rgb)))
        memory.write(frames[start:end], depth[start:end], cameras[start:end])
    return Rollout(frames=torch.cat(out_frames), depth=torch.cat(out_depth), memory_render=torch.cat(raw))
