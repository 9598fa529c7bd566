"""``make demo``: the memory demo on the synthetic world.

Builds a synthetic scene, walks an out-and-back camera path through it, writes the outward frames into a
:class:`WorldMemory` chunk by chunk, renders the memory at the returning views, and writes to ``--out``:
``memory_demo.mp4`` (ground truth | memory render | coverage), ``memory.ply`` (the map's coloured surface
points), ``memory/`` (the saved memory state) and ``summary.json``; it prints the render PSNR on covered
pixels and the coverage.

With a trained generator (``checkpoints/worldmem-tiny``), it also generates a long out-and-back video on a
held-out scene with and without long-term memory, writes ``generation.mp4`` (ground truth | full memory |
working memory only) and prints both revisit PSNRs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from worldmem.geometry import trajectories
from worldmem.geometry.points import write_ply
from worldmem.memory import WorldMemory
from worldmem.synthetic import SyntheticScene
from worldmem.utils.image import masked_psnr
from worldmem.utils.io import atomic_write_json
from worldmem.utils.video import mask_to_rgb, side_by_side, write_video

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "worldmem-tiny"


def demo_path(scene: SyntheticScene, num_frames: int, size: int):
    """An out-and-back path across the scene's free box, sweeping the view by 90 degrees on the way out."""
    lo, hi = scene.free_box[0], scene.free_box[1]
    z = float((lo[2] + hi[2]) / 2)
    y = float((lo[1] + hi[1]) / 2)
    x0 = float(lo[0]) + 0.1
    distance = max(float(hi[0] - lo[0]) - 0.2, 0.5)
    return trajectories.out_and_back(num_frames, start=(x0, y, z), heading_deg=0.0, distance=distance,
                                     yaw_sweep_deg=90.0, height=size, width=size, fov_deg=70.0)


def run(out: Path, seed: int, num_frames: int, size: int, chunk: int) -> dict:
    scene = SyntheticScene.random(seed=seed, dynamic=False)
    cams = demo_path(scene, num_frames, size)
    frames, depth = scene.render(cams)
    half = (num_frames + 1) // 2
    memory = WorldMemory()
    t0 = time.perf_counter()
    for s in tqdm(range(0, half, chunk), desc="write outward frames", unit="chunk"):
        memory.write(frames[s:min(s + chunk, half)], depth[s:min(s + chunk, half)], cams[s:min(s + chunk, half)])
    write_s = time.perf_counter() - t0
    back = slice(half, num_frames)
    t0 = time.perf_counter()
    readout = memory.read(cams[back])
    read_s = time.perf_counter() - t0
    render = readout.spatial
    psnr = masked_psnr(render.rgb, frames[back], render.mask)
    coverage = float(render.mask.float().mean())
    # Sky pixels (no geometry, ground-truth depth 0) cannot be covered by any map: report both figures.
    surface = depth[back].reshape(render.mask.shape) > 0
    surface_coverage = float((render.mask & surface).sum() / surface.sum().clamp(min=1))

    out.mkdir(parents=True, exist_ok=True)
    panel = side_by_side(frames[back], render.rgb, mask_to_rgb(render.mask))
    write_video(out / "memory_demo.mp4", panel, fps=8)
    pts, cols = memory.spatial.points()
    write_ply(out / "memory.ply", pts, cols)
    memory.save(out / "memory")
    summary = {
        "scene_seed": seed,
        "num_frames": num_frames,
        "image_size": size,
        "frames_written": half,
        "returning_frames": num_frames - half,
        "render_psnr_covered_db": round(psnr, 2),
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


def run_generation(checkpoint: Path, out: Path, seed: int, num_frames: int, steps: int) -> dict:
    """Generates a long out-and-back video on a held-out scene with and without long-term memory.

    The outward half is given (observed, fused into the memory); the return is generated twice: with the full
    memory, and with the spatial and episodic memory switched off (working window only). Writes
    ``generation.mp4`` (ground truth | full memory | working memory only) and returns both revisit PSNRs.
    """
    from worldmem.pipelines import WorldMemPipeline
    from worldmem.synthetic.paths import out_and_back_in_scene

    pipe = WorldMemPipeline.from_pretrained(str(checkpoint))
    size = pipe.transformer.base.config.sample_height * pipe.codec.spatial_factor
    scene = SyntheticScene.random(seed=seed)
    # The benchmark's out-and-back (python -m eval revisit): the view turns 180 degrees on the way out.
    cams = out_and_back_in_scene(scene, num_frames, size, yaw_sweep_deg=180.0)
    frames, depth = scene.render(cams)
    half = num_frames // 2
    videos, psnrs = [], {}
    for name, flags in (("full memory", {}), ("working memory only", {"use_spatial": False, "use_episodic": False})):
        result = pipe(frames=frames[:half], depth=depth[:half], cameras=cams, num_inference_steps=steps,
                      generator=torch.Generator().manual_seed(0), **flags)
        videos.append(result.frames)
        psnrs[name] = masked_psnr(result.frames[half:], frames[half:])
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / "generation.mp4", side_by_side(frames, *videos), fps=8)
    return {"scene_seed": seed, "num_frames": num_frames, "given_frames": half, "image_size": size, "steps": steps,
            "revisit_psnr_full_memory_db": round(psnrs["full memory"], 2),
            "revisit_psnr_working_only_db": round(psnrs["working memory only"], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worldmem.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder")
    parser.add_argument("--seed", type=int, default=1, help="synthetic scene seed (1 is a room)")
    parser.add_argument("--frames", type=int, default=48, help="frames on the out-and-back path")
    parser.add_argument("--size", type=int, default=128, help="frame height and width in pixels")
    parser.add_argument("--chunk", type=int, default=8, help="frames written per memory write")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="trained pipeline folder")
    parser.add_argument("--generation-seed", type=int, default=None,
                        help="held-out scene for the generation demo (default: the first evaluation seed)")
    parser.add_argument("--generation-frames", type=int, default=48, help="frames of the generated out-and-back")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps per chunk")
    args = parser.parse_args(argv)
    if args.frames < 4 or args.size < 16 or args.chunk < 1:
        parser.error("expected --frames >= 4, --size >= 16, --chunk >= 1")
    trained = (args.checkpoint / "model_index.json").is_file()
    if not trained:
        print(f"worldmem: no trained generator in {args.checkpoint}; running the memory demo only.")
    summary = run(args.out, args.seed, args.frames, args.size, args.chunk)
    print(f"memory render at the {summary['returning_frames']} returning views: "
          f"PSNR {summary['render_psnr_covered_db']:.2f} dB on covered pixels, coverage {summary['coverage']:.1%} "
          f"({summary['surface_coverage']:.1%} of pixels that show a surface)")
    print(f"map: {summary['voxels']} voxels, {summary['surface_points']} surface points, "
          f"{summary['keyframes']} keyframes; wrote {args.out}/memory_demo.mp4, memory.ply, memory/, summary.json")
    if trained:
        from worldmem.data.readers.synthetic import EVAL_SEEDS

        seed = EVAL_SEEDS.start if args.generation_seed is None else args.generation_seed
        gen = run_generation(args.checkpoint, args.out, seed, args.generation_frames, args.steps)
        print(f"generation on held-out scene {seed} ({gen['num_frames']} frames, outward half given, return generated): "
              f"revisit PSNR {gen['revisit_psnr_full_memory_db']:.2f} dB with memory, "
              f"{gen['revisit_psnr_working_only_db']:.2f} dB with the working window only; wrote {args.out}/generation.mp4")
        summary["generation"] = gen
        atomic_write_json(args.out / "summary.json", summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
