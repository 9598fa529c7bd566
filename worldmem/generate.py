"""``worldmem generate``: a long camera-controlled video from a trained pipeline.

    worldmem generate (--checkpoint DIR | --random-init) (--scene synthetic:SEED | --frames video.mp4 --depth depth.npy
        --cameras cams.json) --trajectory NAME|keys:WWAADD --num-frames N --out DIR
        [--context-frames K] [--stop-after K] [--no-spatial] [--no-episodic] [--save-memory DIR]
        [--resume-memory DIR] [--prompt TEXT [--negative-prompt TEXT] [--text-guidance-scale X]
        [--text-encoder DIR]] [--guidance-scale X]

Writes to ``--out``: ``video.mp4`` (the frames), ``depth.mp4`` (colourised depth), ``cameras.json`` (every
frame's camera: ``{"convention": "opencv_cam_from_world", "height", "width", "cam_from_world": [N x 4 x 4],
"K": [N x 3 x 3]}``, see docs/conventions.md), ``memory.ply`` (the map's surface points), ``memory/`` (the
saved memory, which ``--resume-memory`` continues from) and ``run.json`` (this command and its arguments). An
existing ``--out`` is replaced only when it is empty or holds ``run.json`` (a previous run's folder), and the
swap never leaves it missing; ``--out`` and ``--save-memory`` may not be, hold or lie inside each other or an
input (docs/outputs.md).

``--trajectory`` names a path of the registry :mod:`worldmem.geometry.paths` (docs/paths.md; the canonical
parameters). With ``--scene synthetic:SEED`` the path is fitted to the procedural scene's free box (the same
cameras as ``python -m eval revisit`` uses) and its first ``--context-frames`` frames are rendered as the given
frames. With ``--frames`` the given video's frames (``--depth``: an (N0, H, W) .npy of z-depth; ``--cameras``: a
cameras.json of its N0 cameras) start the video, and with ``--resume-memory`` the saved memory does: then the
path has no scene, so it is built in the registry's default box (``DEFAULT_BOX``, 1.2 x 1.2 x 0.4 scene units)
and moved rigidly so that it starts at the last given (or remembered) camera, its "forward" being that
camera's viewing direction: a new path of the named family from where the video stopped, with that camera's
intrinsics. ``keys:...`` gives one new frame per key.

Resuming exactly: the saved memory records the path it was written along (``metadata.path``: the trajectory,
its whole length, and the scene or the camera it starts at). ``--stop-after K`` writes only the first K frames
of the ``--num-frames`` path (K at the end of a chunk); ``--resume-memory`` then goes on along that recorded
path (``--num-frames`` new frames, default the rest of it), and with the same ``--seed`` and ``--steps`` the
frames equal those of one uninterrupted run. A memory whose path is finished (or one saved before paths were
recorded) continues with a new ``--trajectory`` path from its last camera, as above; ``--scene`` with it is
an error, since there is no scene path left to follow.

Prompts (docs/prompts.md): ``--prompt`` needs a pipeline with a text encoder (saved with it, or ``--text-encoder
DIR`` with ``text_encoder/`` and ``tokenizer/``). The guidance scales (default 1: none) act on the prompt against
``--negative-prompt`` and on the long-term memory. The saved memory records the prompt, which ``--resume-memory``
continues with unless ``--prompt`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from worldmem.utils.cli_errors import ArgumentParser

__all__ = ["main"]


def _fail(parser: argparse.ArgumentParser, message: str):
    parser.exit(2, f"worldmem generate: error: {message}\n")


def _keys_of(trajectory: str) -> str | None:
    from worldmem.geometry.paths import KEYS_PREFIX

    return trajectory[len(KEYS_PREFIX):] if trajectory.startswith(KEYS_PREFIX) else None


def _scene_seed(parser, scene: str) -> int:
    kind, _, seed = scene.partition(":")
    if kind != "synthetic" or not seed.lstrip("-").isdigit():
        _fail(parser, f"--scene: expected synthetic:SEED (an integer seed), got {scene!r}")
    return int(seed)


def _scene_record(trajectory: str, scene: str, num_frames: int) -> dict:
    return {"trajectory": trajectory, "num_frames": num_frames, "scene": scene, "anchor": None, "anchor_index": None}


def _anchor_record(trajectory: str, anchor, anchor_index: int, num_frames: int) -> dict:
    return {"trajectory": trajectory, "num_frames": num_frames, "scene": None, "anchor": anchor.to_dict(),
            "anchor_index": anchor_index}


def _check_record(record, num_frames: int) -> str | None:
    """What is wrong with the path ``record`` a saved memory of ``num_frames`` frames holds, or None."""
    from worldmem.geometry.trajectories import MAX_PATH_FRAMES

    if not isinstance(record, dict) or set(record) != {"trajectory", "num_frames", "scene", "anchor", "anchor_index"}:
        return f"expected an object with trajectory, num_frames, scene, anchor, anchor_index, got {record!r}"[:200]
    n, i = record["num_frames"], record["anchor_index"]
    if isinstance(n, bool) or not isinstance(n, int) or n < num_frames:
        return f"num_frames: expected an int >= the memory's {num_frames} frames, got {n!r}"
    if n > MAX_PATH_FRAMES:
        return f"num_frames: expected at most {MAX_PATH_FRAMES} (MAX_PATH_FRAMES), got {n!r}"
    if not isinstance(record["trajectory"], str):
        return f"trajectory: expected a path name, got {record['trajectory']!r}"
    if (record["scene"] is None) == (record["anchor"] is None):
        return "expected exactly one of scene and anchor"
    if record["anchor"] is not None and (isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n):
        return f"anchor_index: expected an int in [0, {n}), got {i!r}"
    return None


def _path_cameras(parser, record: dict, size: int):
    """The ``record["num_frames"]`` cameras of the recorded path. A scene path is the registry path fitted to
    the scene's free box; an anchored one is the path that starts at camera ``anchor`` (frame ``anchor_index``,
    whose earlier frames are given or remembered and stand in as copies of it) in
    :data:`~worldmem.geometry.paths.DEFAULT_BOX` (:func:`~worldmem.geometry.paths.continue_path`)."""
    from worldmem.geometry import Cameras
    from worldmem.geometry.paths import continue_path, make_path

    n = record["num_frames"]
    try:
        if record["scene"] is not None:
            from worldmem.synthetic import SyntheticScene

            box = SyntheticScene.random(seed=_scene_seed(parser, record["scene"])).free_box
            return make_path(record["trajectory"], box, n, size, size)
        anchor, i = Cameras.from_dict(record["anchor"]), record["anchor_index"]
        path = continue_path(record["trajectory"], anchor, n - i)
    except ValueError as err:
        _fail(parser, f"--trajectory: {err}")
    before = Cameras(path.cam_from_world[:1].expand(i, 4, 4), path.K[:1].expand(i, 3, 3), path.height, path.width)
    return Cameras.cat([before, path])


def _announce(parser, pipe, args, new_frames: int, given: int) -> None:
    """Prints what the run will cost (:mod:`worldmem.pipelines.cost`) before it starts; more new frames than a run
    may make (e.g. the rest of a resumed path) is an error naming --num-frames."""
    from worldmem.pipelines.cost import MAX_RUN_FRAMES, pipeline_estimate

    if new_frames > MAX_RUN_FRAMES:
        _fail(parser, f"--num-frames: expected at most {MAX_RUN_FRAMES} new frames per run (MAX_RUN_FRAMES), this run "
                      f"would make {new_frames} (give --num-frames to resume a part of the path)")
    cost = pipeline_estimate(pipe, new_frames, args.steps, args.guidance_scale, args.text_guidance_scale or 1.0, given)
    print(f"worldmem generate: {cost.line()}", flush=True)


def _check_stop(parser, flag: str, stop: int, first: int, chunk: int, total: int) -> None:
    """A run that stops before the path's end stops at the end of a chunk, so that resuming is exact."""
    if stop < total and (stop <= first or (stop - first) % chunk):
        _fail(parser, f"{flag}: a run that stops before the path's {total} frames stops at the end of a chunk "
                      f"(frame {first} + a multiple of the chunk size {chunk}: {first + chunk}, {first + 2 * chunk}, "
                      f"...) so that --resume-memory continues it exactly, got frame {stop}")


