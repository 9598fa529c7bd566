"""What a ``worldmem generate`` run starts from (:func:`load`): the pipeline (``--checkpoint`` or the random tiny
model), the memory it resumes (``--resume-memory``) or the given frames (``--scene``, or ``--frames`` with
``--depth`` and ``--cameras``), the prompt flags, and the cameras of the path up to where the run stops. A file
that cannot be read, or that does not fit the pipeline, raises :class:`~worldmem.utils.cli_errors.UsageError`
naming its flag."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from worldmem.generate.paths import anchor_record, check_stop, keys_of, path_cameras, resume_path, scene_record, scene_seed
from worldmem.utils.cli_errors import UsageError

if TYPE_CHECKING:
    from worldmem.geometry import Cameras
    from worldmem.memory import WorldMemory
    from worldmem.pipelines import WorldMemPipeline

__all__ = ["Inputs", "load"]


@dataclass
class Inputs:
    """Everything a run needs, read and checked."""

    pipe: WorldMemPipeline
    """The pipeline that generates the video."""
    cameras: Cameras
    """(N,) cameras of every frame up to where this run stops, the given (or remembered) frames first."""
    record: dict
    """The path record the saved memory keeps (:mod:`worldmem.generate.paths`)."""
    given: int
    """Frames given (the first frames) or remembered (``--resume-memory``)."""
    frames: torch.Tensor | None
    """(given, 3, H, W) in [0, 1], the given frames; None when resuming."""
    depth: torch.Tensor | None
    """(given, 1, H, W) z-depth of the given frames; None when resuming."""
    memory: WorldMemory | None
    """The resumed memory, else None."""
    text: dict
    """The prompt arguments the pipeline takes (``prompt``, ``negative_prompt``, ``text_guidance_scale``; none
    without a text encoder)."""


def load(args: argparse.Namespace) -> Inputs:
    """Reads the memory, the pipeline and the first frames for checked ``args``, and builds the path's cameras."""
    memory = _load_memory(args)
    pipe = _load_pipeline(args)
    text = _text_flags(args, pipe, memory)
    chunk = int(pipe.config.chunk_size)
    try:
        if memory is not None:
            done = memory.num_frames
            cams, record = resume_path(args, memory, pipe.frame_size)
            check_stop("--num-frames", len(cams), done, chunk, record["num_frames"])
            return Inputs(pipe, cams, record, done, None, None, memory, text)
        context = max(1, pipe.config.working_window) if args.context_frames is None else args.context_frames
        if not 1 <= context < args.num_frames:
            raise UsageError(f"--context-frames: expected 1 .. --num-frames - 1, got {context}")
        frames, depth, cams, record = _first_frames(args, pipe.frame_size, context)
        stop = args.num_frames if args.stop_after is None else args.stop_after
        check_stop("--stop-after", stop, frames.shape[0], chunk, args.num_frames)
        return Inputs(pipe, cams[:stop], record, frames.shape[0], frames, depth, None, text)
    except ValueError as err:
        raise UsageError(" ".join(str(err).split())) from None


def _load_memory(args):
    """The memory of ``--resume-memory`` (None without it); it must hold frames."""
    if args.resume_memory is None:
        return None
    from worldmem.memory import WorldMemory

    try:
        memory = WorldMemory.load(args.resume_memory)
    except ValueError as err:
        raise UsageError(f"--resume-memory: {err}") from None
    if memory.num_frames == 0:
        raise UsageError(f"--resume-memory: the memory in {args.resume_memory} holds no frames")
    return memory


def _load_pipeline(args):
    """The pipeline of ``--checkpoint``, or the random tiny model seeded with ``--seed``, with the command's
    ``generation.KEY=VALUE`` overrides applied to its generation settings."""
    from worldmem.pipelines import generation_from, load_pipeline
    from worldmem.utils.config import ConfigError

    if args.random_init:
        from worldmem.pipelines.tiny import random_tiny_pipeline

        pipe = random_tiny_pipeline(seed=args.seed)
    else:
        try:
            pipe = load_pipeline(args.checkpoint)
        except ValueError as err:
            raise UsageError(f"--checkpoint: {err}") from None
    if args.overrides:
        try:
            pipe.set_generation(generation_from(pipe, args.overrides))
        except ConfigError as err:
            raise UsageError(str(err)) from None
    return pipe


