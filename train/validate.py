"""Validation rollout during training: the registry's out-and-back path (worldmem/geometry/paths.py) with a
90 degree sweep, on a held-out synthetic scene.

The model is given the outward half as ground truth (it is fused into the memory), generates the return, and is
scored by PSNR on the returning half (the revisit) against the ground truth, with and without the spatial
and episodic memory. Writes ground truth | full memory | no long-term memory as an mp4.
"""

from __future__ import annotations

from pathlib import Path

import torch

from worldmem.geometry.paths import make_path
from worldmem.synthetic import SyntheticScene
from worldmem.utils.image import masked_psnr
from worldmem.utils.video import side_by_side, write_video

__all__ = ["validation_rollout"]

VALIDATION_SWEEP_DEG = 90.0
"""The validation path's view sweep on the way out (the registry's out-and-back turns 180 degrees)."""


@torch.no_grad()
def validation_rollout(pipe, cfg, out_mp4: Path | None = None, num_frames: int = 24) -> dict:
    """Returns {"revisit_psnr", "revisit_psnr_no_memory", "gain_db"} for the held-out scene ``cfg.validation_seed``."""
    size = pipe.transformer.base.config.sample_height * pipe.codec.spatial_factor
    scene = SyntheticScene.random(seed=cfg.validation_seed)
    cams = make_path("out-and-back", scene.free_box, num_frames, size, size, sweep_deg=VALIDATION_SWEEP_DEG)
    frames, depth = scene.render(cams)
    # Observe the outward half, generate the return: the revisit protocol of ``python -m eval revisit``.
    n0 = num_frames // 2
    back = slice(n0, num_frames)
    results, videos = {}, []
    for name, flags in (("full", {}), ("no_memory", {"use_spatial": False, "use_episodic": False})):
        out = pipe(frames=frames[:n0], depth=depth[:n0], cameras=cams, num_inference_steps=cfg.num_inference_steps,
                   generator=torch.Generator().manual_seed(0), progress=False, **flags)
        results[name] = masked_psnr(out.frames[back], frames[back])
        videos.append(out.frames)
    if out_mp4 is not None:
        write_video(out_mp4, side_by_side(frames, *videos), fps=6)
    return {"revisit_psnr": results["full"], "revisit_psnr_no_memory": results["no_memory"],
            "gain_db": results["full"] - results["no_memory"]}
