"""``python -m eval revisit``: the revisit-consistency benchmark.

    python -m eval revisit --checkpoint DIR --out DIR [--scenes N] [--seed S]
        [--trajectories out-and-back,loop,excursion] [--num-frames F] [--context-frames C] [--steps K]
        [--lpips-weights PATH] [--source KIND:PATH [--depth-dir DIR] [--frame-stride N]]
        [--variants full,working_only,episodic,spatial,oracle] [--min-gap G] [--min-covisibility X]
        [--noise-seed S] [--oracle-fill working_mean|black]

Protocol (docs/evaluation.md has the full text):

- scenes: ``--scenes`` held-out synthetic scenes, seeds ``--seed``, ``--seed + 1``, ... from
  :data:`~worldmem.data.readers.synthetic.EVAL_SEEDS` (never a training seed); scene ``k`` has moving objects
  when ``k % 3 == 2``. Frames are rendered at the pipeline's native size with the training data's
  supersampling. Or ``--source KIND:PATH``: the clips of any curation reader, each clip one "recorded" path;
- paths (:func:`eval_path`): ``out-and-back`` (across the free box while the view turns 180 degrees, then the
  same poses backwards), ``loop`` (1.5 turns of a forward-looking circle: the last third repeats the first),
  ``excursion`` (look at the start, go round the box, come back; see :data:`AWAY_FACTOR`), or any other
  :func:`~worldmem.synthetic.paths.scene_path` name (``orbit``, ``keys:...``);
- the first C frames (default half the path) are given as ground truth; the rest is generated along the
  ground-truth cameras and scored against the ground truth. Every variant uses the same noise seed;
- revisit frames: :func:`~eval.revisit_detect.find_revisits` on the ground-truth depth and cameras, with
  ``min_gap`` = max(8, working window + chunk size), so a revisited view is never in the working window;
  only generated revisit frames are scored.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from eval.metrics import depth_abs_rel, psnr, ssim, warp_consistency
from eval.revisit_detect import DEFAULT_MIN_COVISIBILITY, DEFAULT_MIN_GAP, Revisit, covisibility_matrix, find_revisits
from eval.variants import ORACLE, VARIANT_NAMES, Rollout, oracle_render, run_variant
from worldmem.geometry import trajectories
from worldmem.geometry.cameras import Cameras

__all__ = ["DEFAULT_TRAJECTORIES", "AWAY_FACTOR", "Episode", "eval_path", "away_frames", "score_rollout",
           "evaluate_episode", "add_arguments", "run", "main"]

DEFAULT_TRAJECTORIES = ("out-and-back", "loop", "excursion")
KNOWN_TRAJECTORIES = ("out-and-back", "loop", "excursion", "orbit")
DEFAULT_SCENES = 6
DEFAULT_NUM_FRAMES = 48
AWAY_FACTOR = 3
"""An excursion must stay away from the revisited view for at least AWAY_FACTOR x the working window."""
LOOP_TURNS = 1.5
OUT_AND_BACK_SWEEP_DEG = 180.0
VIDEO_PANELS = ("ground truth", "full", "working_only", "memory render (full)", "oracle")
PROG = "python -m eval revisit"


class RevisitError(Exception):
    """A bad input: reported as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------- episodes
@dataclass
class Episode:
    """One path to evaluate: ground-truth frames, depth and cameras, of which the first ``context`` are given."""

    scene: str
    trajectory: str
    frames: torch.Tensor
    depth: torch.Tensor
    cameras: Cameras
    context: int
    dynamic: bool | None = None


def eval_path(scene, name: str, num_frames: int, size: int) -> Cameras:
    """The benchmark's path ``name`` in a synthetic scene (see the module docstring)."""
    from worldmem.synthetic.paths import FOV_DEG, out_and_back_in_scene, scene_path

    if name == "out-and-back":
        return out_and_back_in_scene(scene, num_frames, size, yaw_sweep_deg=OUT_AND_BACK_SWEEP_DEG)
    if name == "loop":
        lo, hi = scene.free_box[0], scene.free_box[1]
        center, half = ((lo + hi) / 2).tolist(), ((hi - lo) / 2).tolist()
        per_turn = max(2, round(num_frames / LOOP_TURNS))
        ring = trajectories.loop(per_turn, center=center, radius=0.7 * min(half[0], half[1]), look="forward",
                                 height=size, width=size, fov_deg=FOV_DEG)
        return ring[torch.arange(num_frames) % per_turn]
    return scene_path(scene, name, num_frames, size)