def _text_flags(args, pipe, memory) -> dict:
    """The pipeline's prompt arguments; attaches ``--text-encoder``. A resumed memory's recorded prompt goes on
    unless ``--prompt`` is given."""
    if args.text_encoder is not None:
        from worldmem.models.text import load_text_encoder

        try:
            pipe.set_text_encoder(*load_text_encoder(args.text_encoder, dtype=pipe.transformer.dtype))
        except ValueError as err:
            raise UsageError(f"--text-encoder: {err}") from None
    prompt = args.prompt if args.prompt is not None or memory is None else memory.metadata.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise UsageError(f"--resume-memory: {args.resume_memory}: memory.json: metadata.prompt: expected a string, "
                         f"got {prompt!r}"[:300])
    given = {"prompt": prompt, "negative_prompt": args.negative_prompt, "text_guidance_scale": args.text_guidance_scale}
    given = {k: v for k, v in given.items() if v is not None}
    if given and pipe.text_encoder is None:
        where = "--random-init" if args.checkpoint is None else f"the pipeline in {args.checkpoint}"
        raise UsageError(f"--{next(iter(given)).replace('_', '-')}: {where} has no text encoder (a model that takes "
                         "text needs --text-encoder DIR)")
    return given


def _first_frames(args, frame_size: tuple[int, int], context: int):
    """(frames, depth, cameras of the whole path, its record) of a new video: ``context`` frames rendered from
    ``--scene``, or the video of ``--frames`` with ``--depth`` and ``--cameras`` (the path then starts at its last
    camera, which it repeats as its first frame)."""
    from worldmem.data.clip import ClipError
    from worldmem.data.media import read_video
    from worldmem.geometry import Cameras
    from worldmem.utils.checks import check_depth
    from worldmem.utils.io import read_json

    if args.scene is not None:
        from worldmem.synthetic import SyntheticScene

        record = scene_record(args.trajectory, args.scene, args.num_frames)
        cams = path_cameras(record, frame_size)
        frames, depth = SyntheticScene.random(seed=scene_seed(args.scene)).render(cams[:context])
        return frames, depth, cams, record
    for name in ("frames", "depth", "cameras"):
        if getattr(args, name) is None:
            raise UsageError(f"--{name}: required with --frames (or use --scene synthetic:SEED)")
        if not Path(getattr(args, name)).is_file():
            raise UsageError(f"--{name}: no such file {getattr(args, name)}")
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
            raise UsageError(f"--{name}: {where}{reason}"[:400]) from None
    frames, depth, given = inputs["frames"], inputs["depth"], inputs["cameras"]
    n0 = frames.shape[0]
    if depth.shape != (n0, 1, *frames.shape[-2:]) or len(given) != n0:
        raise UsageError(f"--depth/--cameras: expected {n0} frames (as --frames), depth (N0, H, W) and {n0} cameras "
                         f"of the same size, got depth {tuple(depth.shape)} and {len(given)} cameras")
    if (given.height, given.width) != tuple(frames.shape[-2:]):
        raise UsageError(f"--cameras: expected image size {tuple(frames.shape[-2:])}, got "
                         f"{(given.height, given.width)}")
    extra = args.num_frames - n0
    if extra < 1:
        raise UsageError(f"--num-frames: expected more than the {n0} given frames, got {args.num_frames}")
    keys = keys_of(args.trajectory)
    if keys is not None and len(keys) != extra:
        raise UsageError(f"--trajectory: {len(keys)} keys give {len(keys)} new frames, expected {extra}")
    # The path starts at the last given camera (which it repeats as its first frame).
    record = anchor_record(args.trajectory, given[n0 - 1], n0 - 1, args.num_frames)
    cams = Cameras.cat([given, path_cameras(record, frame_size)[n0:]])
    return frames, depth, cams, record
