"""The evaluation protocols of ``python -m eval revisit``: which frames are given, which are scored, and how.

Three protocols (docs/evaluation.md has the full text):

- ``recall`` (SPMem's view recall, the headline): 1-2 given frames, then a path that goes A -> B and comes back
  along the exact reverse (frame ``T - 1 - i`` has frame ``i``'s camera; :func:`worldmem.geometry.paths.retraces`).
  Scored: **same-pose PSNR** between the frame generated on the way out and the one generated at the same pose
  on the way back, over the pairs ``(i, T - 1 - i)`` with ``i >= C`` (both generated) and ``j - i >= G`` where G
  (``min_gap``) exceeds the working window plus the chunk size, so only long-term memory can know frame i; and
  PSNR against the ground truth on the **covered return frames**: frames of the return half
  (``t >= (T + 1) // 2``) of which a given frame sees at least X (``max_g S[g, t] >= X``, g < C).
- ``cycle`` (VMem, WorldPlay long-term): the same retracing paths, at least :data:`MIN_CYCLE_FRAMES` long; the
  same pairs, reported at fixed **horizons** (:data:`CYCLE_HORIZONS` frames between the first visit and the
  return): for horizon h, the pairs with ``|j - i - h| <= HORIZON_WINDOW``; their same-pose PSNR and the
  return frames' PSNR against the ground truth.
- ``given-half``: the first half of the path given; the revisit metrics of :mod:`eval.scoring` (secondary).
- ``offset`` (:mod:`eval.offset`): the retracing paths with the way back shifted sideways and turned (no return
  camera equals an outward one); each generated return frame against its most co-visible generated outward
  frame at least G earlier, warped through the true depth with an occlusion test (``offset_psnr``), beside the
  same warp of the ground truth (``offset_psnr_truth``, the ceiling) and through the model's own depth.
- ``dynamic`` (:mod:`eval.dynamic`): the retracing paths in scenes whose objects move; recall's scores on the
  pixels static at both times, and the ghost rate (a mover's old appearance left where it no longer is).

Every protocol also scores the **drift curve** (PSNR against the ground truth over time on the generated frames
whose view the given frames cover, ``max_g S[g, t] >= X``; null elsewhere) with its values at frames
:data:`DRIFT_FRAMES` (each at the nearest covered frame at most :data:`DRIFT_TOLERANCE` frames away, else null),
and the **sharpness**: the generated frames' mean image-gradient magnitude over the ground truth's on the same
views (1 = as sharp as the truth; consistency must not be bought with blur). ``S`` is
:func:`eval.revisit_detect.covisibility_matrix` on the ground-truth depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from eval.metrics import psnr
from worldmem.metrics import finite_mean, same_pose_pairs, same_pose_psnr  # the library's, re-exported here

__all__ = ["PROTOCOLS", "RETRACING_PATHS", "DEFAULT_NUM_FRAMES", "DEFAULT_CONTEXT", "MAX_CONTEXT",
           "MIN_CYCLE_FRAMES", "CYCLE_HORIZONS", "HORIZON_WINDOW", "DRIFT_FRAMES", "DRIFT_TOLERANCE", "ScoringPlan",
           "same_pose_pairs", "horizon_pairs", "covered_by_given", "nearest_covered", "gradient_magnitude",
           "sharpness_ratio", "same_pose_psnr", "make_plan", "score_plan"]

PROTOCOLS = ("recall", "cycle", "given-half", "offset", "dynamic")
RETRACING_PATHS = ("out-and-back", "arc-and-back", "turn-and-back")
"""The default paths of recall and cycle: registry paths whose second half retraces the first."""
DEFAULT_NUM_FRAMES = {"recall": 48, "cycle": 104, "given-half": 48, "offset": 48, "dynamic": 48}
"""Frames per path. A cycle of 104 frames from 2 given ones has a generated pair 99 frames apart (horizon 100)."""
DEFAULT_CONTEXT = {"recall": 2, "cycle": 2, "given-half": None, "offset": 2, "dynamic": 2}
"""Given frames (None: half the path)."""
MAX_CONTEXT = 2
"""recall, cycle, offset and dynamic give at most this many frames: the world is the model's to make."""
MIN_CYCLE_FRAMES = 100
CYCLE_HORIZONS = (25, 50, 100)
HORIZON_WINDOW = 2
"""A pair counts for horizon h when its gap is within this many frames of h."""
DRIFT_FRAMES = (4, 40)
DRIFT_TOLERANCE = 8
"""A drift value at frame f is read at the nearest covered frame at most this far from f (else null)."""