def _read_inputs(args, parser, size):
    from worldmem.data.clip import ClipError
    from worldmem.data.media import read_video
    from worldmem.geometry import Cameras
    from worldmem.utils.checks import check_depth
    from worldmem.utils.io import read_json

    if args.scene is not None:
        from worldmem.synthetic import SyntheticScene

        record = _scene_record(args.trajectory, args.scene, args.num_frames)
        cams = _path_cameras(parser, record, size)
        frames, depth = SyntheticScene.random(seed=_scene_seed(parser, args.scene)).render(cams[:args.context_frames])
        return frames, depth, cams, record
    for name in ("frames", "depth", "cameras"):
        if getattr(args, name) is None:
            _fail(parser, f"--{name}: required with --frames (or use --scene synthetic:SEED)")
        if not Path(getattr(args, name)).is_file():
            _fail(parser, f"--{name}: no such file {getattr(args, name)}")
    readers = {"frames": lambda path: read_video(path, None, None)[0],
               "depth": lambda path: check_depth("depth", np.load(path, allow_pickle=False)[:, None]),
               "cameras": lambda path: Cameras.from_dict(read_json(path))}
    inputs = {}
    for name, read in readers.items():
        try:
            inputs[name] = read(getattr(args, name))
        except (ValueError, OSError, ClipError, IndexError) as err:
            reason = " ".join(str(err).split())
            where = "" if str(getattr(args, name)) in reason else f"{getattr(args, name)}: "
            _fail(parser, f"--{name}: {where}{reason}"[:400])
    frames, depth, given = inputs["frames"], inputs["depth"], inputs["cameras"]
    n0 = frames.shape[0]
    if depth.shape != (n0, 1, *frames.shape[-2:]) or len(given) != n0:
        _fail(parser, f"--depth/--cameras: expected {n0} frames (as --frames), depth (N0, H, W) and {n0} cameras of the "
                      f"same size, got depth {tuple(depth.shape)} and {len(given)} cameras")
    if (given.height, given.width) != tuple(frames.shape[-2:]):
        _fail(parser, f"--cameras: expected image size {tuple(frames.shape[-2:])}, got {(given.height, given.width)}")
    extra = args.num_frames - n0
    if extra < 1:
        _fail(parser, f"--num-frames: expected more than the {n0} given frames, got {args.num_frames}")
    keys = _keys_of(args.trajectory)
    if keys is not None and len(keys) != extra:
        _fail(parser, f"--trajectory: {len(keys)} keys give {len(keys)} new frames, expected {extra}")
    # The path starts at the last given camera (which it repeats as its first frame).
    record = _anchor_record(args.trajectory, given[n0 - 1], n0 - 1, args.num_frames)
    cams = Cameras.cat([given, _path_cameras(parser, record, size)[n0:]])
    return frames, depth, cams, record


