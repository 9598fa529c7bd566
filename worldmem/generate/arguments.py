"""``worldmem generate``'s flags (:func:`add_arguments`), their defaults (:func:`settle`) and every check that needs
no file read (:func:`check_args`): bad input raises :class:`~worldmem.utils.cli_errors.UsageError` naming the flag,
before anything is loaded."""

from __future__ import annotations

import argparse
from pathlib import Path

from worldmem.generate.paths import keys_of, scene_seed
from worldmem.utils.cli_errors import UsageError, add_overrides

__all__ = ["DEFAULT_NUM_FRAMES", "DEFAULT_TRAJECTORY", "FLAG_SETTINGS", "add_arguments", "check_args", "settle"]

DEFAULT_NUM_FRAMES = 48
DEFAULT_TRAJECTORY = "out-and-back"
FLAG_SETTINGS = {"generation.num_inference_steps": "--steps", "generation.guidance_scale": "--guidance-scale",
                 "generation.text_guidance_scale": "--text-guidance-scale"}
"""Generation settings that this command sets with a flag of its own (one way per value on its command line)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the flags of ``worldmem generate`` on ``parser``."""
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
                        help=f"frames in the whole video (default {DEFAULT_NUM_FRAMES}; with --resume-memory: new "
                             f"frames, default the rest of the memory's unfinished path, else {DEFAULT_NUM_FRAMES})")
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
    add_overrides(parser, help="override the pipeline's generation settings (worldmem.pipelines.GenerationConfig), "
                               "anywhere on the line, e.g. generation.write_gate.margin=0 generation.render_anchor=0.5 "
                               "(steps and guidance: --steps, --guidance-scale, --text-guidance-scale)")


def settle(args: argparse.Namespace) -> argparse.Namespace:
    """Fills in the defaults that depend on what was given, and records in ``args.explicit`` (``num_frames``,
    ``trajectory``, ``scene``: whether the flag was given) what a resumed path must agree with."""
    args.explicit = {"num_frames": args.num_frames is not None, "trajectory": args.trajectory is not None,
                     "scene": args.scene is not None}
    args.num_frames = DEFAULT_NUM_FRAMES if args.num_frames is None else args.num_frames
    args.trajectory = DEFAULT_TRAJECTORY if args.trajectory is None else args.trajectory
    return args


def check_args(args: argparse.Namespace) -> None:
    """Every check of the flags alone, in the order a user meets them: the source of the first frames, flags
    the chosen source would not use (errors, not silently ignored), the sizes and bounds, the path's name, the
    guidance and prompt flags, and that the named folders exist."""
    from worldmem.geometry.paths import path_spec
    from worldmem.pipelines.cost import MAX_RUN_FRAMES, MAX_STEPS

    resume_keys = keys_of(args.trajectory) if args.resume_memory is not None else None
    if resume_keys is not None and args.explicit["num_frames"] and args.num_frames != len(resume_keys):
        raise UsageError(f"--num-frames: a key path continues with one new frame per key ({len(resume_keys)} for "
                         f"{args.trajectory!r}), got {args.num_frames}")
    if args.scene is None and args.frames is None and args.resume_memory is None:
        raise UsageError("expected --scene synthetic:SEED, --frames ... or --resume-memory DIR")
    if args.resume_memory is not None and args.frames is not None:
        raise UsageError("--frames: not with --resume-memory (the memory holds the first frames)")
    for name in ("depth", "cameras"):
        if getattr(args, name) is not None and args.frames is None:
            raise UsageError(f"--{name}: only with --frames (it describes the given video)")
    if args.context_frames is not None and (args.scene is None or args.resume_memory is not None):
        raise UsageError("--context-frames: only with --scene and no --resume-memory (otherwise the given frames are "
                         "--frames, or the memory's)")
    least = 1 if args.resume_memory is not None else 2
    if args.num_frames < least:
        raise UsageError(f"--num-frames: expected >= {least}, got {args.num_frames}")
    if args.stop_after is not None and (args.resume_memory is not None or not 1 <= args.stop_after <= args.num_frames):
        raise UsageError(f"--stop-after: expected a frame in [1, --num-frames {args.num_frames}] without "
                         f"--resume-memory (which counts new frames with --num-frames), got {args.stop_after}")
    if args.steps < 1:
        raise UsageError(f"--steps: expected an int >= 1, got {args.steps}")
    if args.steps > MAX_STEPS:
        raise UsageError(f"--steps: expected at most {MAX_STEPS} (MAX_STEPS), got {args.steps}")
    if args.num_frames > MAX_RUN_FRAMES:
        raise UsageError(f"--num-frames: expected at most {MAX_RUN_FRAMES} frames per run (MAX_RUN_FRAMES, docs: a "
                         f"longer video is --stop-after / --resume-memory runs), got {args.num_frames}")
    if args.context_frames is not None and args.context_frames < 1:
        raise UsageError(f"--context-frames: expected an int >= 1, got {args.context_frames}")
    if args.scene is not None:
        scene_seed(args.scene)
    try:
        path_spec(args.trajectory)
    except ValueError as err:
        raise UsageError(f"--trajectory: {str(err).removeprefix('trajectory: ')}") from None
    for flag, value in (("--guidance-scale", args.guidance_scale), ("--text-guidance-scale", args.text_guidance_scale)):
        if value is not None and not value >= 1:  # also NaN
            raise UsageError(f"{flag}: expected a number >= 1 (1: no guidance), got {value}")
    if args.negative_prompt is not None and not (args.text_guidance_scale or 1) > 1:
        raise UsageError("--negative-prompt: only read by text guidance (--text-guidance-scale above 1)")
    if args.text_encoder is not None and not args.text_encoder.is_dir():
        raise UsageError(f"--text-encoder: no such folder {args.text_encoder} (expected text_encoder/ and tokenizer/)")
    if args.checkpoint is not None and not (args.checkpoint / "model_index.json").is_file():
        raise UsageError(f"--checkpoint: no model_index.json in {args.checkpoint} (expected a saved WorldMemPipeline)")
    for item in args.overrides:
        key = item.partition("=")[0]
        if key in FLAG_SETTINGS:
            raise UsageError(f"{key}: set with {FLAG_SETTINGS[key]} on this command line, got {item!r}")
        if args.resume_memory is not None and key.startswith("generation.memory_config"):
            raise UsageError(f"{key}: not with --resume-memory (the saved memory keeps its own config), got {item!r}")