def _check_trajectory_name(name: str, num_frames: int) -> None:
    if name not in KNOWN_TRAJECTORIES and not name.startswith("keys:"):
        raise RevisitError(f"--trajectories: unknown trajectory {name!r}; expected out-and-back, loop, excursion, "
                           f"orbit or keys:WASD...")
    if name.startswith("keys:") and len(name) - 5 + 1 != num_frames:
        raise RevisitError(f"--trajectories: {name!r} gives {len(name) - 4} frames, expected --num-frames {num_frames}")


def _render_synthetic(seed: int, dynamic: bool, name: str, num_frames: int, size: int):
    from worldmem.data.config import CurationConfig
    from worldmem.data.readers.synthetic import render_supersampled
    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=seed, dynamic=dynamic)
    cams = eval_path(scene, name, num_frames, size)
    frames, depth, _ = render_supersampled(scene, cams, torch.arange(num_frames, dtype=torch.float32),
                                           CurationConfig().synthetic_supersample)
    return frames, depth, cams


def synthetic_episodes(seeds: list[int], names: list[str], num_frames: int, size: int,
                       context: int | None) -> Iterator[Episode]:
    for k, seed in enumerate(seeds):
        dynamic = k % 3 == 2
        for name in names:
            try:
                frames, depth, cams = _render_synthetic(seed, dynamic, name, num_frames, size)
            except ValueError as err:
                raise RevisitError(f"--trajectories: {err}") from None
            c = context if context is not None else num_frames // 2
            yield Episode(f"synthetic:{seed}", name, frames, depth, cams, c, dynamic)


def source_clips(source: str, limit: int | None, size: tuple[int, int], num_frames: int, frame_stride: int,
                 depth_dir: str | None):
    """``(refs, load)``: the source's clip refs (at most ``limit``) and a loader ref -> Clip (raises ClipError)."""
    from worldmem.data.config import CurationConfig
    from worldmem.data.readers import READERS, parse_source

    try:
        kind, path = parse_source(source)
        refs = READERS[kind].list_clips(path)
    except (ValueError, OSError) as err:
        raise RevisitError(f"--source: {' '.join(str(err).split())}") from None
    if not refs:
        raise RevisitError(f"--source: no clips found in {source}")
    config = dataclasses.replace(CurationConfig(), image_size=size, frame_stride=frame_stride,
                                 max_clip_frames=num_frames)
    reader = READERS[kind]

    def load(ref):
        return reader.load_clip(ref, config, depth_dir)

    return refs[:limit] if limit is not None else refs, load


# ---------------------------------------------------------------------------------------------- scoring
def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _nanmean(t: torch.Tensor) -> float | None:
    return _mean(t.flatten().tolist())


def away_frames(matrix: torch.Tensor, revisits: list[Revisit], min_covisibility: float) -> int | None:
    """How long the camera stayed away before the first of ``revisits`` (j returning to i's view): the number
    of frames k with i < k < j that saw less than ``min_covisibility`` of frame i's view (``S[i, k] < X``)."""
    if not revisits:
        return None
    first = revisits[0]
    between = matrix[first.earlier_frame, first.earlier_frame + 1 : first.frame]
    return int((between < min_covisibility).sum())


def _pair_psnr(frames: torch.Tensor, gt_depth: torch.Tensor, cameras: Cameras, pairs: list[tuple[int, int]]) -> float | None:
    """Mean over (i, j) of frame i warped into view j with the ground-truth depth, PSNR vs frame j (covered px)."""
    scores = []
    for i, j in pairs:
        idx = torch.tensor([i, j])
        scores.append(float(warp_consistency(frames[idx], gt_depth[idx], cameras[idx])[0]))
    return _mean(scores)


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
        "revisit_psnr": _mean(float(p[t]) for t in idx),
        "revisit_ssim": _mean(float(s[t]) for t in idx),
        "revisit_psnr_vs_first_visit": _pair_psnr(frames, gt_depth, cams, pairs),
        "revisit_pairs_vs_first_visit": len(pairs),
        "lpips": lp,
        "depth_abs_rel": _nanmean(depth_abs_rel(depth[gen], gt_depth[gen], valid=depth[gen] > 0)),
        "warp_psnr": _nanmean(warp_consistency(frames[c - 1 :], depth[c - 1 :], cams[c - 1 :])),
    }


