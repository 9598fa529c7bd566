"""``worldmem generate``: a long camera-controlled video from a trained pipeline.

    worldmem generate (--checkpoint DIR | --random-init) (--scene synthetic:SEED | --frames video.mp4 --depth depth.npy
        --cameras cams.json) --trajectory NAME|keys:WWAADD --num-frames N --out DIR
        [--context-frames K] [--stop-after K] [--no-spatial] [--no-episodic] [--save-memory DIR]
        [--resume-memory DIR] [--prompt TEXT [--negative-prompt TEXT] [--text-guidance-scale X]
        [--text-encoder DIR]] [--guidance-scale X] [generation.KEY=VALUE ...]

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

Generation settings (docs/configs.md): ``generation.KEY=VALUE`` words anywhere on the line override the pipeline's
:class:`~worldmem.pipelines.GenerationConfig` for this run (``generation.write_gate.margin=0
generation.render_anchor=0.5``), through :func:`~worldmem.pipelines.generation_from` as in every command that
generates; the steps and guidance scales keep their flags (``--steps``, ``--guidance-scale``,
``--text-guidance-scale``), and a resumed memory keeps its own ``memory_config``.

The command is parse, check, load, run, write (:func:`main`, :func:`run`), one module per job:
:mod:`~worldmem.generate.arguments` (the flags, their defaults and the checks of the flags alone),
:mod:`~worldmem.generate.paths` (the camera path and the record of it the memory keeps),
:mod:`~worldmem.generate.inputs` (the pipeline, the resumed memory or the given frames, the path's cameras),
:mod:`~worldmem.generate.rollout` (the cost line, then the pipeline) and :mod:`~worldmem.generate.outputs` (the
output folders). Each raises :class:`~worldmem.utils.cli_errors.UsageError` for a bad input; it becomes the one
error line in one place (:func:`~worldmem.utils.cli_errors.run_command`).
"""

from __future__ import annotations

import argparse
import sys

from worldmem.generate.arguments import add_arguments, check_args, settle
from worldmem.generate.inputs import load
from worldmem.generate.outputs import COMMAND, RUN_MARKER, check_outputs, write_outputs
from worldmem.generate.rollout import roll_out
from worldmem.utils.cli_errors import ArgumentParser, parse_command, run_command

__all__ = ["COMMAND", "DESCRIPTION", "RUN_MARKER", "add_arguments", "main", "run"]

DESCRIPTION = __doc__.split("\n\n")[0]


def run(args: argparse.Namespace, argv: list[str]) -> None:
    """The command for parsed ``args``: settle the defaults, check the flags and the outputs, load the inputs,
    roll the video out and write it (``run.json`` records ``argv``, the command line after ``generate``). A bad
    input raises :class:`~worldmem.utils.cli_errors.UsageError` before any output is written."""
    settle(args)
    check_args(args)
    check_outputs(args)
    inputs = load(args)
    video = roll_out(args, inputs)
    write_outputs(args, video, argv)


def main(argv: list[str] | None = None) -> int:
    """``worldmem generate ARGS`` (:mod:`worldmem.cli` builds the same parser as its ``generate`` sub-command):
    parse, check, load, run, write; a bad input is one line ``worldmem generate: error: ...`` and exit status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgumentParser(prog=COMMAND, description=DESCRIPTION)
    add_arguments(parser)
    return run_command(parser, lambda args: run(args, argv), parse_command(parser, argv))
