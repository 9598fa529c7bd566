"""Scoring of the revisit benchmark: every variant's rollout of one episode against its ground truth.

:func:`evaluate_episode` finds the revisits of the ground-truth path (:func:`eval.revisit_detect.find_revisits`),
runs every variant (:mod:`eval.variants`) and scores each rollout with :func:`score_rollout` (the revisit
metrics, every protocol) and :func:`eval.protocols.score_plan` (the protocol's own); the keys of the result are
those of docs/evaluation.md. A metric that cannot be computed is None (null in results.json). Its parts
(:func:`plan_episode`, :func:`score_variant`, :func:`scene_entry`) also score the videos of any model
(``python -m eval score``, :mod:`eval.kit`) with the same code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from eval.adapter import model_rollout
from eval.cycle_figure import memory_at_horizons
from eval.episodes import Episode
from eval.metrics import depth_abs_rel, psnr, ssim, warp_consistency
from eval.protocols import ScoringPlan, make_plan, same_pose_psnr, score_plan
from eval.ranking import motion_ratio
from eval.revisit_detect import Revisit, covisibility_matrix, find_revisits
from eval.variants import ORACLE, Rollout, oracle_render, run_variant
from worldmem.geometry.cameras import Cameras
from worldmem.metrics import finite_mean

__all__ = ["away_frames", "pair_psnr", "score_rollout", "EpisodePlan", "plan_episode", "score_variant", "scene_entry",
           "evaluate_episode"]


def _nanmean(t: torch.Tensor) -> float | None:
    """:func:`~worldmem.metrics.finite_mean` of every value of a tensor of any shape."""
    return finite_mean(t.flatten().tolist())


def away_frames(matrix: torch.Tensor, revisits: list[Revisit], min_covisibility: float) -> int | None:
    """How long the camera stayed away before the first of ``revisits`` (j returning to i's view): the number
    of frames k with i < k < j that saw less than ``min_covisibility`` of frame i's view (``S[i, k] < X``)."""
    if not revisits:
        return None
    first = revisits[0]
    between = matrix[first.earlier_frame, first.earlier_frame + 1 : first.frame]
    return int((between < min_covisibility).sum())


def pair_psnr(frames: torch.Tensor, gt_depth: torch.Tensor, cameras: Cameras, pairs: list[tuple[int, int]]) -> float | None:
    """Mean over (i, j) of frame i warped into view j with the ground-truth depth, PSNR vs frame j (covered px)."""
    scores = []
    for i, j in pairs:
        idx = torch.tensor([i, j])
        scores.append(float(warp_consistency(frames[idx], gt_depth[idx], cameras[idx])[0]))
    return finite_mean(scores)


def score_rollout(rollout: Rollout, episode: Episode, revisits: list[Revisit], lpips_model=None) -> dict:
    """The per-variant metrics of one rollout (keys of docs/evaluation.md).

    Args:
        rollout: the variant's frames and depth (T frames; the first ``episode.context`` are the given ones).
        episode: the ground truth.
        revisits: the scored revisits (generated revisit frames only).
        lpips_model: an :class:`eval.lpips.LPIPS` or None (LPIPS absent: null).
    """
    gt, gt_depth, cams, c = episode.frames, episode.depth, episode.cameras, episode.context
    num = len(cams)
    frames, depth = rollout.frames.float(), rollout.depth.float()
    p, s = psnr(frames, gt), ssim(frames, gt)
    idx = [r.frame for r in revisits]
    pairs = [(r.earlier_frame, r.frame) for r in revisits if r.earlier_frame >= c]
    lp = None
    if lpips_model is not None and idx:
        with torch.no_grad():
            lp = _nanmean(lpips_model(frames[idx], gt[idx]))
    gen = slice(c, num)
    return {
        "psnr_per_frame": [None if t < c else float(p[t]) for t in range(num)],
        "ssim_per_frame": [None if t < c else float(s[t]) for t in range(num)],
        "revisit_psnr": finite_mean(float(p[t]) for t in idx),
        "revisit_ssim": finite_mean(float(s[t]) for t in idx),
        "revisit_psnr_vs_first_visit": pair_psnr(frames, gt_depth, cams, pairs),
        "revisit_pairs_vs_first_visit": len(pairs),
        "lpips": lp,
        "depth_abs_rel": _nanmean(depth_abs_rel(depth[gen], gt_depth[gen], valid=depth[gen] > 0)),
        "warp_psnr": _nanmean(warp_consistency(frames[c - 1 :], depth[c - 1 :], cams[c - 1 :])),
        "motion": motion_ratio(frames, gt, c),  # the ranking rule's second gate (eval.ranking)
    }


@dataclass
class EpisodePlan:
    """What is scored in one episode, the same for every rollout (from the ground truth only).

    Attributes:
        matrix: (T, T) covisibility of the ground-truth path (:func:`~eval.revisit_detect.covisibility_matrix`).
        found: every revisit of the path; ``scored``: those at generated frames (``frame >= context``).
        plan: the protocol's :class:`~eval.protocols.ScoringPlan`.
    """

    matrix: torch.Tensor
    found: list[Revisit]
    scored: list[Revisit]
    plan: ScoringPlan


def plan_episode(episode: Episode, min_gap: int, min_covisibility: float, protocol: str) -> EpisodePlan:
    """The revisits and the protocol's plan of ``episode`` (``protocol``: one of :data:`eval.protocols.PROTOCOLS`)."""
    cams, gt_depth, c = episode.cameras, episode.depth, episode.context
    stride = max(1, math.ceil(max(cams.height, cams.width) / 64))
    matrix = covisibility_matrix(cams, gt_depth, stride=stride)
    found = find_revisits(cams, gt_depth, min_covisibility=min_covisibility, min_gap=min_gap, matrix=matrix)
    scored = [r for r in found if r.frame >= c]
    return EpisodePlan(matrix, found, scored, make_plan(protocol, matrix, c, min_gap, min_covisibility))


def score_variant(rollout: Rollout, episode: Episode, plan: EpisodePlan, lpips_model=None) -> dict:
    """One rollout's metrics (:func:`score_rollout` and :func:`~eval.protocols.score_plan`): a variant's entry."""
    metrics = score_rollout(rollout, episode, plan.scored, lpips_model)
    metrics.update(score_plan(plan.plan, rollout.frames, episode.frames, cameras=episode.cameras,
                              gt_depth=episode.depth, depth=rollout.depth, moving=episode.moving))
    if plan.plan.protocol == "cycle" and rollout.memory_sizes is not None:
        metrics.update(memory_at_horizons(rollout.memory_sizes, plan.plan.horizons))
    return metrics


def scene_entry(episode: Episode, plan: EpisodePlan, metrics: dict[str, dict], min_covisibility: float) -> dict:
    """The scene entry of results.json: the episode, its revisits and plan, the ground truth's reference scores
    and ``metrics`` (variant name -> :func:`score_variant`)."""
    cams, gt, gt_depth, c = episode.cameras, episode.frames, episode.depth, episode.context
    scored = plan.scored
    pairs = [(r.earlier_frame, r.frame) for r in scored if r.earlier_frame >= c]
    return {
        "scene": episode.scene,
        "trajectory": episode.trajectory,
        "num_frames": len(cams),
        "context_frames": c,
        "dynamic": episode.dynamic,
        "revisit_frames": [r.frame for r in scored],
        "revisits": [[r.frame, r.earlier_frame, round(r.covisibility, 4)] for r in plan.found],
        "away_frames": away_frames(plan.matrix, scored, min_covisibility),
        "reference": {
            "warp_psnr": _nanmean(warp_consistency(gt[c - 1 :], gt_depth[c - 1 :], cams[c - 1 :])),
            "revisit_psnr_vs_first_visit": pair_psnr(gt, gt_depth, cams, pairs),
            "same_pose_psnr": same_pose_psnr(gt, plan.plan.pairs),  # 100 dB unless things move
        },
        **plan.plan.entry(),
        "variants": metrics,
    }


def evaluate_episode(pipe, episode: Episode, variants: list[str], steps: int, noise_seed: int, min_gap: int,
                     min_covisibility: float, lpips_model=None, oracle_fill: str = "working_mean",
                     progress=None, protocol: str = "given-half",
                     models: Mapping | None = None) -> tuple[dict, dict[str, Rollout]]:
    """Runs every variant on one episode and scores it: ``(scene entry of results.json, rollouts by name)``.

    ``progress``: an optional tqdm bar, advanced by one per variant. ``protocol``: one of
    :data:`eval.protocols.PROTOCOLS` (which pairs and frames :func:`~eval.protocols.score_plan` scores; the
    episode's given frames are already the protocol's). ``models``: variant name -> a model of the adapter
    protocol (:mod:`eval.adapter`); those variants run through :func:`eval.adapter.model_rollout` (``pipe`` may
    then be None when no other variant is asked for).
    """
    cams, gt, gt_depth, c = episode.cameras, episode.frames, episode.depth, episode.context
    plan = plan_episode(episode, min_gap, min_covisibility, protocol)
    rollouts: dict[str, Rollout] = {}
    metrics: dict[str, dict] = {}
    for name in variants:
        if progress is not None:
            progress.set_postfix_str(f"{episode.scene} {episode.trajectory} {name}")
        if models is not None and name in models:
            rollouts[name] = model_rollout(models[name], episode, noise_seed)
        elif name == ORACLE:
            rollouts[name] = oracle_render(gt, gt_depth, cams, c, pipe.config.chunk_size, pipe.config.memory_config,
                                           pipe.config.working_window, fill=oracle_fill)
        else:
            rollouts[name] = run_variant(pipe, name, gt, gt_depth, cams, c, steps, noise_seed)
        metrics[name] = score_variant(rollouts[name], episode, plan, lpips_model)
        if name == ORACLE:  # how much of each scored frame the ground-truth map covers
            covered = (rollouts[name].depth > 0).flatten(1).float().mean(1)
            metrics[name]["revisit_coverage"] = finite_mean(float(covered[r.frame]) for r in plan.scored)
        if progress is not None:
            progress.update(1)
    return scene_entry(episode, plan, metrics, min_covisibility), rollouts