@dataclass
class ScoringPlan:
    """What is scored in one episode, the same for every variant (frame indices into the path).

    Attributes:
        protocol: one of :data:`PROTOCOLS`.
        num_frames, context: T and C.
        pairs: same-pose pairs ``(i, j)``, ``j = T - 1 - i`` (recall, cycle and dynamic; empty for given-half
            and offset, whose return cameras are not the outward ones).
        offset_pairs: offset only: :func:`eval.offset.offset_pairs`.
        ghost_pairs: dynamic only: :func:`eval.dynamic.ghost_pairs`.
        horizons: cycle only: horizon -> its pairs.
        covered: generated frames whose view the given frames cover (the drift curve's frames).
        return_covered: recall and cycle: the covered frames of the return half.
        drift_frames: each of :data:`DRIFT_FRAMES` -> the covered frame its value is read at (or None).
    """

    protocol: str
    num_frames: int
    context: int
    pairs: list[tuple[int, int]] = field(default_factory=list)
    horizons: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    covered: list[int] = field(default_factory=list)
    return_covered: list[int] = field(default_factory=list)
    drift_frames: dict[int, int | None] = field(default_factory=dict)
    offset_pairs: list[tuple[int, int]] = field(default_factory=list)
    ghost_pairs: list[tuple[int, int]] = field(default_factory=list)

    def entry(self) -> dict:
        """The scene-level keys of results.json."""
        out = {"covered_frames": self.covered, "drift_frames": {str(f): t for f, t in self.drift_frames.items()}}
        if self.protocol in ("recall", "cycle", "dynamic"):
            out["same_pose_pairs"] = [list(p) for p in self.pairs]
        if self.protocol != "given-half":
            out["return_covered_frames"] = self.return_covered
        if self.protocol == "cycle":
            out["horizon_pairs"] = {str(h): [list(p) for p in ps] for h, ps in self.horizons.items()}
        if self.protocol == "offset":
            out["offset_pairs"] = [list(p) for p in self.offset_pairs]
        if self.protocol == "dynamic":
            out["ghost_pairs"] = [list(p) for p in self.ghost_pairs]
        return out


def horizon_pairs(pairs: list[tuple[int, int]], horizons=CYCLE_HORIZONS,
                  window: int = HORIZON_WINDOW) -> dict[int, list[tuple[int, int]]]:
    """Horizon h -> the pairs whose gap ``j - i`` is within ``window`` frames of h (possibly none)."""
    return {int(h): [(i, j) for i, j in pairs if abs(j - i - h) <= window] for h in horizons}


def covered_by_given(matrix: torch.Tensor, context: int, min_covisibility: float) -> torch.Tensor:
    """(T,) bool: generated frames t (>= ``context``) with ``max_{g < context} S[g, t] >= min_covisibility``."""
    seen = matrix[:context].max(dim=0).values >= min_covisibility
    seen[:context] = False
    return seen


def nearest_covered(covered: list[int], frame: int, tolerance: int = DRIFT_TOLERANCE) -> int | None:
    """The covered frame nearest ``frame`` (the earlier one on ties), or None if none is within ``tolerance``."""
    best = min(covered, key=lambda t: (abs(t - frame), t), default=None)
    return best if best is not None and abs(best - frame) <= tolerance else None


def gradient_magnitude(frames: torch.Tensor) -> torch.Tensor:
    """(T,) mean image-gradient magnitude per frame: ``sqrt(dx^2 + dy^2)`` of forward differences, per channel,
    averaged over channels and the (H - 1) x (W - 1) pixels that have both; ``frames`` (T, 3, H, W)."""
    f = frames.double()
    dx = f[..., :-1, 1:] - f[..., :-1, :-1]
    dy = f[..., 1:, :-1] - f[..., :-1, :-1]
    return (dx.square() + dy.square()).sqrt().flatten(1).mean(1)


