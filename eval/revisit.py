"""``python -m eval revisit``: the revisit-consistency benchmark (the command: arguments, checks, run, outputs).

    python -m eval revisit (--checkpoint DIR | --model MODULE:FACTORY [--name NAME] [--image-size N]) --out DIR
        [--protocol recall|cycle|given-half] [--scenes N] [--seed S]
        [--trajectories NAMES] [--num-frames F] [--context-frames C] [--steps K]
        [--lpips-weights PATH] [--source KIND:PATH [--depth-dir DIR] [--frame-stride N]]
        [--variants full,working_only,episodic,spatial,oracle] [--min-gap G] [--min-covisibility X]
        [--noise-seed S] [--oracle-fill working_mean|black] [generation.KEY=VALUE ...]

Protocol (docs/evaluation.md has the full text; :mod:`eval.protocols` the rules):

- ``--protocol recall`` (default): 2 given frames (1-2 allowed), retracing paths (``out-and-back``,
  ``arc-and-back``, ``turn-and-back``; frame T-1-i has frame i's camera) of 48 frames; same-pose PSNR between
  the way out and the way back, PSNR vs ground truth on the covered return frames. ``cycle``: the same with
  104-frame cycles, reported at horizons of 25, 50 and 100 frames. ``given-half``: the first half given
  (C = F // 2), paths ``out-and-back``, ``loop``, ``excursion`` (see :data:`AWAY_FACTOR`). Every protocol: a
  drift curve and the sharpness;
- scenes: ``--scenes`` held-out synthetic scenes, seeds ``--seed``, ``--seed + 1``, ... from
  :data:`~worldmem.data.readers.synthetic.EVAL_SEEDS` (never a training seed); scene ``k`` has moving objects
  when ``k % 3 == 2``. Or (given-half only) ``--source KIND:PATH``: the clips of any curation reader, each clip
  one "recorded" path (:mod:`eval.episodes`);
- the given frames are ground truth; the rest is generated along the ground-truth cameras
  (:mod:`eval.scoring`). Every variant uses the same noise seed;
- revisit frames and same-pose pairs are at least ``min_gap`` frames apart: given-half max(8, working window +
  chunk size), recall and cycle max(8, working window + chunk size + 1), so the earlier view is never in the
  working window. Only generated frames are scored.

``--model MODULE:FACTORY`` scores any model of the adapter protocol (:mod:`eval.adapter`; e.g. the baselines of
:mod:`eval.baselines`) instead of a checkpoint: one variant, named after the factory (or ``--name``), scored by the
same code.

Everything is written into a temporary folder next to ``--out`` and renamed into place at the end.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

from eval.episodes import (
    DEFAULT_TRAJECTORIES,
    Episode,
    RevisitError,
    check_trajectory_name,
    dynamic_scenes_rule,
    protocol_options,
    source_episodes,
    synthetic_episodes,
)
from eval.protocol_report import AWAY_FACTOR, VIDEO_PANELS, format_headline
from eval.protocols import DEFAULT_CONTEXT, DEFAULT_NUM_FRAMES, MAX_CONTEXT, MIN_CYCLE_FRAMES, PROTOCOLS, RETRACING_PATHS
from eval.revisit_detect import DEFAULT_MIN_COVISIBILITY
from eval.scoring import evaluate_episode
from eval.variants import ORACLE, VARIANT_NAMES, Rollout
from worldmem.geometry.paths import DEFAULT_BOX, PATH_NAMES, make_path, retraces
from worldmem.metrics import default_min_gap
from worldmem.utils.cli_errors import add_overrides

__all__ = ["DEFAULT_TRAJECTORIES", "AWAY_FACTOR", "RevisitError", "add_arguments", "default_paths", "run"]

DEFAULT_SCENES = 6
PROG = "python -m eval revisit"


def default_paths(protocol: str) -> tuple[str, ...]:
    """The paths a protocol runs when ``--trajectories`` is not given."""
    return DEFAULT_TRAJECTORIES if protocol == "given-half" else RETRACING_PATHS


# ---------------------------------------------------------------------------------------------- outputs
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "clip"


def _write_episode_video(out_dir: Path, entry: dict, episode: Episode, rollouts: dict[str, Rollout]) -> str | None:
    from worldmem.utils.video import side_by_side, write_video

    black = torch.zeros_like(episode.frames)
    if "full" not in rollouts and "working_only" not in rollouts and ORACLE not in rollouts:  # --model
        panels = [episode.frames, *(r.frames for r in rollouts.values())]
        rel = f"videos/{_slug(entry['scene'])}_{_slug(entry['trajectory'])}.mp4"
        (out_dir / "videos").mkdir(parents=True, exist_ok=True)
        write_video(out_dir / rel, side_by_side(*panels), fps=6)
        return rel
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


# ---------------------------------------------------------------------------------------------- command
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, default=None, help="a saved WorldMemPipeline folder")
    p.add_argument("--model", default=None,
                   help="MODULE:FACTORY of a model with generate(given_frames, given_depth, cameras, generator) "
                        "(eval/adapter.py; e.g. eval.baselines:repeat_last, my_model.py:make_model); "
                        "instead of --checkpoint")
    p.add_argument("--name", default=None, help="with --model: the variant's name (default: the factory's name)")
    p.add_argument("--image-size", type=int, default=None,
                   help="with --model: the frame size (default: the model's frame_size, else 32, the shipped "
                        "model's)")
    p.add_argument("--out", type=Path, required=True, help="output folder (results.json, report.*, videos/)")
    p.add_argument("--protocol", default="recall",
                   help=f"one of {', '.join(PROTOCOLS)} (default recall; docs/evaluation.md)")
    p.add_argument("--scenes", type=int, default=None,
                   help=f"synthetic scenes (default {DEFAULT_SCENES}); with --source at most this many clips")
    p.add_argument("--seed", type=int, default=None, help="first held-out scene seed (default EVAL_SEEDS.start)")
    p.add_argument("--trajectories", default=None,
                   help=f"comma-separated registry paths (default: recall and cycle {','.join(RETRACING_PATHS)}; "
                        f"given-half {','.join(DEFAULT_TRAJECTORIES)}; any of {', '.join(PATH_NAMES)}; docs/paths.md)")
    p.add_argument("--num-frames", type=int, default=None,
                   help="frames per path, given + generated (default: recall 48, cycle 104, given-half 48)")
    p.add_argument("--context-frames", type=int, default=None,
                   help="given ground-truth frames (default: recall and cycle 2, 1-2 allowed; given-half half)")
    p.add_argument("--steps", type=int, default=8, help="denoising steps per chunk")
    p.add_argument("--lpips-weights", type=Path, default=None, help="torchvision AlexNet state_dict for LPIPS")
    p.add_argument("--source", default=None,
                   help="KIND:PATH of a curation reader instead of synthetic scenes (--protocol given-half)")
    p.add_argument("--depth-dir", default=None, help="depth .npy folder for sources without depth (realestate10k)")
    p.add_argument("--frame-stride", type=int, default=1, help="with --source: keep every n-th frame")
    p.add_argument("--variants", default=None,
                   help=f"comma-separated subset of the variants (default {','.join(VARIANT_NAMES)}; not with --model)")
    p.add_argument("--min-gap", type=int, default=None,
                   help="min_gap G of revisits and same-pose pairs (default max(8, working window + chunk size), "
                        "+1 for recall and cycle)")
    p.add_argument("--min-covisibility", type=float, default=DEFAULT_MIN_COVISIBILITY, help="revisit threshold X")
    p.add_argument("--noise-seed", type=int, default=0, help="noise seed, the same for every variant")
    p.add_argument("--oracle-fill", choices=("working_mean", "black"), default="working_mean",
                   help="what the oracle shows where the map has nothing")
    add_overrides(p, help="override the checkpoint's generation settings (worldmem.pipelines.GenerationConfig), "
                          "e.g. generation.write_gate.mode=new generation.write_gate.margin=2 "
                          "generation.render_anchor=0.5 generation.memory_config.spatial.sky_resolution=0 "
                          "(docs/models.md)")


def _load_pipe(checkpoint: Path):
    if not checkpoint.is_dir():
        raise RevisitError(f"--checkpoint: no such folder {checkpoint}")
    if not (checkpoint / "model_index.json").is_file():
        raise RevisitError(f"--checkpoint: no model_index.json in {checkpoint} (expected a saved WorldMemPipeline)")
    from worldmem.pipelines import load_pipeline

    try:
        pipe = load_pipeline(checkpoint)
    except ValueError as err:
        raise RevisitError(f"--checkpoint: {err}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _validate(args) -> tuple[list[str], list[str]]:
    from eval.staging import check_replaceable
    from worldmem.data.readers.synthetic import EVAL_SEEDS

    protocol = args.protocol
    if protocol not in PROTOCOLS:
        raise RevisitError(f"--protocol: unknown {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    few = protocol != "given-half"
    if (args.checkpoint is None) == (args.model is None):
        raise RevisitError("--checkpoint: give exactly one of --checkpoint DIR and --model MODULE:FACTORY")
    if args.model is None:
        for flag, value in (("--name", args.name), ("--image-size", args.image_size)):
            if value is not None:
                raise RevisitError(f"{flag}: only with --model")
    else:
        if args.variants is not None:
            raise RevisitError("--variants: not with --model (the model is the one variant)")
        if args.overrides:
            raise RevisitError(f"--model: generation overrides apply to --checkpoint only, got {args.overrides[0]}")
        if args.image_size is not None and args.image_size < 8:
            raise RevisitError(f"--image-size: expected >= 8, got {args.image_size}")
        if args.name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
            raise RevisitError(f"--name: expected letters, digits, '_', '.', '-', got {args.name!r}")
        from eval.adapter import model_name

        args.variants = args.name or model_name(args.model)
    if args.variants is None:
        args.variants = ",".join(VARIANT_NAMES)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANT_NAMES and args.model is None]
    if unknown or not variants:
        raise RevisitError(f"--variants: unknown {unknown or args.variants!r}; expected some of {', '.join(VARIANT_NAMES)}")
    if args.source is not None and few:
        raise RevisitError(f"--source: only with --protocol given-half (recorded clips do not retrace their "
                           f"cameras, which --protocol {protocol} needs)")
    if args.source is not None and args.trajectories is not None:
        raise RevisitError("--trajectories: not used with --source (each clip is its own recorded path)")
    names = [t.strip() for t in (args.trajectories or ",".join(default_paths(protocol))).split(",") if t.strip()]
    if not names:
        raise RevisitError("--trajectories: expected at least one name")
    if args.num_frames is None:
        args.num_frames = DEFAULT_NUM_FRAMES[protocol]
    if args.num_frames < 4:
        raise RevisitError(f"--num-frames: expected >= 4, got {args.num_frames}")
    from worldmem.pipelines.cost import MAX_RUN_FRAMES, MAX_SCENES, MAX_STEPS

    for flag, value, most, name in (("--scenes", args.scenes, MAX_SCENES, "MAX_SCENES"),
                                    ("--num-frames", args.num_frames, MAX_RUN_FRAMES, "MAX_RUN_FRAMES"),
                                    ("--steps", args.steps, MAX_STEPS, "MAX_STEPS")):
        if value is not None and value > most:
            raise RevisitError(f"{flag}: expected at most {most} ({name}; docs/evaluation.md), got {value}")
    if protocol == "cycle" and args.num_frames < MIN_CYCLE_FRAMES:
        raise RevisitError(f"--num-frames: a cycle has >= {MIN_CYCLE_FRAMES} frames, got {args.num_frames}")
    for name in names:
        check_trajectory_name(name, args.num_frames)
        if few and not retraces(make_path(name, DEFAULT_BOX, args.num_frames, 8, 8)):
            raise RevisitError(f"--trajectories: {name!r} does not come back along its own cameras (frame T-1-i = "
                               f"frame i), which --protocol {protocol} needs; e.g. {', '.join(RETRACING_PATHS)}, "
                               "walk-and-retrace")
    if args.scenes is not None and args.scenes < 1:
        raise RevisitError(f"--scenes: expected >= 1, got {args.scenes}")
    if args.context_frames is None:
        args.context_frames = DEFAULT_CONTEXT[protocol]
    c = args.context_frames
    if few and c is not None and not 1 <= c <= MAX_CONTEXT:
        raise RevisitError(f"--context-frames: expected 1 .. {MAX_CONTEXT} with --protocol {protocol} (few given "
                           f"frames), got {c}")
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
    source_folder = args.source.split(":", 1)[1] if args.source and ":" in args.source else None
    model_file = args.model.rsplit(":", 1)[0] if args.model and ".py:" in args.model else None
    why = check_replaceable(Path(args.out), {"--checkpoint": args.checkpoint, "--model": model_file,
                                             "--lpips-weights": args.lpips_weights,
                                             "--source": source_folder, "--depth-dir": args.depth_dir})
    if why is not None:
        raise RevisitError(why if why.startswith("--out") else f"--out: {why}")
    return variants, names


def _announce(pipe, args, rollouts: int, variants: int) -> None:
    """Prints what the benchmark will cost (:mod:`worldmem.pipelines.cost`) before the first rollout."""
    from worldmem.pipelines.cost import duration, pipeline_estimate

    given = args.context_frames if args.context_frames is not None else args.num_frames // 2
    cost = pipeline_estimate(pipe, args.num_frames - given, args.steps, given_frames=given)
    print(f"{PROG}: {rollouts} paths x {variants} variants; each {cost.line()}; in all roughly "
          f"{duration(rollouts * variants * cost.seconds)}", flush=True)


def _min_gap(args, window: int, chunk: int) -> int:
    """G: given-half max(8, W + chunk); recall and cycle pairs must lie further apart than W + chunk."""
    few = args.protocol != "given-half"
    gap = default_min_gap(window, chunk, same_pose=few) if args.min_gap is None else args.min_gap
    if few and gap <= window + chunk:
        raise RevisitError(f"--min-gap: --protocol {args.protocol} pairs lie further apart than working window "
                           f"+ chunk ({window} + {chunk}), got {gap}")
    if few and args.num_frames - 1 - 2 * args.context_frames < gap:
        raise RevisitError(f"--num-frames: {args.num_frames} frames from {args.context_frames} given leave no "
                           f"same-pose pair {gap} frames apart")
    return gap


def _rollouts(args, pipe, out: Path, episodes, total: int, scene_ids: list, variants: list[str], min_gap: int,
              lpips_model, window: int | None, models: dict | None = None) -> tuple[list[dict], list]:
    from tqdm.auto import tqdm

    scenes, skipped = [], []
    bar = tqdm(total=total * len(variants), desc=f"revisit {args.protocol}", unit="rollout", dynamic_ncols=True)
    with bar:
        for k in range(total):
            episode = next(episodes)
            if episode is None or not (episode.depth[: episode.context] > 0).any():
                if episode is not None:
                    tqdm.write(f"{PROG}: skipping {episode.scene}: no known depth in the given frames", file=sys.stderr)
                skipped.append(scene_ids[k] if episode is None else episode.scene)
                bar.update(len(variants))
                continue
            entry, rollouts = evaluate_episode(pipe, episode, variants, args.steps, args.noise_seed, min_gap,
                                               args.min_covisibility, lpips_model, args.oracle_fill, progress=bar,
                                               protocol=args.protocol, models=models)
            if episode.trajectory == "excursion" and window is not None:
                away = entry["away_frames"]
                entry["away_ok"] = away is not None and away >= AWAY_FACTOR * window
                if not entry["away_ok"]:
                    tqdm.write(f"{PROG}: warning: {episode.scene} excursion stays away {away} frames, less than "
                               f"{AWAY_FACTOR} x working window ({AWAY_FACTOR * window}); use more --num-frames",
                               file=sys.stderr)
            if args.protocol == "given-half" and not entry["revisit_frames"]:
                tqdm.write(f"{PROG}: note: {episode.scene} {episode.trajectory}: no generated revisit frame",
                           file=sys.stderr)
            for h, pairs in entry.get("horizon_pairs", {}).items():
                if not pairs:
                    tqdm.write(f"{PROG}: note: {episode.scene} {episode.trajectory}: no pair near horizon {h}",
                               file=sys.stderr)
            entry["video"] = _write_episode_video(out, entry, episode, rollouts)
            scenes.append(entry)
    return scenes, skipped


def run(args) -> dict:
    """Runs the benchmark for parsed ``args`` and writes every output; raises :class:`RevisitError`."""
    from eval.lpips import MIN_SIZE, load_lpips
    from eval.report import print_summary_table
    from eval.report_folder import complete, write_folder
    from eval.staging import REPORT_MARKER
    from worldmem.pipelines import generation_from
    from worldmem.utils.config import ConfigError
    from worldmem.utils.io import atomic_directory

    variants, names = _validate(args)
    models = None
    if args.model is None:
        pipe = _load_pipe(args.checkpoint)
        try:  # the checkpoint's settings with the command's generation.KEY=VALUE overrides
            pipe.set_generation(generation_from(pipe, args.overrides))
        except ConfigError as err:
            raise RevisitError(str(err)) from None
        gen = pipe.generation
        size = pipe.frame_size
        chunk, window = gen.chunk_size, gen.working_window
    else:
        from eval.adapter import DEFAULT_IMAGE_SIZE, load_model, model_settings

        pipe, gen = None, None
        model = load_model(args.model)
        settings = model_settings(model)
        models = {variants[0]: model}
        chunk, window = settings["chunk_size"], settings["working_window"]
        size = settings["frame_size"] or (args.image_size or DEFAULT_IMAGE_SIZE,) * 2
        if args.image_size is not None and tuple(size) != (args.image_size,) * 2:
            raise RevisitError(f"--image-size: the model makes {size[0]}x{size[1]} frames (its frame_size), "
                               f"got {args.image_size}")
    min_gap = _min_gap(args, window or 0, chunk or 0)
    lpips_model, lpips_reason = None, "no AlexNet weights given (pass --lpips-weights PATH to a torchvision alexnet state_dict)"
    if args.lpips_weights is not None:
        lpips_model, lpips_reason = load_lpips(args.lpips_weights, resize=64 if min(size) < MIN_SIZE else None)
        if lpips_model is None:
            raise RevisitError(f"--lpips-weights: {lpips_reason}")

    if args.source is None:
        if size[0] != size[1]:
            flag = "--checkpoint" if pipe is not None else "--model"
            raise RevisitError(f"{flag}: synthetic paths need square frames, the model makes {size}; use --source")
        seeds = list(range(args.seed, args.seed + (args.scenes or DEFAULT_SCENES)))
        episodes = synthetic_episodes(seeds, names, args.num_frames, size[0], args.context_frames,
                                      **protocol_options(args.protocol))
        total, scene_ids = len(seeds) * len(names), seeds
    else:
        episodes, scene_ids = source_episodes(args.source, args.scenes, size, args.num_frames, args.frame_stride,
                                              args.depth_dir, args.context_frames, PROG)
        total = len(scene_ids)

    if pipe is not None:
        _announce(pipe, args, total, len(variants))
    else:
        print(f"{PROG}: {total} paths x model {variants[0]} ({args.model})", flush=True)
    out, made = Path(args.out), {}

    def fill(stage: Path) -> None:  # the whole report folder, renamed to --out only once complete
        scenes, skipped = _rollouts(args, pipe, stage, episodes, total, scene_ids, variants, min_gap, lpips_model,
                                    window, models)
        if not scenes:
            raise RevisitError(f"no scene could be evaluated ({len(skipped)} skipped)")
        c = args.context_frames
        results = {
            "config": {
                "checkpoint": None if args.checkpoint is None else str(args.checkpoint), "model": args.model,
                "protocol": args.protocol, "source": args.source or "synthetic",
                "seeds": scene_ids if args.source is None else None, "clips": None if args.source is None else scene_ids,
                "dynamic_scenes": dynamic_scenes_rule(args.protocol) if args.source is None else None,
                "trajectories": names if args.source is None else ["recorded"], "num_frames": args.num_frames,
                "context_frames": c, "context_rule": f"{c} frames" if c is not None else "half (F // 2)",
                "steps": args.steps if gen is not None else None,
                "write_gate": gen.write_gate.mode if gen is not None else None,
                "write_margin": gen.write_gate.margin if gen is not None else None,
                "render_anchor": gen.render_anchor if gen is not None else None, "noise_seed": args.noise_seed,
                "sky_resolution": gen.memory_config.spatial.sky_resolution if gen is not None else None,
                "overrides": list(args.overrides),
                "variants": variants, "image_size": list(size),
                "chunk_size": chunk, "working_window": window, "min_gap": min_gap,
                "min_covisibility": args.min_covisibility, "oracle_fill": args.oracle_fill,
                "away_required_frames": None if window is None else AWAY_FACTOR * window,
                "video_panels": list(VIDEO_PANELS) if models is None else ["ground truth", *variants],
                "skipped": skipped,
            },
            "scenes": scenes,
            "lpips": {"available": lpips_model is not None, "reason": lpips_reason},
        }
        write_folder(complete(results), stage)
        made["results"] = results

    atomic_directory(out, fill, marker=REPORT_MARKER)
    results, scenes = made["results"], made["results"]["scenes"]
    print()
    print(format_headline(results))
    print()
    print("ablation (revisit frames vs ground truth):")
    print_summary_table(results)
    ref = results["reference"]["warp_psnr"]
    print(f"ground truth warp PSNR (ceiling): {'n/a' if ref is None else f'{ref:.2f} dB'}")
    print(f"wrote {out}/results.json, report.md, report.html, psnr_per_frame.png, drift_curve.png, videos/ "
          f"({len(scenes)} rollouts)")
    return results
