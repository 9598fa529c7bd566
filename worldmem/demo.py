"""``make demo``: the memory demo on the synthetic world.

Builds a synthetic scene, walks an out-and-back camera path through it, writes the outward frames into a
:class:`WorldMemory` chunk by chunk, renders the memory at the returning views, and writes to ``--out``:
``memory_demo.mp4`` (ground truth | memory render | coverage), ``memory.ply`` (the map's coloured surface
points), ``memory/`` (the saved memory state) and ``summary.json``; it prints the render PSNR on covered
pixels and the coverage.

With a trained generator (``checkpoints/worldmem-tiny``), it also runs view recall on a held-out scene: from
2 given frames it generates an out-and-back video (the way back retraces the way out's cameras) with and
without long-term memory, writes ``generation.mp4`` (ground truth | full memory | working memory only) and
prints the same-pose PSNR (way out vs way back) and the PSNR vs ground truth on the covered return frames.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from worldmem.geometry.paths import make_path
from worldmem.geometry.points import write_ply
from worldmem.memory import WorldMemory
from worldmem.metrics import as_one_image, default_min_gap, finite_mean, psnr, same_pose_pairs, same_pose_psnr
from worldmem.synthetic import SyntheticScene
from worldmem.utils.cli_errors import ArgumentParser, UsageError, parse_command, run_command
from worldmem.utils.io import atomic_write_json
from worldmem.utils.video import mask_to_rgb, side_by_side, write_video

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "worldmem-tiny"


def demo_path(scene: SyntheticScene, num_frames: int, size: int):
    """The memory demo's path: the registry's out-and-back across the scene's free box, its view sweeping 90
    degrees on the way out (the generation demo uses the canonical 180, as the benchmark does)."""
    return make_path("out-and-back", scene.free_box, num_frames, size, size, sweep_deg=90.0)


def generation_path(scene: SyntheticScene, num_frames: int, size: int):
    """The generation demo's path: the benchmark's out-and-back (``python -m eval revisit``), the registry's
    canonical one, whose view turns 180 degrees on the way out."""
    return make_path("out-and-back", scene.free_box, num_frames, size, size)


def memory_demo(out: Path, seed: int, num_frames: int, size: int, chunk: int) -> dict:
    """The memory demo into folder ``out``: the outward frames written, the memory rendered at the returning views;
    returns the summary (render PSNR on covered pixels, coverage, map size)."""
    scene = SyntheticScene.random(seed=seed, dynamic=False)
    cams = demo_path(scene, num_frames, size)
    frames, depth = scene.render(cams)
    half = (num_frames + 1) // 2
    # The synthetic world is in metres and the default map sizes (5 cm voxels) are meant in them: no rescaling.
    memory = WorldMemory(scene_scale=1.0)
    t0 = time.perf_counter()
    for s in tqdm(range(0, half, chunk), desc="write outward frames", unit="chunk"):
        memory.write(frames[s:min(s + chunk, half)], depth[s:min(s + chunk, half)], cams[s:min(s + chunk, half)])
    write_s = time.perf_counter() - t0
    back = slice(half, num_frames)
    t0 = time.perf_counter()
    render = memory.render(cams[back])
    read_s = time.perf_counter() - t0
    # PSNR over every covered pixel of the returning views: the clip scored as one image (worldmem.metrics).
    render_psnr = float(psnr(as_one_image(render.rgb), as_one_image(frames[back]), as_one_image(render.mask))[0])
    coverage = float(render.mask.float().mean())
    # Sky pixels (no geometry, ground-truth depth 0) cannot be covered by any map: report both figures.
    surface = depth[back].reshape(render.mask.shape) > 0
    surface_coverage = float((render.mask & surface).sum() / surface.sum().clamp(min=1))

    out.mkdir(parents=True, exist_ok=True)
    panel = side_by_side(frames[back], render.rgb, mask_to_rgb(render.mask))
    write_video(out / "memory_demo.mp4", panel, fps=8)
    pts, cols = memory.surface_points()
    write_ply(out / "memory.ply", pts, cols)
    memory.save(out / "memory")
    summary = {
        "scene_seed": seed,
        "num_frames": num_frames,
        "image_size": size,
        "frames_written": half,
        "returning_frames": num_frames - half,
        "render_psnr_covered_db": round(render_psnr, 2),
        "coverage": round(coverage, 4),
        "surface_coverage": round(surface_coverage, 4),
        "voxels": memory.spatial.num_voxels,
        "surface_points": int(pts.shape[0]),
        "keyframes": len(memory.episodic),
        "write_seconds": round(write_s, 3),
        "read_seconds": round(read_s, 3),
    }
    atomic_write_json(out / "summary.json", summary)
    return summary


RECALL_GIVEN = 2
"""Given frames of the generation demo (the recall protocol of ``python -m eval revisit``)."""
COVERED = 0.5
"""A return frame counts as covered when the given frames' map covers this fraction of its surface pixels."""