def _resume(args, parser, memory, explicit: dict, size: int):
    """(cameras of the whole path up to where this run stops, its record) for ``--resume-memory``: the memory's
    unfinished recorded path, else a new path of ``--trajectory`` that starts at the memory's last camera."""
    k, where = memory.num_frames, f"the memory in {args.resume_memory}"
    record = memory.metadata.get("path")
    if record is not None:
        problem = _check_record(record, k)
        if problem:
            _fail(parser, f"--resume-memory: {args.resume_memory}: memory.json: metadata.path: {problem}")
    if record is not None and record["num_frames"] > k:  # an unfinished path: go on along it
        for flag, name in (("--trajectory", "trajectory"), ("--scene", "scene")):
            if explicit[name] and getattr(args, name) != record[name]:
                _fail(parser, f"{flag}: {where} continues the path {record['trajectory']!r}"
                              f"{' in ' + record['scene'] if record['scene'] else ''} (frame {k} of "
                              f"{record['num_frames']}), got {getattr(args, name)!r}")
        left = record["num_frames"] - k
        new = args.num_frames if explicit["num_frames"] else left
        if new > left:
            _fail(parser, f"--num-frames: {where} has {left} frames of its path left, got {new}")
        return _path_cameras(parser, record, size)[:k + new], record
    if args.scene is not None:
        _fail(parser, f"--scene: {where} holds no unfinished path to continue in a scene (a run with --stop-after "
                      "leaves one); without --scene a new path starts at its last camera")
    keys = _keys_of(args.trajectory)
    record = _anchor_record(args.trajectory, memory.last_camera()[0], k - 1,
                            k + (len(keys) if keys is not None else args.num_frames))
    return _path_cameras(parser, record, size), record


COMMAND = "worldmem generate"
RUN_MARKER = "run.json"
"""The file every ``--out`` folder of this command holds (the command and its arguments): a folder with it may be
replaced by a new run; any other non-empty folder is refused (docs/outputs.md)."""