def evaluate_episode(pipe, episode: Episode, variants: list[str], steps: int, noise_seed: int, min_gap: int,
                     min_covisibility: float, lpips_model=None, oracle_fill: str = "working_mean",
                     progress=None) -> tuple[dict, dict[str, Rollout]]:
    """Runs every variant on one episode and scores it: ``(scene entry of results.json, rollouts by name)``.

    ``progress``: an optional tqdm bar, advanced by one per variant.
    """
    cams, gt, gt_depth, c = episode.cameras, episode.frames, episode.depth, episode.context
    stride = max(1, math.ceil(max(cams.height, cams.width) / 64))
    matrix = covisibility_matrix(cams, gt_depth, stride=stride)
    found = find_revisits(cams, gt_depth, min_covisibility=min_covisibility, min_gap=min_gap, matrix=matrix)
    scored = [r for r in found if r.frame >= c]
    rollouts: dict[str, Rollout] = {}
    metrics: dict[str, dict] = {}
    for name in variants:
        if progress is not None:
            progress.set_postfix_str(f"{episode.scene} {episode.trajectory} {name}")
        if name == ORACLE:
            rollouts[name] = oracle_render(gt, gt_depth, cams, c, pipe.config.chunk_size, pipe.config.memory_config,
                                           pipe.config.working_window, fill=oracle_fill)
        else:
            rollouts[name] = run_variant(pipe, name, gt, gt_depth, cams, c, steps, noise_seed)
        metrics[name] = score_rollout(rollouts[name], episode, scored, lpips_model)
        if name == ORACLE:  # how much of each scored frame the ground-truth map covers
            covered = (rollouts[name].depth > 0).flatten(1).float().mean(1)
            metrics[name]["revisit_coverage"] = _mean(float(covered[r.frame]) for r in scored)
        if progress is not None:
            progress.update(1)
    pairs = [(r.earlier_frame, r.frame) for r in scored if r.earlier_frame >= c]
    entry = {
        "scene": episode.scene,
        "trajectory": episode.trajectory,
        "num_frames": len(cams),
        "context_frames": c,
        "dynamic": episode.dynamic,
        "revisit_frames": [r.frame for r in scored],
        "revisits": [[r.frame, r.earlier_frame, round(r.covisibility, 4)] for r in found],
        "away_frames": away_frames(matrix, scored, min_covisibility),
        "reference": {
            "warp_psnr": _nanmean(warp_consistency(gt[c - 1 :], gt_depth[c - 1 :], cams[c - 1 :])),
            "revisit_psnr_vs_first_visit": _pair_psnr(gt, gt_depth, cams, pairs),
        },
        "variants": metrics,
    }
    return entry, rollouts


# ---------------------------------------------------------------------------------------------- outputs
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "clip"


def _write_episode_video(out_dir: Path, entry: dict, episode: Episode, rollouts: dict[str, Rollout]) -> str | None:
    from worldmem.utils.video import side_by_side, write_video

    black = torch.zeros_like(episode.frames)
    full, working = rollouts.get("full"), rollouts.get("working_only")
    panels = [episode.frames,
              full.frames if full is not None else black,
              working.frames if working is not None else black,
              full.memory_render if full is not None and full.memory_render is not None else black,
              rollouts[ORACLE].frames if ORACLE in rollouts else black]
    rel = f"videos/{_slug(entry['scene'])}_{_slug(entry['trajectory'])}.mp4"
    (out_dir / "videos").mkdir(parents=True, exist_ok=True)
    write_video(out_dir / rel, side_by_side(*panels), fps=6)
    return rel


