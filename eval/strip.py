"""``python -m eval strip``: the view-recall figure, frames of the way out above the same cameras on the way back.

    python -m eval strip --checkpoint DIR --out docs/recall_strip.png [--seeds 1000000,1000001]
        [--trajectory out-and-back] [--num-frames 48] [--context-frames 2] [--steps 8] [--columns 6] [--noise-seed 0]

For each held-out scene, the recall protocol's rollout (:mod:`eval.protocols`: the first C frames given, the
rest generated along a retracing path) is made with ``full`` memory and with ``working_only``. The figure has
three panels, ground truth | full | working only; in each, one block of two rows per scene: ``--columns`` frames
i of the way out (top) above frames T-1-i of the way back (bottom), which have the same cameras. The columns are
same-pose pairs of the protocol (both frames generated, further apart than working window + chunk), evenly
spread from the largest gap on. Panel titles carry each variant's same-pose PSNR over all pairs. The PNG is
written atomically (temporary file, then rename). matplotlib is the ``viz`` extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from eval.episodes import RevisitError, synthetic_episodes
from eval.protocols import DEFAULT_CONTEXT, MAX_CONTEXT, same_pose_pairs, same_pose_psnr
from eval.variants import run_variant
from worldmem.geometry.paths import DEFAULT_BOX, make_path, retraces
from worldmem.metrics import default_min_gap
from worldmem.utils.io import atomic_write

__all__ = ["add_arguments", "pick_pairs", "strip_image", "run"]

PANELS = (("ground truth", None), ("full memory", "full"), ("working window only", "working_only"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="a saved WorldMemPipeline folder")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write (e.g. docs/recall_strip.png)")
    p.add_argument("--seeds", default=None, help="comma-separated held-out scene seeds (default the first two)")
    p.add_argument("--trajectory", default="out-and-back", help="a retracing registry path")
    p.add_argument("--num-frames", type=int, default=48, help="frames of the path")
    p.add_argument("--context-frames", type=int, default=DEFAULT_CONTEXT["recall"], help="given frames (1-2)")
    p.add_argument("--steps", type=int, default=8, help="denoising steps per chunk")
    p.add_argument("--columns", type=int, default=6, help="same-pose pairs shown per scene")
    p.add_argument("--noise-seed", type=int, default=0, help="noise seed of both rollouts")


def pick_pairs(pairs: list[tuple[int, int]], columns: int) -> list[tuple[int, int]]:
    """``columns`` pairs evenly spread over ``pairs`` (sorted by first frame), the largest gap first."""
    if len(pairs) <= columns:
        return list(pairs)
    idx = np.linspace(0, len(pairs) - 1, columns).round().astype(int)
    return [pairs[k] for k in sorted(set(idx.tolist()))]


def strip_image(frames: torch.Tensor, shown: list[tuple[int, int]], gap: int = 1) -> np.ndarray:
    """(2 H + gap, n W + (n - 1) gap, 3) float image: frames i above frames j of ``shown``, white gaps."""
    _, _, h, w = frames.shape
    img = np.ones((2 * h + gap, len(shown) * (w + gap) - gap, 3), dtype=np.float32)
    for k, (i, j) in enumerate(shown):
        x = k * (w + gap)
        img[:h, x:x + w] = frames[i].permute(1, 2, 0).clamp(0, 1).numpy()
        img[h + gap:, x:x + w] = frames[j].permute(1, 2, 0).clamp(0, 1).numpy()
    return img


def _check(args) -> list[int]:
    from worldmem.data.readers.synthetic import EVAL_SEEDS

    try:
        seeds = [int(s) for s in (args.seeds or f"{EVAL_SEEDS.start},{EVAL_SEEDS.start + 1}").split(",") if s.strip()]
    except ValueError:
        raise RevisitError(f"--seeds: expected comma-separated integers, got {args.seeds!r}") from None
    if not seeds or any(s not in EVAL_SEEDS for s in seeds):
        raise RevisitError(f"--seeds: expected held-out seeds in {EVAL_SEEDS.start}..{EVAL_SEEDS.stop - 1}, got {seeds}")
    if args.num_frames < 4:
        raise RevisitError(f"--num-frames: expected >= 4, got {args.num_frames}")
    try:
        path = make_path(args.trajectory, DEFAULT_BOX, args.num_frames, 8, 8)
    except ValueError as err:
        raise RevisitError(f"--trajectory: {err}") from None
    if not retraces(path):
        raise RevisitError(f"--trajectory: {args.trajectory!r} does not come back along its own cameras")
    if not 1 <= args.context_frames <= MAX_CONTEXT:
        raise RevisitError(f"--context-frames: expected 1 .. {MAX_CONTEXT}, got {args.context_frames}")
    if args.steps < 1 or args.columns < 1:
        raise RevisitError("--steps, --columns: expected >= 1")
    if args.out.suffix.lower() != ".png":
        raise RevisitError(f"--out: expected a .png file, got {args.out}")
    return seeds


def run(args) -> Path:
    """Makes the figure for parsed ``args``; raises :class:`RevisitError` for a bad input."""
    from eval.revisit import _load_pipe

    seeds = _check(args)
    from eval.report import pyplot

    try:
        plt = pyplot("the figure")
    except ImportError as err:
        raise RevisitError(str(err)) from None
    pipe = _load_pipe(args.checkpoint)
    size = pipe.frame_size[0]  # the synthetic paths are square
    min_gap = default_min_gap(pipe.config.working_window, pipe.config.chunk_size)
    pairs = same_pose_pairs(args.num_frames, args.context_frames, min_gap)
    if not pairs:
        raise RevisitError(f"--num-frames: {args.num_frames} frames leave no same-pose pair {min_gap} frames apart")
    shown = pick_pairs(pairs, args.columns)
    blocks, scores = [], []
    for ep in synthetic_episodes(seeds, [args.trajectory], args.num_frames, size, args.context_frames):
        videos, row = [], {}
        for _, name in PANELS:
            if name is None:
                videos.append(ep.frames)
                continue
            r = run_variant(pipe, name, ep.frames, ep.depth, ep.cameras, ep.context, args.steps, args.noise_seed)
            videos.append(r.frames)
            row[name] = same_pose_psnr(r.frames, pairs)
        blocks.append([strip_image(v, shown) for v in videos])
        scores.append((ep.scene, row))
    fig, axes = plt.subplots(len(blocks), len(PANELS), squeeze=False,
                             figsize=(3.2 * len(PANELS) * len(shown) / 6, 1.35 * len(blocks) + 0.6))
    for b, (images, (scene, row)) in enumerate(zip(blocks, scores, strict=True)):
        for k, ((title, name), img) in enumerate(zip(PANELS, images, strict=True)):
            ax = axes[b, k]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([c * (size + 1) + (size - 1) / 2 for c in range(len(shown))])
            ax.set_xticklabels([f"{i}|{j}" for i, j in shown], fontsize=6)
            ax.set_yticks([])
            label = title if name is None else f"{title}: {row[name]:.1f} dB"
            ax.set_title(f"{scene}: {label}" if k == 0 else label, fontsize=8)
            if k == 0:
                ax.set_ylabel("out\nback", fontsize=7)
    fig.suptitle(f"view recall, {args.trajectory}, {args.num_frames} frames from {args.context_frames} given: frame i "
                 "on the way out (top) and frame T-1-i, same camera, on the way back (bottom); same-pose PSNR",
                 fontsize=8)
    fig.tight_layout()
    out = Path(args.out)

    def save(tmp: str) -> None:
        fig.savefig(tmp, dpi=150, format="png")

    try:
        atomic_write(out, save)
    finally:
        plt.close(fig)
    for scene, row in scores:
        print(f"{scene}: same-pose PSNR full {row['full']:.2f} dB, working_only {row['working_only']:.2f} dB")
    print(f"wrote {out}")
    return out
