"""What ``worldmem generate`` writes: the ``--out`` folder (``video.mp4``, ``depth.mp4``, ``cameras.json``,
``memory.ply``, ``memory/``, ``run.json``) and ``--save-memory``; and the check, before any work, that these
outputs replace nothing of the user's (docs/outputs.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from worldmem.utils.cli_errors import UsageError

__all__ = ["COMMAND", "RUN_MARKER", "check_outputs", "write_outputs"]

COMMAND = "worldmem generate"
RUN_MARKER = "run.json"
"""The file every ``--out`` folder of this command holds (the command and its arguments): a folder with it may be
replaced by a new run; any other non-empty folder is refused (docs/outputs.md)."""


def check_outputs(args: argparse.Namespace) -> None:
    """Refuses, before any work, outputs that would replace a folder this command did not write, or that are, hold
    or lie inside one another or an input (``--out`` equal to ``--resume-memory`` would destroy the state it
    resumes; ``--save-memory`` equal to ``--out`` would replace the video just written)."""
    from worldmem.utils.io import overlap_problem, replace_problem

    inputs = {"--checkpoint": args.checkpoint, "--resume-memory": args.resume_memory, "--frames": args.frames,
              "--depth": args.depth, "--cameras": args.cameras, "--text-encoder": args.text_encoder}
    problem = overlap_problem({"--out": args.out, "--save-memory": args.save_memory}, inputs)
    if problem:
        raise UsageError(problem)
    for flag, folder, marker in (("--out", args.out, RUN_MARKER), ("--save-memory", args.save_memory, "memory.json")):
        problem = None if folder is None else replace_problem(folder, marker, COMMAND)
        if problem:
            raise UsageError(f"{flag}: {problem}")


def write_outputs(args: argparse.Namespace, video, argv: list[str]) -> None:
    """Writes the finished ``video`` (a :class:`~worldmem.generate.rollout.Video`) into ``--out`` (the whole folder
    is built beside it and renamed into place only once complete) and the memory into ``--save-memory``;
    ``run.json`` records the command line ``argv``."""
    from worldmem.geometry.points import write_ply
    from worldmem.utils.io import atomic_directory, atomic_write_json
    from worldmem.utils.video import colorize_depth, write_video

    out = video.output

    def fill(folder: Path) -> None:
        write_video(folder / "video.mp4", out.frames, fps=8)
        write_video(folder / "depth.mp4", colorize_depth(out.depth), fps=8)
        atomic_write_json(folder / "cameras.json", video.cameras.to_dict())
        pts, cols = out.memory.surface_points()
        write_ply(folder / "memory.ply", pts, cols)
        out.memory.save(folder / "memory")
        atomic_write_json(folder / RUN_MARKER, {"command": COMMAND, "argv": list(argv)})

    atomic_directory(args.out, fill, marker=RUN_MARKER, command=COMMAND)
    if args.save_memory is not None:
        out.memory.save(args.save_memory)
    print(f"wrote {out.frames.shape[0]} frames to {args.out}/video.mp4, depth.mp4, cameras.json, memory.ply, memory/")
