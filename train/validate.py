"""Validation rollout during training: the registry's out-and-back path (worldmem/geometry/paths.py) with a
90 degree sweep, on a held-out synthetic scene.

The model is given the outward half as ground truth (it is fused into the memory), generates the return, and is
scored with and without the spatial and episodic memory by the benchmark's own metrics (:mod:`worldmem.metrics`,
the same functions ``python -m eval revisit`` uses):

- ``revisit_psnr``: the path comes back along its own poses (frame ``T - 1 - i`` has frame ``i``'s camera), so
  each generated return frame ``j`` of a same-pose pair ``(i, j)`` at least
  :func:`~worldmem.metrics.default_min_gap` frames apart (``same_pose_pairs(T, 0, G)``: the earlier frame is a
  given one) shows again what given frame ``i`` showed; the mean over those frames of the per-frame PSNR against
  the ground truth. Present only when the path has such a pair (a short path or a long chunk has none);
- ``return_psnr``: the same mean over every generated frame (the returning half).

Each ``*_no_memory`` key is the same figure with the long-term memory off; ``gain_db`` is
``revisit_psnr - revisit_psnr_no_memory``. Writes ground truth | full memory | no long-term memory as an mp4.
"""

from __future__ import annotations

from pathlib import Path

import torch

from worldmem.geometry.paths import make_path
from worldmem.metrics import default_min_gap, finite_mean, psnr, same_pose_pairs
from worldmem.synthetic import SyntheticScene
from worldmem.utils.video import side_by_side, write_video

__all__ = ["validation_rollout"]

VALIDATION_SWEEP_DEG = 90.0
"""The validation path's view sweep on the way out (the registry's out-and-back turns 180 degrees)."""


@torch.no_grad()
def validation_rollout(pipe, cfg, out_mp4: Path | None = None, num_frames: int = 24) -> dict:
    """The module docstring's figures for the held-out scene ``cfg.validation_seed``: ``return_psnr``,
    ``return_psnr_no_memory`` and, when the path has a same-pose pair, ``revisit_psnr``,
    ``revisit_psnr_no_memory`` and ``gain_db`` (floats, dB)."""
    height, width = pipe.frame_size
    scene = SyntheticScene.random(seed=cfg.validation_seed)
    cams = make_path("out-and-back", scene.free_box, num_frames, height, width, sweep_deg=VALIDATION_SWEEP_DEG)
    frames, depth = scene.render(cams)
    # Observe the outward half, generate the return: the given-half protocol of ``python -m eval revisit``.
    n0 = num_frames // 2
    revisits = [j for _, j in same_pose_pairs(num_frames, 0, default_min_gap(pipe.config.working_window,
                                                                              pipe.config.chunk_size))]
    results, videos = {}, []
    for name, flags in (("", {}), ("_no_memory", {"use_spatial": False, "use_episodic": False})):
        out = pipe(frames=frames[:n0], depth=depth[:n0], cameras=cams, num_inference_steps=cfg.generation.num_inference_steps,
                   generator=torch.Generator().manual_seed(0), progress=False, **flags)
        per_frame = psnr(out.frames.float(), frames).tolist()
        results[f"return_psnr{name}"] = finite_mean(per_frame[n0:])
        if revisits:
            results[f"revisit_psnr{name}"] = finite_mean(per_frame[j] for j in revisits)
        videos.append(out.frames)
    if revisits:
        results["gain_db"] = results["revisit_psnr"] - results["revisit_psnr_no_memory"]
    if out_mp4 is not None:
        write_video(out_mp4, side_by_side(frames, *videos), fps=6)
    return results