def _check_outputs(parser, args) -> None:
    """Refuses, before any work, outputs that would replace a folder this command did not write, or that are, hold
    or lie inside one another or an input (``--out`` equal to ``--resume-memory`` would destroy the state it
    resumes; ``--save-memory`` equal to ``--out`` would replace the video just written)."""
    from worldmem.utils.io import overlap_problem, replace_problem

    inputs = {"--checkpoint": args.checkpoint, "--resume-memory": args.resume_memory, "--frames": args.frames,
              "--depth": args.depth, "--cameras": args.cameras, "--text-encoder": args.text_encoder}
    problem = overlap_problem({"--out": args.out, "--save-memory": args.save_memory}, inputs)
    if problem:
        _fail(parser, problem)
    for flag, folder, marker in (("--out", args.out, RUN_MARKER), ("--save-memory", args.save_memory, "memory.json")):
        problem = None if folder is None else replace_problem(folder, marker, COMMAND)
        if problem:
            _fail(parser, f"{flag}: {problem}")


def random_tiny_pipeline(seed: int = 0, size: int = 32):
    """The tiny configuration with random weights (``size`` x ``size`` frames); its zero-initialised memory paths
    get small random weights too, so that every path influences the output."""
    from worldmem.data.config import load_curation_config
    from worldmem.models import PixelCodec, WorldMemTransformer
    from worldmem.pipelines import WorldMemPipeline, default_scheduler

    torch.manual_seed(seed)
    from worldmem.models.transformer import TINY_BASE_CONFIG

    base = {**TINY_BASE_CONFIG, "sample_height": size, "sample_width": size}
    model = WorldMemTransformer(base_config=base, spatial_mode="concat").eval()
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        if p.abs().sum() == 0:
            p.data.copy_(0.02 * torch.randn(p.shape, generator=g))
    memory = load_curation_config(None).memory_config().to_dict()
    memory["spatial"]["voxel_size"] = 0.04
    return WorldMemPipeline(model, default_scheduler(), PixelCodec(), memory_config=memory, chunk_size=4, working_window=2)