def _notes(results: dict) -> list[tuple[str, list[str]]]:
    cfg, ref = results["config"], results.get("reference", {})

    def fmt(x, unit=" dB"):
        return "n/a" if x is None else f"{x:.2f}{unit}"

    protocol = [
        f"Given frames: the first {cfg['context_rule']} of each path (ground truth, fused into the memory); the "
        "rest is generated along the ground-truth cameras and scored against the ground truth. PSNR/SSIM per "
        "frame are null on the given frames.",
        f"Revisit frames: find_revisits on ground-truth depth and cameras, covisibility >= "
        f"{cfg['min_covisibility']}, min_gap {cfg['min_gap']} frames (>= working window {cfg['working_window']} "
        f"+ chunk {cfg['chunk_size']}); only generated revisit frames are scored.",
        "PSNR vs 1st visit: the frame generated at the first visit, warped into the revisit view with the "
        "ground-truth depth and cameras, PSNR on covered pixels (only when the first visit was generated).",
        f"oracle: the spatial memory rendered from ground truth (every ground-truth frame before the chunk), "
        f"uncovered pixels filled with {cfg['oracle_fill']}; its depth AbsRel counts covered pixels only.",
        f"Videos: {' | '.join(VIDEO_PANELS)}.",
    ]
    reference = [f"Ground truth warp PSNR (the camera-following ceiling): {fmt(ref.get('warp_psnr'))}",
                 f"Ground truth PSNR vs 1st visit (same pairs): {fmt(ref.get('revisit_psnr_vs_first_visit'))}"]
    excursions = [s for s in results["scenes"] if s["trajectory"] == "excursion"]
    if excursions:
        aways = [s["away_frames"] for s in excursions if s["away_frames"] is not None]
        reference.append(f"Excursions stay away {min(aways) if aways else 'n/a'} frames at least before returning "
                         f"(required: {AWAY_FACTOR} x working window = {AWAY_FACTOR * cfg['working_window']}).")
    return [("Protocol", protocol), ("Reference", reference)]


def _append_notes(results: dict, paths: dict) -> None:
    import html

    sections = _notes(results)
    md = "\n".join(f"\n## {title}\n\n" + "\n".join(f"- {line}" for line in lines) for title, lines in sections)
    paths["markdown"].write_text(paths["markdown"].read_text() + md + "\n")
    page = paths["html"].read_text()
    block = "".join(f"<h2>{html.escape(title)}</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines)
                    + "</ul>\n" for title, lines in sections)
    paths["html"].write_text(page.replace("</body></html>", block + "</body></html>"))


# ---------------------------------------------------------------------------------------------- command
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, required=True, help="a saved WorldMemPipeline folder")
    p.add_argument("--out", type=Path, required=True, help="output folder (results.json, report.*, videos/)")
    p.add_argument("--scenes", type=int, default=None,
                   help=f"synthetic scenes (default {DEFAULT_SCENES}); with --source at most this many clips")
    p.add_argument("--seed", type=int, default=None, help="first held-out scene seed (default EVAL_SEEDS.start)")
    p.add_argument("--trajectories", default=None,
                   help=f"comma-separated paths (default {','.join(DEFAULT_TRAJECTORIES)}); also orbit, keys:WASD..")
    p.add_argument("--num-frames", type=int, default=DEFAULT_NUM_FRAMES, help="frames per path (given + generated)")
    p.add_argument("--context-frames", type=int, default=None, help="given ground-truth frames (default: half)")
    p.add_argument("--steps", type=int, default=8, help="denoising steps per chunk")
    p.add_argument("--lpips-weights", type=Path, default=None, help="torchvision AlexNet state_dict for LPIPS")
    p.add_argument("--source", default=None, help="KIND:PATH of a curation reader instead of synthetic scenes")
    p.add_argument("--depth-dir", default=None, help="depth .npy folder for sources without depth (realestate10k)")
    p.add_argument("--frame-stride", type=int, default=1, help="with --source: keep every n-th frame")
    p.add_argument("--variants", default=",".join(VARIANT_NAMES), help="comma-separated subset of the variants")
    p.add_argument("--min-gap", type=int, default=None,
                   help="revisit min_gap G (default max(8, working window + chunk size))")
    p.add_argument("--min-covisibility", type=float, default=DEFAULT_MIN_COVISIBILITY, help="revisit threshold X")
    p.add_argument("--noise-seed", type=int, default=0, help="noise seed, the same for every variant")
    p.add_argument("--oracle-fill", choices=("working_mean", "black"), default="working_mean",
                   help="what the oracle shows where the map has nothing")


