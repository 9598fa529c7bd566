"""``worldmem generate``: a long camera-controlled video from a trained pipeline.

    worldmem generate (--checkpoint DIR | --random-init) (--scene synthetic:SEED | --frames video.mp4 --depth depth.npy
        --cameras cams.json) --trajectory NAME|keys:WWAADD --num-frames N --out DIR
        [--context-frames K] [--no-spatial] [--no-episodic] [--save-memory DIR] [--resume-memory DIR]

Writes to ``--out``: ``video.mp4`` (the frames), ``depth.mp4`` (colourised depth), ``cameras.json`` (every
frame's camera: ``{"convention": "opencv_cam_from_world", "height", "width", "cam_from_world": [N x 4 x 4],
"K": [N x 3 x 3]}``, see docs/conventions.md), ``memory.ply`` (the map's surface points) and ``memory/`` (the
saved memory, which ``--resume-memory`` continues from).

``--trajectory`` names a path of the registry :mod:`worldmem.geometry.paths` (docs/paths.md; the canonical
parameters). With ``--scene synthetic:SEED`` the path is fitted to the procedural scene's free box (the same
cameras as ``python -m eval revisit`` uses) and its first ``--context-frames`` frames are rendered as the given
frames. With ``--frames`` the given video's frames (``--depth``: an (N0, H, W) .npy of z-depth; ``--cameras``: a
cameras.json of its N0 cameras) start the video, and with ``--resume-memory`` the saved memory does: then the
path has no scene, so it is built in the registry's default box (``DEFAULT_BOX``, 1.2 x 1.2 x 0.4 scene units)
and moved rigidly so that it starts at the last given (or remembered) camera, its "forward" being that
camera's viewing direction: a new path of the named family from where the video stopped, with that camera's
intrinsics. ``keys:...`` gives one new frame per key.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

__all__ = ["main"]


def _fail(parser: argparse.ArgumentParser, message: str):
    parser.exit(2, f"worldmem generate: error: {message}\n")


def _keys_of(trajectory: str) -> str | None:
    from worldmem.geometry.paths import KEYS_PREFIX

    return trajectory[len(KEYS_PREFIX):] if trajectory.startswith(KEYS_PREFIX) else None


def _continuation(parser, trajectory: str, last, new_frames: int):
    """``new_frames`` cameras after camera ``last`` along the registry path ``trajectory``: the path is built in
    :data:`~worldmem.geometry.paths.DEFAULT_BOX` and moved so that its first camera is ``last`` (which is
    dropped), with ``last``'s intrinsics (:func:`~worldmem.geometry.paths.continue_path`)."""
    from worldmem.geometry.paths import continue_path

    try:
        return continue_path(trajectory, last, new_frames + 1)[1:]
    except ValueError as err:
        _fail(parser, f"--trajectory: {err}")