def _text_flags(parser, args, pipe, memory) -> dict:
    """The pipeline's prompt arguments; attaches ``--text-encoder``."""
    if args.text_encoder is not None:
        from worldmem.models.text import load_text_encoder

        try:
            pipe.set_text_encoder(*load_text_encoder(args.text_encoder, dtype=pipe.transformer.dtype))
        except ValueError as err:
            _fail(parser, f"--text-encoder: {err}")
    prompt = args.prompt if args.prompt is not None or memory is None else memory.metadata.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        _fail(parser, f"--resume-memory: {args.resume_memory}: memory.json: metadata.prompt: expected a string, "
                      f"got {prompt!r}"[:300])
    given = {"prompt": prompt, "negative_prompt": args.negative_prompt, "text_guidance_scale": args.text_guidance_scale}
    given = {k: v for k, v in given.items() if v is not None}
    if given and pipe.text_encoder is None:
        where = "--random-init" if args.checkpoint is None else f"the pipeline in {args.checkpoint}"
        _fail(parser, f"--{next(iter(given)).replace('_', '-')}: {where} has no text encoder (a model that takes text "
                      "needs --text-encoder DIR)")
    return given


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="worldmem generate", description=__doc__.split("\n\n")[0])
    model_src = parser.add_mutually_exclusive_group(required=True)
    model_src.add_argument("--checkpoint", type=Path, help="a saved WorldMemPipeline folder")
    model_src.add_argument("--random-init", action="store_true",
                           help="a randomly initialised tiny model (exercises every path; the video is noise)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--scene", help="synthetic:SEED, a procedural scene")
    src.add_argument("--frames", help="an mp4 (or image folder) of the first frames")
    parser.add_argument("--depth", help="(N0, H, W) .npy z-depth of --frames")
    parser.add_argument("--cameras", help="cameras.json of --frames")
    parser.add_argument("--trajectory", default=None,
                        help="a path of the registry (docs/paths.md): out-and-back (default), loop, excursion, "
                             "outward-loop, walk-and-retrace, round-trip, look-around or keys:WASD..")
    parser.add_argument("--num-frames", type=int, default=None,
                        help="frames in the whole video (default 48; with --resume-memory: new frames, default the "
                             "rest of the memory's unfinished path, else 48)")
    parser.add_argument("--stop-after", type=int, default=None, metavar="K",
                        help="write only the first K frames of the --num-frames path (the end of a chunk); the saved "
                             "memory records the path, and --resume-memory continues it exactly")
    parser.add_argument("--context-frames", type=int, default=None,
                        help="given frames for --scene (default: the working window)")
    parser.add_argument("--out", required=True, type=Path,
                        help="output folder: new, empty, or a previous run's (holding run.json), which is replaced")
    parser.add_argument("--steps", type=int, default=8, help="denoising steps per chunk")
    parser.add_argument("--seed", type=int, default=0, help="noise seed")
    parser.add_argument("--no-spatial", action="store_true", help="switch the spatial memory off")
    parser.add_argument("--no-episodic", action="store_true", help="switch the episodic memory off")
    parser.add_argument("--save-memory", type=Path, help="also save the final memory here (new, empty, or a saved memory)")
    parser.add_argument("--resume-memory", type=Path,
                        help="continue from a saved memory: along its unfinished path (see --stop-after), else a new "
                             "--trajectory path from its last camera (--num-frames new frames)")
    parser.add_argument("--prompt", default=None, help="text every chunk is conditioned on (needs a text encoder)")
    parser.add_argument("--negative-prompt", default=None, help="the unconditional text of text guidance (default \"\")")
    parser.add_argument("--text-guidance-scale", type=float, default=None, help="guidance on the prompt (default 1)")
    parser.add_argument("--guidance-scale", type=float, default=1.0, help="guidance on the long-term memory (default 1)")
    parser.add_argument("--text-encoder", type=Path, default=None,
                        help="a local folder with text_encoder/ and tokenizer/ (e.g. a CogVideoX pipeline folder)")
    argv_used = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    explicit = {"num_frames": args.num_frames is not None, "trajectory": args.trajectory is not None,
                "scene": args.scene is not None}
    args.num_frames = 48 if args.num_frames is None else args.num_frames
    args.trajectory = "out-and-back" if args.trajectory is None else args.trajectory
    resume_keys = _keys_of(args.trajectory) if args.resume_memory is not None else None
    if resume_keys is not None and explicit["num_frames"] and args.num_frames != len(resume_keys):
        _fail(parser, f"--num-frames: a key path continues with one new frame per key ({len(resume_keys)} for "
                      f"{args.trajectory!r}), got {args.num_frames}")
    if args.scene is None and args.frames is None and args.resume_memory is None:
        _fail(parser, "expected --scene synthetic:SEED, --frames ... or --resume-memory DIR")
    # Flags that the chosen source would not use are errors, not silently ignored.
    if args.resume_memory is not None and args.frames is not None:
        _fail(parser, "--frames: not with --resume-memory (the memory holds the first frames)")
    for name in ("depth", "cameras"):
        if getattr(args, name) is not None and args.frames is None:
            _fail(parser, f"--{name}: only with --frames (it describes the given video)")
    if args.context_frames is not None and (args.scene is None or args.resume_memory is not None):
        _fail(parser, "--context-frames: only with --scene and no --resume-memory (otherwise the given frames are "
                      "--frames, or the memory's)")
    if args.num_frames < (1 if args.resume_memory is not None else 2):
        _fail(parser, f"--num-frames: expected >= {1 if args.resume_memory is not None else 2}, got {args.num_frames}")
    if args.stop_after is not None and (args.resume_memory is not None or not 1 <= args.stop_after <= args.num_frames):
        _fail(parser, f"--stop-after: expected a frame in [1, --num-frames {args.num_frames}] without --resume-memory "
                      f"(which counts new frames with --num-frames), got {args.stop_after}")
    if args.steps < 1:
        _fail(parser, f"--steps: expected an int >= 1, got {args.steps}")
    from worldmem.pipelines.cost import MAX_RUN_FRAMES, MAX_STEPS

    if args.steps > MAX_STEPS:
        _fail(parser, f"--steps: expected at most {MAX_STEPS} (MAX_STEPS), got {args.steps}")
    if args.num_frames > MAX_RUN_FRAMES:
        _fail(parser, f"--num-frames: expected at most {MAX_RUN_FRAMES} frames per run (MAX_RUN_FRAMES, docs: a "
                      f"longer video is --stop-after / --resume-memory runs), got {args.num_frames}")
    if args.context_frames is not None and args.context_frames < 1:
        _fail(parser, f"--context-frames: expected an int >= 1, got {args.context_frames}")
    if args.scene is not None:
        _scene_seed(parser, args.scene)
    from worldmem.geometry.paths import path_spec

    try:
        path_spec(args.trajectory)
    except ValueError as err:
        _fail(parser, f"--trajectory: {str(err).removeprefix('trajectory: ')}")
    for flag, value in (("--guidance-scale", args.guidance_scale), ("--text-guidance-scale", args.text_guidance_scale)):
        if value is not None and not value >= 1:  # also NaN
            _fail(parser, f"{flag}: expected a number >= 1 (1: no guidance), got {value}")
    if args.negative_prompt is not None and not (args.text_guidance_scale or 1) > 1:
        _fail(parser, "--negative-prompt: only read by text guidance (--text-guidance-scale above 1)")
    if args.text_encoder is not None and not args.text_encoder.is_dir():
        _fail(parser, f"--text-encoder: no such folder {args.text_encoder} (expected text_encoder/ and tokenizer/)")
    if args.checkpoint is not None and not (args.checkpoint / "model_index.json").is_file():
        _fail(parser, f"--checkpoint: no model_index.json in {args.checkpoint} (expected a saved WorldMemPipeline)")
    from worldmem.utils.io import atomic_directory, atomic_write_json

    _check_outputs(parser, args)

    from worldmem.geometry.points import write_ply
    from worldmem.memory import WorldMemory
    from worldmem.pipelines import load_pipeline
    from worldmem.utils.video import colorize_depth, write_video

    memory = None
    if args.resume_memory is not None:
        try:
            memory = WorldMemory.load(args.resume_memory)
        except ValueError as err:
            _fail(parser, f"--resume-memory: {err}")
        if memory.num_frames == 0:
            _fail(parser, f"--resume-memory: the memory in {args.resume_memory} holds no frames")
    if args.random_init:
        pipe = random_tiny_pipeline(seed=args.seed)
    else:
        try:
            pipe = load_pipeline(args.checkpoint)
        except ValueError as err:
            _fail(parser, f"--checkpoint: {err}")
    text = _text_flags(parser, args, pipe, memory)  # the prompt flags the pipeline takes (none without text)
    size = pipe.transformer.base.config.sample_height * pipe.codec.spatial_factor
    chunk = int(pipe.config.chunk_size)
    flags = {"use_spatial": not args.no_spatial, "use_episodic": not args.no_episodic,
             "num_inference_steps": args.steps, "generator": torch.Generator().manual_seed(args.seed),
             "guidance_scale": args.guidance_scale, **text}
    try:
        if memory is not None:
            done = memory.num_frames
            cams, record = _resume(args, parser, memory, explicit, size)
            _check_stop(parser, "--num-frames", len(cams), done, chunk, record["num_frames"])
            _announce(parser, pipe, args, len(cams) - done, done)
            out = pipe(cameras=cams, memory=memory, **flags)
            cams = cams[done:]  # the new frames only
        else:
            if args.context_frames is None:
                args.context_frames = max(1, pipe.config.working_window)
            if not 1 <= args.context_frames < args.num_frames:
                _fail(parser, f"--context-frames: expected 1 .. --num-frames - 1, got {args.context_frames}")
            frames, depth, cams, record = _read_inputs(args, parser, size)
            stop = args.num_frames if args.stop_after is None else args.stop_after
            _check_stop(parser, "--stop-after", stop, frames.shape[0], chunk, args.num_frames)
            cams = cams[:stop]
            _announce(parser, pipe, args, len(cams) - frames.shape[0], frames.shape[0])
            out = pipe(frames=frames, depth=depth, cameras=cams, **flags)
    except ValueError as err:
        _fail(parser, " ".join(str(err).split()))
    out.memory.metadata["path"] = record  # so that --resume-memory goes on along the same path
    out.memory.metadata.update({"prompt": text["prompt"]} if "prompt" in text else {})  # --resume-memory reads it

    def fill(folder: Path) -> None:  # the whole output folder, renamed to --out only once complete
        write_video(folder / "video.mp4", out.frames, fps=8)
        write_video(folder / "depth.mp4", colorize_depth(out.depth), fps=8)
        atomic_write_json(folder / "cameras.json", cams.to_dict())
        pts, cols = out.memory.surface_points()
        write_ply(folder / "memory.ply", pts, cols)
        out.memory.save(folder / "memory")
        atomic_write_json(folder / RUN_MARKER, {"command": COMMAND, "argv": list(argv_used)})

    atomic_directory(args.out, fill, marker=RUN_MARKER, command=COMMAND)
    if args.save_memory is not None:
        out.memory.save(args.save_memory)
    print(f"wrote {out.frames.shape[0]} frames to {args.out}/video.mp4, depth.mp4, cameras.json, memory.ply, memory/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
