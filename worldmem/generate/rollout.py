"""The run of ``worldmem generate`` (:func:`roll_out`): the cost printed before the work, then the pipeline along
the path, and the path and prompt recorded in the memory so that ``--resume-memory`` goes on from them."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from worldmem.generate.inputs import Inputs
from worldmem.utils.cli_errors import UsageError

if TYPE_CHECKING:
    from worldmem.geometry import Cameras
    from worldmem.pipelines import WorldMemPipelineOutput

__all__ = ["Video", "announce", "roll_out"]


@dataclass
class Video:
    """A finished run: the pipeline's output and the cameras of its new frames."""

    output: WorldMemPipelineOutput
    """``frames`` (N, 3, H, W), ``depth`` (N, 1, H, W) and the final ``memory`` (its metadata holding the path)."""
    cameras: Cameras
    """(N,) cameras of ``output.frames``: the whole video, or the new frames only when resuming."""


def announce(args: argparse.Namespace, pipe, new_frames: int, given: int) -> None:
    """Prints what the run will cost (:mod:`worldmem.pipelines.cost`) before it starts; more new frames than a run
    may make (e.g. the rest of a resumed path) is an error naming --num-frames."""
    from worldmem.pipelines.cost import MAX_RUN_FRAMES, pipeline_estimate

    if new_frames > MAX_RUN_FRAMES:
        raise UsageError(f"--num-frames: expected at most {MAX_RUN_FRAMES} new frames per run (MAX_RUN_FRAMES), this "
                         f"run would make {new_frames} (give --num-frames to resume a part of the path)")
    cost = pipeline_estimate(pipe, new_frames, args.steps, args.guidance_scale, args.text_guidance_scale or 1.0, given)
    print(f"worldmem generate: {cost.line()}", flush=True)


def roll_out(args: argparse.Namespace, inputs: Inputs) -> Video:
    """Generates the video along ``inputs.cameras`` from the given frames (or the resumed memory)."""
    pipe, cams = inputs.pipe, inputs.cameras
    flags = {"use_spatial": not args.no_spatial, "use_episodic": not args.no_episodic,
             "num_inference_steps": args.steps, "generator": torch.Generator().manual_seed(args.seed),
             "guidance_scale": args.guidance_scale, **inputs.text}
    try:
        announce(args, pipe, len(cams) - inputs.given, inputs.given)
        if inputs.memory is not None:
            out = pipe(cameras=cams, memory=inputs.memory, **flags)
            cams = cams[inputs.given:]  # the new frames only
        else:
            out = pipe(frames=inputs.frames, depth=inputs.depth, cameras=cams, **flags)
    except ValueError as err:
        raise UsageError(" ".join(str(err).split())) from None
    out.memory.metadata["path"] = inputs.record  # so that --resume-memory goes on along the same path
    if "prompt" in inputs.text:  # --resume-memory reads it
        out.memory.metadata["prompt"] = inputs.text["prompt"]
    return Video(out, cams)