def _load_pipe(checkpoint: Path):
    if not checkpoint.is_dir():
        raise RevisitError(f"--checkpoint: no such folder {checkpoint}")
    if not (checkpoint / "model_index.json").is_file():
        raise RevisitError(f"--checkpoint: no model_index.json in {checkpoint} (expected a saved WorldMemPipeline)")
    from diffusers.utils import logging as diffusers_logging

    from worldmem.pipelines import WorldMemPipeline

    diffusers_logging.disable_progress_bar()
    try:
        pipe = WorldMemPipeline.from_pretrained(str(checkpoint))
    except Exception as err:  # noqa: BLE001 - any loading failure is a bad input, reported in one line
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise RevisitError(f"--checkpoint: could not load {checkpoint}: {first}") from None
    finally:
        diffusers_logging.enable_progress_bar()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _validate(args) -> tuple[list[str], list[str]]:
    from worldmem.data.readers.synthetic import EVAL_SEEDS

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANT_NAMES]
    if unknown or not variants:
        raise RevisitError(f"--variants: unknown {unknown or args.variants!r}; expected some of {', '.join(VARIANT_NAMES)}")
    if args.source is not None and args.trajectories is not None:
        raise RevisitError("--trajectories: not used with --source (each clip is its own recorded path)")
    names = [t.strip() for t in (args.trajectories or ",".join(DEFAULT_TRAJECTORIES)).split(",") if t.strip()]
    if not names:
        raise RevisitError("--trajectories: expected at least one name")
    if args.num_frames < 4:
        raise RevisitError(f"--num-frames: expected >= 4, got {args.num_frames}")
    for name in names:
        _check_trajectory_name(name, args.num_frames)
    if args.scenes is not None and args.scenes < 1:
        raise RevisitError(f"--scenes: expected >= 1, got {args.scenes}")
    c = args.context_frames
    if c is not None and not 1 <= c < args.num_frames:
        raise RevisitError(f"--context-frames: expected 1 .. --num-frames - 1 ({args.num_frames - 1}), got {c}")
    if args.steps < 1:
        raise RevisitError(f"--steps: expected >= 1, got {args.steps}")
    if args.frame_stride < 1:
        raise RevisitError(f"--frame-stride: expected >= 1, got {args.frame_stride}")
    if not 0.0 < args.min_covisibility <= 1.0:
        raise RevisitError(f"--min-covisibility: expected a value in (0, 1], got {args.min_covisibility}")
    if args.min_gap is not None and args.min_gap < 1:
        raise RevisitError(f"--min-gap: expected >= 1, got {args.min_gap}")
    if args.source is None:
        seed = EVAL_SEEDS.start if args.seed is None else args.seed
        last = seed + (args.scenes or DEFAULT_SCENES) - 1
        if seed not in EVAL_SEEDS or last not in EVAL_SEEDS:
            raise RevisitError(f"--seed: scenes {seed}..{last} leave the held-out range EVAL_SEEDS "
                               f"({EVAL_SEEDS.start}..{EVAL_SEEDS.stop - 1})")
        args.seed = seed
    if args.lpips_weights is not None and not args.lpips_weights.is_file():
        raise RevisitError(f"--lpips-weights: no such file {args.lpips_weights}")
    return variants, names