def _read_inputs(args, parser, size):
    from worldmem.data.clip import ClipError
    from worldmem.data.media import read_video
    from worldmem.geometry import Cameras
    from worldmem.utils.io import read_json

    if args.scene is not None:
        from worldmem.geometry.paths import make_path
        from worldmem.synthetic import SyntheticScene

        kind, _, seed = args.scene.partition(":")
        if kind != "synthetic" or not seed.lstrip("-").isdigit():
            _fail(parser, f"--scene: expected synthetic:SEED (an integer seed), got {args.scene!r}")
        scene = SyntheticScene.random(seed=int(seed))
        try:
            cams = make_path(args.trajectory, scene.free_box, args.num_frames, size, size)
        except ValueError as err:
            _fail(parser, str(err))
        k = args.context_frames
        frames, depth = scene.render(cams[:k])
        return frames, depth, cams, (scene, cams)
    for name in ("frames", "depth", "cameras"):
        if getattr(args, name) is None:
            _fail(parser, f"--{name}: required with --frames (or use --scene synthetic:SEED)")
        if not Path(getattr(args, name)).is_file():
            _fail(parser, f"--{name}: no such file {getattr(args, name)}")
    try:
        frames = read_video(args.frames, None, None)[0]
        depth = torch.from_numpy(np.load(args.depth, allow_pickle=False)).float()
        given = Cameras.from_dict(read_json(args.cameras))
    except (ValueError, OSError, ClipError) as err:
        _fail(parser, f"could not read the inputs: {err}")
    if depth.dim() == 3:
        depth = depth[:, None]
    n0 = frames.shape[0]
    if depth.shape != (n0, 1, *frames.shape[-2:]) or len(given) != n0:
        _fail(parser, f"--frames/--depth/--cameras: expected {n0} frames, depth (N0, H, W) and {n0} cameras of the "
                      f"same size, got depth {tuple(depth.shape)} and {len(given)} cameras")
    if (given.height, given.width) != tuple(frames.shape[-2:]):
        _fail(parser, f"--cameras: expected image size {tuple(frames.shape[-2:])}, got {(given.height, given.width)}")
    extra = args.num_frames - n0
    if extra < 1:
        _fail(parser, f"--num-frames: expected more than the {n0} given frames, got {args.num_frames}")
    keys = _keys_of(args.trajectory)
    if keys is not None and len(keys) != extra:
        _fail(parser, f"--trajectory: {len(keys)} keys give {len(keys)} new frames, expected {extra}")
    cams = Cameras.cat([given, _continuation(parser, args.trajectory, given[n0 - 1], extra)])
    return frames, depth, cams, None


def random_tiny_pipeline(seed: int = 0):
    """The tiny configuration with random weights; its zero-initialised memory paths get small random weights
    too, so that every path influences the output."""
    from worldmem.data.config import load_curation_config
    from worldmem.models import PixelCodec, WorldMemTransformer
    from worldmem.pipelines import WorldMemPipeline, default_scheduler

    torch.manual_seed(seed)
    model = WorldMemTransformer(spatial_mode="concat").eval()
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        if p.abs().sum() == 0:
            p.data.copy_(0.02 * torch.randn(p.shape, generator=g))
    memory = load_curation_config(None).memory_config().to_dict()
    memory["spatial"]["voxel_size"] = 0.04
    return WorldMemPipeline(model, default_scheduler(), PixelCodec(), memory_config=memory, chunk_size=4, working_window=2)


