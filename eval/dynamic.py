"""The ``dynamic`` protocol: retracing paths through scenes whose objects move between the visit and the return.

Every scene of the protocol has moving objects (:meth:`worldmem.synthetic.SyntheticScene.random` with
``dynamic=True``); the renderer's object ids give, per ground-truth frame, the pixels that show a moving object
(``moving``, (T, 1, H, W) bool). Scene time is the frame index, so a mover travels ``gap x speed`` between
frames ``i`` and ``T - 1 - i``.

- **Static parts**, scored as in recall but only on the pixels that are static in the truth at both times
  (``~moving[i] & ~moving[j]``, the moving pixels grown by one pixel: a mover's anti-aliased edge is not
  static): ``static_same_pose_psnr`` (frame i against frame ``j = T - 1 - i`` of the
  same video over the recall pairs) and ``static_return_psnr`` (the covered return frames j against the ground
  truth, on the pixels static at j and at its outward twin ``T - 1 - j``).
- **Ghost rate** (:func:`ghost_rate`): over the pairs ``(i, j = T - 1 - i)`` with j generated and ``j - i >=
  min_gap`` (i may be a given frame: a model that freezes a given frame's mover is what this catches), the
  *vacated* pixels are those where a mover was at the first visit and is not at the return (``moving[i] &
  ~moving[j]`` in the truth) and whose truth changed visibly (``mean_c |gt_i - gt_j| >= GHOST_MIN_CHANGE``).
  A vacated pixel is a *ghost* when the model's return frame is nearer the old truth than the new one
  (``mean_c |f_j - gt_i| < mean_c |f_j - gt_j|``). The rate is ghosts over vacated pixels, pooled over the
  episode's pairs; None where nothing is vacated. The truth scores 0; pasting the first visit back scores 1.
"""

from __future__ import annotations

import torch

from worldmem.metrics import finite_mean, psnr

__all__ = ["GHOST_MIN_CHANGE", "ghost_pairs", "static_pair_psnr", "ghost_rate", "score_dynamic"]

GHOST_MIN_CHANGE = 0.1
"""A vacated pixel counts only where the truth's colour changes by at least this much (mean over channels)."""


def ghost_pairs(num_frames: int, context: int, min_gap: int) -> list[tuple[int, int]]:
    """The ghost rate's pairs ``(i, T - 1 - i)``: j generated (``j >= context``), ``j - i >= min_gap``."""
    return [(i, num_frames - 1 - i) for i in range(num_frames)
            if num_frames - 1 - i >= context and num_frames - 1 - 2 * i >= min_gap]


def static_pair_psnr(frames: torch.Tensor, others: torch.Tensor, moving: torch.Tensor,
                     pairs: list[tuple[int, int]]) -> float | None:
    """Mean over ``(i, j)`` of PSNR between ``frames[i]`` and ``others[j]`` on the pixels static at i and j
    (neither ``moving`` nor next to a moving pixel)."""
    near = torch.nn.functional.max_pool2d(moving.float(), 3, stride=1, padding=1) > 0
    scores = []
    for i, j in pairs:
        static = ~(near[i] | near[j])
        if bool(static.any()):
            scores.append(float(psnr(frames[i : i + 1].float(), others[j : j + 1].float(), mask=static[None])[0]))
    return finite_mean(scores)


def ghost_rate(frames: torch.Tensor, target: torch.Tensor, moving: torch.Tensor,
               pairs: list[tuple[int, int]]) -> tuple[float | None, int]:
    """``(ghost rate, vacated pixels)`` of ``frames`` against the truth ``target`` (module doc)."""
    ghosts = vacated = 0
    for i, j in pairs:
        old, new, made = target[i].float(), target[j].float(), frames[j].float()
        gone = moving[i, 0] & ~moving[j, 0] & ((old - new).abs().mean(0) >= GHOST_MIN_CHANGE)
        vacated += int(gone.sum())
        ghosts += int((gone & ((made - old).abs().mean(0) < (made - new).abs().mean(0))).sum())
    return (ghosts / vacated if vacated else None), vacated


def score_dynamic(frames: torch.Tensor, target: torch.Tensor, moving: torch.Tensor, same_pose: list[tuple[int, int]],
                  return_frames: list[int], ghost: list[tuple[int, int]]) -> dict:
    """A variant's dynamic metrics: ``static_same_pose_psnr`` over ``same_pose``, ``static_return_psnr`` over
    ``return_frames`` (t against the truth, static at t and ``T - 1 - t``), ``ghost_rate`` and
    ``ghost_vacated_pixels`` over ``ghost`` (module doc); ``moving`` (T, 1, H, W) bool from the truth."""
    num = len(frames)
    rate, vacated = ghost_rate(frames, target, moving, ghost)
    back = [(t, t) for t in return_frames]
    mirrored = moving | moving[torch.arange(num - 1, -1, -1)]
    return {"static_same_pose_psnr": static_pair_psnr(frames, frames, moving, same_pose),
            "static_return_psnr": static_pair_psnr(frames, target, mirrored, back),
            "ghost_rate": rate, "ghost_vacated_pixels": vacated}