def _db(value: float | None) -> float:
    """A figure in dB as the summary stores it: 2 decimals, NaN when there was nothing to score."""
    return float("nan") if value is None else round(value, 2)


def covered_return_frames(pipe, frames: torch.Tensor, depth: torch.Tensor, cams, given: int) -> list[int]:
    """Return-half frames (``t >= (T + 1) // 2``) of which the map of the given frames covers at least
    :data:`COVERED` of the surface pixels: the frames whose ground truth the given frames determine."""
    from worldmem.memory import MemoryConfig

    memory = WorldMemory(MemoryConfig.from_dict(pipe.config.memory_config))
    memory.write(frames[:given], depth[:given], cams[:given])
    back = list(range((len(cams) + 1) // 2, len(cams)))
    mask = memory.render(cams[back]).mask.bool()
    surface = depth[back] > 0
    frac = (mask & surface).flatten(1).sum(1) / surface.flatten(1).sum(1).clamp(min=1)
    return [t for t, f in zip(back, frac.tolist(), strict=True) if f >= COVERED]


def run_generation(checkpoint: Path, out: Path, seed: int, num_frames: int, steps: int) -> dict:
    """View recall on a held-out scene: 2 given frames, out and back, with and without long-term memory.

    Only the first :data:`RECALL_GIVEN` frames of the out-and-back path are given; the rest is generated twice:
    with the full memory, and with the spatial and episodic memory switched off (working window only). Scored
    as ``python -m eval revisit --protocol recall``: the same-pose PSNR between the frame generated on the way
    out and the one generated at the same camera on the way back (pairs further apart than working window +
    chunk), and the PSNR against the ground truth on the covered return frames. Writes ``generation.mp4``
    (ground truth | full memory | working memory only).
    """
    from worldmem.pipelines import load_pipeline

    pipe = load_pipeline(checkpoint)
    size = pipe.frame_size[0]  # the synthetic paths are square
    scene = SyntheticScene.random(seed=seed)
    cams = generation_path(scene, num_frames, size)
    frames, depth = scene.render(cams)
    given = RECALL_GIVEN
    min_gap = default_min_gap(pipe.config.working_window, pipe.config.chunk_size)
    pairs = same_pose_pairs(num_frames, given, min_gap)
    covered = covered_return_frames(pipe, frames, depth, cams, given)
    videos, same, vs_gt = [], {}, {}
    for name, flags in (("full", {}), ("working_only", {"use_spatial": False, "use_episodic": False})):
        result = pipe(frames=frames[:given], depth=depth[:given], cameras=cams, num_inference_steps=steps,
                      generator=torch.Generator().manual_seed(0), **flags)
        gen = result.frames.float()
        videos.append(gen)
        same[name] = same_pose_psnr(gen, pairs)
        vs_gt[name] = finite_mean(psnr(gen[covered], frames[covered]).tolist())
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / "generation.mp4", side_by_side(frames, *videos), fps=8)
    return {"scene_seed": seed, "scene_kind": scene.kind, "num_frames": num_frames, "given_frames": given,
            "image_size": size, "steps": steps, "same_pose_pairs": len(pairs), "min_gap": min_gap,
            "covered_return_frames": covered,
            "same_pose_psnr_full_memory_db": _db(same["full"]),
            "same_pose_psnr_working_only_db": _db(same["working_only"]),
            "return_psnr_covered_full_memory_db": _db(vs_gt["full"]),
            "return_psnr_covered_working_only_db": _db(vs_gt["working_only"])}


DEMO_MARKER = "summary.json"
"""The file every demo folder holds: ``--out`` is replaced only when new, empty, or holding it."""


DESCRIPTION = __doc__.split("\n\n")[0]


def add_arguments(parser) -> None:
    """Declares the demo's flags on ``parser``."""
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"),
                        help="output folder: new, empty, or a previous demo's (holding summary.json)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic scene seed (1 is a room)")
    parser.add_argument("--frames", type=int, default=48, help="frames on the out-and-back path")
    parser.add_argument("--size", type=int, default=128, help="frame height and width in pixels")
    parser.add_argument("--chunk", type=int, default=8, help="frames written per memory write")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="trained pipeline folder")
    parser.add_argument("--generation-seed", type=int, default=None,
                        help="held-out scene for the generation demo (default: the first evaluation seed)")
    parser.add_argument("--generation-frames", type=int, default=48, help="frames of the generated out-and-back (2 given)")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps per chunk")