def _unwritable(folder: Path) -> str | None:
    """Why output folder ``folder`` cannot be written (checked before any work), or None."""
    if folder.exists() and not folder.is_dir():
        return "exists and is not a folder"
    parent = folder.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worldmem generate", description=__doc__.split("\n\n")[0])
    model_src = parser.add_mutually_exclusive_group(required=True)
    model_src.add_argument("--checkpoint", type=Path, help="a saved WorldMemPipeline folder")
    model_src.add_argument("--random-init", action="store_true",
                           help="a randomly initialised tiny model (exercises every path; the video is noise)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--scene", help="synthetic:SEED, a procedural scene")
    src.add_argument("--frames", help="an mp4 (or image folder) of the first frames")
    parser.add_argument("--depth", help="(N0, H, W) .npy z-depth of --frames")
    parser.add_argument("--cameras", help="cameras.json of --frames")
    parser.add_argument("--trajectory", default="out-and-back",
                        help="a path of the registry (docs/paths.md): out-and-back, loop, excursion, outward-loop, "
                             "walk-and-retrace, round-trip, look-around or keys:WASD..")
    parser.add_argument("--num-frames", type=int, default=None,
                        help="frames in the whole video (default 48; with --resume-memory: new frames)")
    parser.add_argument("--context-frames", type=int, default=None,
                        help="given frames for --scene (default: the working window)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps per chunk")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--no-spatial", action="store_true", help="switch the spatial memory off")
    parser.add_argument("--no-episodic", action="store_true", help="switch the episodic memory off")
    parser.add_argument("--save-memory", type=Path, help="also save the final memory here")
    parser.add_argument("--resume-memory", type=Path, help="continue from a saved memory (--num-frames new frames)")
    args = parser.parse_args(argv)
    explicit_frames, args.num_frames = args.num_frames is not None, 48 if args.num_frames is None else args.num_frames
    resume_keys = _keys_of(args.trajectory) if args.resume_memory is not None else None
    if resume_keys is not None and explicit_frames and args.num_frames != len(resume_keys):
        _fail(parser, f"--num-frames: a key path continues with one new frame per key ({len(resume_keys)} for "
                      f"{args.trajectory!r}), got {args.num_frames}")
    if args.scene is None and args.frames is None and args.resume_memory is None:
        _fail(parser, "expected --scene synthetic:SEED, --frames ... or --resume-memory DIR")
    if args.num_frames < 2:
        _fail(parser, f"--num-frames: expected >= 2, got {args.num_frames}")
    if args.checkpoint is not None and not (args.checkpoint / "model_index.json").is_file():
        _fail(parser, f"--checkpoint: no model_index.json in {args.checkpoint} (expected a saved WorldMemPipeline)")
    for flag, folder in (("--out", args.out), ("--save-memory", args.save_memory)):
        problem = None if folder is None else _unwritable(folder)
        if problem:
            _fail(parser, f"{flag}: {folder}: {problem}")

    from worldmem.geometry import Cameras
    from worldmem.geometry.points import write_ply
    from worldmem.memory import WorldMemory
    from worldmem.pipelines import load_pipeline
    from worldmem.utils.io import atomic_directory, atomic_write_json
    from worldmem.utils.video import colorize_depth, write_video

    if args.random_init:
        pipe = random_tiny_pipeline(seed=args.seed)
    else:
        try:
            pipe = load_pipeline(args.checkpoint)
        except ValueError as err:
            _fail(parser, f"--checkpoint: {err}")
    size = pipe.transformer.base.config.sample_height * pipe.codec.spatial_factor
    if args.context_frames is None:
        args.context_frames = max(1, pipe.config.working_window)
    if not 1 <= args.context_frames < args.num_frames:
        _fail(parser, f"--context-frames: expected 1 .. --num-frames - 1, got {args.context_frames}")
    flags = {"use_spatial": not args.no_spatial, "use_episodic": not args.no_episodic,
             "num_inference_steps": args.steps, "generator": torch.Generator().manual_seed(args.seed)}
    if args.resume_memory is not None:
        try:
            memory = WorldMemory.load(args.resume_memory)
        except ValueError as err:
            _fail(parser, f"--resume-memory: {err}")
        if memory.num_frames == 0:
            _fail(parser, f"--resume-memory: the memory in {args.resume_memory} holds no frames")
        last = memory.last_camera()[0]
        # A new path of the trajectory's family from the last camera: --num-frames new frames (a key path: one per key).
        keys = _keys_of(args.trajectory)
        new = _continuation(parser, args.trajectory, last, len(keys) if keys is not None else args.num_frames)
        done = Cameras(last.cam_from_world.reshape(1, 4, 4).expand(memory.num_frames, 4, 4),
                       last.K.reshape(1, 3, 3).expand(memory.num_frames, 3, 3), last.height, last.width)
        out = pipe(cameras=Cameras.cat([done, new]), memory=memory, **flags)
        cams = new
    else:
        frames, depth, cams, _ = _read_inputs(args, parser, size)
        try:
            out = pipe(frames=frames, depth=depth, cameras=cams, **flags)
        except ValueError as err:
            _fail(parser, str(err))

    def fill(folder: Path) -> None:  # the whole output folder, renamed to --out only once complete
        write_video(folder / "video.mp4", out.frames, fps=8)
        write_video(folder / "depth.mp4", colorize_depth(out.depth), fps=8)
        atomic_write_json(folder / "cameras.json", cams.to_dict())
        pts, cols = out.memory.surface_points()
        write_ply(folder / "memory.ply", pts, cols)
        out.memory.save(folder / "memory")

    atomic_directory(args.out, fill)
    if args.save_memory is not None:
        out.memory.save(args.save_memory)
    print(f"wrote {out.frames.shape[0]} frames to {args.out}/video.mp4, depth.mp4, cameras.json, memory.ply, memory/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