def sharpness_ratio(frames: torch.Tensor, target: torch.Tensor) -> float | None:
    """Mean gradient magnitude of ``frames`` over that of ``target`` (same views, (T, 3, H, W)); None if flat."""
    if len(frames) == 0:
        return None
    ref = float(gradient_magnitude(target).sum())
    return float(gradient_magnitude(frames).sum()) / ref if ref > 0 else None


def make_plan(protocol: str, matrix: torch.Tensor, context: int, min_gap: int, min_covisibility: float) -> ScoringPlan:
    """The :class:`ScoringPlan` of an episode from its ground-truth covisibility ``matrix`` (T, T)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    num = int(matrix.shape[0])
    covered_mask = covered_by_given(matrix, context, min_covisibility)
    covered = [t for t in range(num) if bool(covered_mask[t])]
    plan = ScoringPlan(protocol, num, context, covered=covered,
                       drift_frames={f: nearest_covered(covered, f) for f in DRIFT_FRAMES})
    if protocol in ("recall", "cycle", "dynamic"):
        plan.pairs = same_pose_pairs(num, context, min_gap)
    if protocol != "given-half":
        plan.return_covered = [t for t in covered if t >= (num + 1) // 2]
    if protocol == "cycle":
        plan.horizons = horizon_pairs(plan.pairs)
    if protocol == "offset":
        from eval.offset import offset_pairs

        plan.offset_pairs = offset_pairs(matrix, context, min_gap, min_covisibility)
    if protocol == "dynamic":
        from eval.dynamic import ghost_pairs

        plan.ghost_pairs = ghost_pairs(num, context, min_gap)
    return plan


def score_plan(plan: ScoringPlan, frames: torch.Tensor, target: torch.Tensor, *, cameras=None,
               gt_depth: torch.Tensor | None = None, depth: torch.Tensor | None = None,
               moving: torch.Tensor | None = None) -> dict:
    """A variant's protocol metrics: ``frames`` (T, 3, H, W) its video, ``target`` the ground truth.

    Keys: ``drift_curve`` (T values, null off the covered frames), ``drift_at_<f>``, ``sharpness``; recall,
    cycle and dynamic add ``same_pose_psnr``, ``same_pose_pairs``, ``return_psnr_covered`` (offset:
    ``return_psnr_covered``); cycle adds ``same_pose_psnr_at_<h>`` and ``gt_psnr_at_<h>`` per horizon; offset
    adds :func:`eval.offset.score_offset`'s keys (needs ``cameras`` and the true ``gt_depth``; ``depth``, the
    model's own, is optional); dynamic adds :func:`eval.dynamic.score_dynamic`'s (needs ``moving``, (T, 1, H, W)
    bool: the truth's moving-object pixels).
    """
    frames, target = frames.float(), target.float()
    p = psnr(frames, target).tolist()
    covered = set(plan.covered)
    out: dict = {"drift_curve": [p[t] if t in covered else None for t in range(plan.num_frames)]}
    for f, t in plan.drift_frames.items():
        out[f"drift_at_{f}"] = None if t is None else p[t]
    out["sharpness"] = sharpness_ratio(frames[plan.context:], target[plan.context:])
    if plan.protocol == "given-half":
        return out
    if plan.protocol == "offset":
        from eval.offset import score_offset

        if cameras is None or gt_depth is None:
            raise ValueError("score_plan: protocol offset needs cameras and gt_depth")
        out["return_psnr_covered"] = finite_mean(p[t] for t in plan.return_covered)
        out.update(score_offset(plan.offset_pairs, frames, target, gt_depth, cameras, depth))
        return out
    out["same_pose_psnr"] = same_pose_psnr(frames, plan.pairs)
    out["same_pose_pairs"] = len(plan.pairs)
    out["return_psnr_covered"] = finite_mean(p[t] for t in plan.return_covered)
    for h, pairs in plan.horizons.items():
        out[f"same_pose_psnr_at_{h}"] = same_pose_psnr(frames, pairs)
        out[f"gt_psnr_at_{h}"] = finite_mean(p[j] for _, j in pairs)
    if plan.protocol == "dynamic":
        from eval.dynamic import score_dynamic

        if moving is None:
            raise ValueError("score_plan: protocol dynamic needs moving (the truth's moving-object masks)")
        out.update(score_dynamic(frames, target, moving.bool(), plan.pairs, plan.return_covered, plan.ghost_pairs))
    return out