def run(args) -> None:
    """The demo for parsed ``args``; a bad input raises :class:`~worldmem.utils.cli_errors.UsageError`."""
    if args.frames < 4 or args.size < 16 or args.chunk < 1 or args.generation_frames < 4:
        raise UsageError("expected --frames >= 4, --size >= 16, --chunk >= 1, --generation-frames >= 4")
    from worldmem.utils.io import atomic_directory, overlap_problem, replace_problem

    problem = overlap_problem({"--out": args.out}, {"--checkpoint": args.checkpoint})
    problem = problem or replace_problem(args.out, DEMO_MARKER)
    if problem:
        raise UsageError(problem if problem.startswith("--out") else f"--out: {problem}")
    trained = (args.checkpoint / "model_index.json").is_file()
    if not trained:
        print(f"worldmem: no trained generator in {args.checkpoint}; running the memory demo only.")
    atomic_directory(args.out, lambda stage: _demo(args, stage, trained), marker=DEMO_MARKER)


def main(argv: list[str] | None = None) -> int:
    """``python -m worldmem.demo ARGS`` (also ``worldmem demo ARGS``)."""
    parser = ArgumentParser(prog="python -m worldmem.demo", description=DESCRIPTION)
    add_arguments(parser)
    return run_command(parser, run, parse_command(parser, argv))


def _demo(args, out: Path, trained: bool) -> None:
    """Runs the demos into the staging folder ``out`` (renamed to ``--out`` once complete)."""
    summary = memory_demo(out, args.seed, args.frames, args.size, args.chunk)
    print(f"memory render at the {summary['returning_frames']} returning views: "
          f"PSNR {summary['render_psnr_covered_db']:.2f} dB on covered pixels, coverage {summary['coverage']:.1%} "
          f"({summary['surface_coverage']:.1%} of pixels that show a surface)")
    print(f"map: {summary['voxels']} voxels, {summary['surface_points']} surface points, "
          f"{summary['keyframes']} keyframes; wrote {args.out}/memory_demo.mp4, memory.ply, memory/, summary.json")
    if trained:
        from worldmem.data.readers.synthetic import EVAL_SEEDS

        seed = EVAL_SEEDS.start if args.generation_seed is None else args.generation_seed
        gen = run_generation(args.checkpoint, out, seed, args.generation_frames, args.steps)
        print(f"view recall on held-out scene {seed} ({gen['scene_kind']}, {gen['num_frames']} frames out and back, "
              f"{gen['given_frames']} given, the rest generated): same-pose PSNR (way out vs way back, "
              f"{gen['same_pose_pairs']} pairs >= {gen['min_gap']} frames apart) "
              f"{gen['same_pose_psnr_full_memory_db']:.2f} dB with memory, "
              f"{gen['same_pose_psnr_working_only_db']:.2f} dB with the working window only")
        print(f"  vs ground truth on the {len(gen['covered_return_frames'])} return frames the given frames cover: "
              f"{gen['return_psnr_covered_full_memory_db']:.2f} dB with memory, "
              f"{gen['return_psnr_covered_working_only_db']:.2f} dB with the working window only; "
              f"wrote {args.out}/generation.mp4")
        summary["generation"] = gen
        atomic_write_json(out / DEMO_MARKER, summary)


if __name__ == "__main__":
    sys.exit(main())
