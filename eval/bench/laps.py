"""``python -m eval.bench.laps --checkpoint DIR [--laps 10] [--out FILE] [generation.KEY=VALUE ...]``.

Does a pipeline keep the world it generates over many passes? The rollout bench's loop (one held-out courtyard,
``eval.bench.rollout.PER_TURN`` frames a turn, the first ``working_window`` frames given, everything after
generated with full memory and the model's own depth written back) for ``--laps`` turns, reporting per lap:

- ``same_pose_psnr_vs_lap2``: lap k's frames against lap 2's at the same poses (a model that keeps its world
  scores the same at lap 10 as at lap 3); ``same_pose_sky_psnr_vs_lap2``: the same on the true sky's pixels;
- ``psnr_vs_ground_truth``: lap k's frames against the scene's true frames;
- ``voxels_at_lap_end`` and ``coverage``: the map's size and the mean share of pixels its render covers;
- ``sky_with_depth``: the share of the true sky's pixels (true depth 0) to which the generated depth gives a
  surface: a map whose edge creeps into the sky raises it lap after lap.

``generation.KEY=VALUE`` overrides the checkpoint's generation settings
(:func:`worldmem.pipelines.generation_from`, as every command that generates), e.g.
``generation.render_anchor=0.5``, ``generation.write_gate.margin=2`` or
``generation.memory_config.spatial.sky_resolution=0`` (the memory's distant layer off), so that the ablation rows
of docs/models.md ("Gate margin") and docs/memory.md (the sky layer) come from this command. It is not a timing:
``python -m eval bench rollout`` is.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

from worldmem.utils.cli_errors import ArgumentParser, UsageError, add_overrides, parse_command, run_command
from worldmem.utils.io import atomic_write_json, output_file_problem

__all__ = ["run_laps", "add_arguments", "run", "main"]


def run_laps(pipe, laps: int, seed: int | None = None) -> dict:
    """The per-lap figures (module docstring) of ``pipe`` with its generation settings (``pipe.generation``; set
    them with ``pipe.set_generation``) on the loop; ``seed`` defaults to the first eval scene."""
    from eval.bench.rollout import PER_TURN, _loop_path
    from eval.metrics import psnr
    from worldmem.data.readers.synthetic import EVAL_SEEDS, render_supersampled
    from worldmem.synthetic import SyntheticScene

    seed = EVAL_SEEDS.start if seed is None else seed
    size = pipe.frame_size[0]  # the synthetic paths are square
    gen = pipe.generation
    context = max(1, gen.working_window)
    scene = SyntheticScene.random(seed=seed, dynamic=False)
    cams = _loop_path(scene, laps * PER_TURN, size, PER_TURN)
    frames, depth, _ = render_supersampled(scene, cams[:context], torch.arange(context, dtype=torch.float32), 3)
    truth, truth_depth = scene.render(cams)
    chunks: list[tuple[int, int, float]] = []  # (last frame, voxels, coverage) per chunk
    n_chunks = -(-(laps * PER_TURN - context) // gen.chunk_size)
    bar = tqdm(total=n_chunks, desc="laps", unit="chunk")

    def on_chunk(_pipe, _index, info):
        ref = info["readout"].reference
        cover = float((ref.mask.bool() & (ref.depth > 0)).float().mean()) if ref is not None else 0.0
        chunks.append((info["start"] + info["frames"].shape[0] - 1, info["memory"].spatial.num_voxels, cover))
        bar.update(1)

    res = pipe(frames=frames, depth=depth, cameras=cams, progress=False, generator=torch.Generator().manual_seed(0),
               callback_on_chunk_end=on_chunk)
    bar.close()
    out_frames, out_depth = res.frames.float(), res.depth.float()
    sky = truth_depth <= 0
    result = {"scene_seed": seed, "laps": laps, "per_turn": PER_TURN, "render_anchor": gen.render_anchor,
              "write_gate": dataclasses.asdict(gen.write_gate),
              "sky_resolution": res.memory.config.spatial.sky_resolution,
              "same_pose_psnr_vs_lap2": {}, "same_pose_sky_psnr_vs_lap2": {}, "psnr_vs_ground_truth": {},
              "voxels_at_lap_end": {}, "coverage": {}, "sky_with_depth": {}}
    for k in range(laps):
        lap = slice(k * PER_TURN, (k + 1) * PER_TURN)
        key = str(k + 1)
        if k >= 2:
            lap2 = out_frames[PER_TURN:2 * PER_TURN]
            result["same_pose_psnr_vs_lap2"][key] = float(psnr(out_frames[lap], lap2).mean())
            m = sky[lap].expand_as(lap2)
            if bool(m.any()):
                mse = ((out_frames[lap] - lap2)[m] ** 2).mean().clamp_min(1e-10)
                result["same_pose_sky_psnr_vs_lap2"][key] = float(-10 * torch.log10(mse))
        result["psnr_vs_ground_truth"][key] = float(psnr(out_frames[lap], truth[lap]).mean())
        in_lap = [c for c in chunks if lap.start <= c[0] < lap.stop]
        if in_lap:
            result["voxels_at_lap_end"][key] = in_lap[-1][1]
            result["coverage"][key] = sum(c[2] for c in in_lap) / len(in_lap)
        s = sky[lap]
        result["sky_with_depth"][key] = float(((out_depth[lap] > 0) & s).sum() / s.sum().clamp_min(1))
    v = result["voxels_at_lap_end"]
    if "2" in v and str(laps) in v:
        result["voxels_last_over_lap2"] = v[str(laps)] / v["2"]
    return result


def add_arguments(parser) -> None:
    """Declares the flags of ``python -m eval.bench.laps`` on ``parser``."""
    parser.add_argument("--checkpoint", type=Path, required=True, help="a saved WorldMemPipeline folder")
    parser.add_argument("--laps", type=int, default=10, help="turns of the loop (at least 3; default 10)")
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/laps.json"), help="json written here")
    add_overrides(parser, help="override the checkpoint's generation settings, e.g. generation.render_anchor=0.5 "
                               "generation.write_gate.margin=2 generation.memory_config.spatial.sky_resolution=0")


def run(args) -> dict:
    """Runs the loop for parsed ``args`` and writes the json; a bad input raises
    :class:`~worldmem.utils.cli_errors.UsageError`."""
    if args.laps < 3:
        raise UsageError(f"--laps: expected at least 3 (lap 3 is compared with lap 2), got {args.laps}")
    problem = output_file_problem(args.out, ".json")
    if problem:
        raise UsageError(f"--out: {problem}")
    from worldmem.pipelines import generation_from, load_pipeline
    from worldmem.utils.config import ConfigError

    try:
        pipe = load_pipeline(args.checkpoint)
    except ValueError as err:
        raise UsageError(f"--checkpoint: {err}") from None
    try:
        pipe.set_generation(generation_from(pipe, args.overrides))
    except ConfigError as err:
        raise UsageError(str(err)) from None
    pipe.set_progress_bar_config(disable=True)
    res = run_laps(pipe, args.laps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, res)
    fmt = lambda d: ", ".join(f"lap {k}: {x:.2f}" for k, x in d.items())  # noqa: E731
    print(f"render_anchor {res['render_anchor']}, write gate {res['write_gate']}, sky_resolution {res['sky_resolution']}")
    print("same-pose PSNR vs lap 2: " + fmt(res["same_pose_psnr_vs_lap2"]))
    print("same-pose PSNR vs lap 2 on the sky: " + fmt(res["same_pose_sky_psnr_vs_lap2"]))
    print("PSNR vs ground truth: " + fmt(res["psnr_vs_ground_truth"]))
    print("map voxels at lap end: " + ", ".join(f"lap {k}: {x}" for k, x in res["voxels_at_lap_end"].items())
          + (f" (lap {args.laps} / lap 2 = {res['voxels_last_over_lap2']:.2f})" if "voxels_last_over_lap2" in res else ""))
    print("coverage: " + fmt(res["coverage"]) + "; sky given a depth: " + fmt(res["sky_with_depth"]))
    print(f"wrote {args.out}")
    return res


def main(argv: list[str] | None = None) -> int:
    """``python -m eval.bench.laps ARGS``."""
    parser = ArgumentParser(prog="python -m eval.bench.laps", description=__doc__.split("\n\n")[1])
    add_arguments(parser)
    return run_command(parser, run, parse_command(parser, argv))


if __name__ == "__main__":
    sys.exit(main())