def run(args) -> dict:
    """Runs the benchmark for parsed ``args`` and writes every output; raises :class:`RevisitError`."""
    from tqdm.auto import tqdm

    from eval.lpips import MIN_SIZE, load_lpips
    from eval.report import print_summary_table, save_results, summarize, write_report
    from worldmem.data.clip import ClipError

    variants, names = _validate(args)
    pipe = _load_pipe(args.checkpoint)
    factor = pipe.codec.spatial_factor
    size = (pipe.transformer.base.config.sample_height * factor, pipe.transformer.base.config.sample_width * factor)
    chunk, window = int(pipe.config.chunk_size), int(pipe.config.working_window)
    min_gap = args.min_gap if args.min_gap is not None else max(DEFAULT_MIN_GAP, window + chunk)
    lpips_model, lpips_reason = None, "no AlexNet weights given (pass --lpips-weights PATH to a torchvision alexnet state_dict)"
    if args.lpips_weights is not None:
        lpips_model, lpips_reason = load_lpips(args.lpips_weights, resize=64 if min(size) < MIN_SIZE else None)
        if lpips_model is None:
            raise RevisitError(f"--lpips-weights: {lpips_reason}")

    if args.source is None:
        if size[0] != size[1]:
            raise RevisitError(f"--checkpoint: synthetic paths need square frames, the model makes {size}; use --source")
        seeds = list(range(args.seed, args.seed + (args.scenes or DEFAULT_SCENES)))
        episodes = synthetic_episodes(seeds, names, args.num_frames, size[0], args.context_frames)
        total = len(seeds) * len(names)
        scene_ids: list = seeds
    else:
        refs, load = source_clips(args.source, args.scenes, size, args.num_frames, args.frame_stride, args.depth_dir)
        total, scene_ids = len(refs), [r.clip_id for r in refs]

        def from_source() -> Iterator[Episode]:
            for ref in refs:
                try:
                    clip = load(ref)
                except (ClipError, ValueError, OSError) as err:
                    tqdm.write(f"{PROG}: skipping clip {ref.clip_id}: {' '.join(str(err).split())}", file=sys.stderr)
                    yield None
                    continue
                n = min(len(clip), args.num_frames)
                c = args.context_frames if args.context_frames is not None else n // 2
                if not 1 <= c < n:
                    tqdm.write(f"{PROG}: skipping clip {ref.clip_id}: {n} frames, cannot give {c}", file=sys.stderr)
                    yield None
                    continue
                yield Episode(f"{ref.source}:{ref.clip_id}", "recorded", clip.frames[:n].float(),
                              clip.depth[:n].float(), clip.cameras[:n], c, None)

        episodes = from_source()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scenes, skipped = [], []
    bar = tqdm(total=total * len(variants), desc="revisit", unit="rollout", dynamic_ncols=True)
    with bar:
        for k in range(total):
            episode = next(episodes)
            if episode is None:
                skipped.append(scene_ids[k])
                bar.update(len(variants))
                continue
            if not (episode.depth[: episode.context] > 0).any():
                tqdm.write(f"{PROG}: skipping {episode.scene}: no known depth in the given frames", file=sys.stderr)
                skipped.append(episode.scene)
                bar.update(len(variants))
                continue
            entry, rollouts = evaluate_episode(pipe, episode, variants, args.steps, args.noise_seed, min_gap,
                                               args.min_covisibility, lpips_model, args.oracle_fill, progress=bar)
            if episode.trajectory == "excursion":
                away = entry["away_frames"]
                entry["away_ok"] = away is not None and away >= AWAY_FACTOR * window
                if not entry["away_ok"]:
                    tqdm.write(f"{PROG}: warning: {episode.scene} excursion stays away {away} frames, less than "
                               f"{AWAY_FACTOR} x working window ({AWAY_FACTOR * window}); use more --num-frames",
                               file=sys.stderr)
            if not entry["revisit_frames"]:
                tqdm.write(f"{PROG}: note: {episode.scene} {episode.trajectory}: no generated revisit frame",
                           file=sys.stderr)
            entry["video"] = _write_episode_video(out, entry, episode, rollouts)
            scenes.append(entry)
    if not scenes:
        raise RevisitError(f"no scene could be evaluated ({len(skipped)} skipped)")

    results = {
        "config": {
            "checkpoint": str(args.checkpoint), "source": args.source or "synthetic",
            "seeds": scene_ids if args.source is None else None, "clips": None if args.source is None else scene_ids,
            "dynamic_scenes": "scene k has moving objects when k % 3 == 2" if args.source is None else None,
            "trajectories": names if args.source is None else ["recorded"], "num_frames": args.num_frames,
            "context_frames": args.context_frames,
            "context_rule": f"{args.context_frames} frames" if args.context_frames is not None else "half (F // 2)",
            "steps": args.steps, "noise_seed": args.noise_seed, "variants": variants, "image_size": list(size),
            "chunk_size": chunk, "working_window": window, "min_gap": min_gap,
            "min_covisibility": args.min_covisibility, "oracle_fill": args.oracle_fill,
            "away_required_frames": AWAY_FACTOR * window, "video_panels": list(VIDEO_PANELS),
            "skipped": skipped,
        },
        "scenes": scenes,
        "lpips": {"available": lpips_model is not None, "reason": lpips_reason},
    }
    results["summary"] = summarize(results)
    results["reference"] = {key: _mean(s["reference"][key] for s in scenes)
                            for key in ("warp_psnr", "revisit_psnr_vs_first_visit")}
    save_results(results, out / "results.json")
    paths = write_report(results, out)
    _append_notes(results, paths)
    print()
    print_summary_table(results)
    ref = results["reference"]["warp_psnr"]
    print(f"ground truth warp PSNR (ceiling): {'n/a' if ref is None else f'{ref:.2f} dB'}")
    print(f"wrote {out}/results.json, report.md, report.html, psnr_per_frame.png, videos/ ({len(scenes)} rollouts)")
    return results


def main(args, parser: argparse.ArgumentParser) -> int:
    try:
        run(args)
    except RevisitError as err:
        parser.exit(2, f"{PROG}: error: {err}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(prog=PROG)
    add_arguments(p)
    sys.exit(main(p.parse_args(), p))
