"""``worldmem explore``: walk a generated world in the browser and watch its memory being made.

    worldmem explore --checkpoint DIR [--scene synthetic:SEED | --frames F --depth D --cameras C | --load WORLD]
        [--port P] [--host H] [--save-to WORLD] [--record DIR] [--steps N] [--seed S] [--prompt TEXT]
        [--moves KEYS [--quit]]

Serves a page (viser) at ``http://HOST:PORT``: the newest generated frame, the map as a point cloud that grows
as the world is made, the camera path and the current camera, the episodic keyframes and, on a toggle, the
spatial render the model read. Moves (buttons; keys W A S D, Q E, R F) become smooth chunks of cameras that a
worker generates in order; "Bookmark" saves the camera and "Go back to bookmark" walks a smooth path back to
it; "Save world" writes ``--save-to`` (a folder ``--load`` continues with exactly the frames an uninterrupted
session would make). Each chunk prints one latency line (``chunk K: frames A-B, read .. ms, ...``,
:mod:`worldmem.explore.latency`). ``--record DIR`` writes the whole explored video, depth, cameras, map and
memory at exit (Ctrl-C or SIGTERM). docs/explore.md has the page, the keys, the folder format and the latency.

One module per job: :mod:`~worldmem.explore.arguments` (flags and checks), :mod:`~worldmem.explore.planner`
(moves and bookmark paths), :mod:`~worldmem.explore.world` (the world, its chunks, saving and loading),
:mod:`~worldmem.explore.increments` (new map points), :mod:`~worldmem.explore.latency` (the chunk line),
:mod:`~worldmem.explore.worker` (the work thread), :mod:`~worldmem.explore.page` (the page) and
:mod:`~worldmem.explore.app` (the session). A bad input is one line ``worldmem explore: error: ...`` and exit
status 2 (:func:`~worldmem.utils.cli_errors.run_command`).
"""

from __future__ import annotations

import argparse
import sys

from worldmem.explore.arguments import add_arguments
from worldmem.utils.cli_errors import ArgumentParser, parse_command, run_command

__all__ = ["COMMAND", "DESCRIPTION", "add_arguments", "main", "run"]

COMMAND = "worldmem explore"
DESCRIPTION = __doc__.split("\n\n")[0]


def run(args: argparse.Namespace, argv: list[str]) -> None:
    """The command for parsed ``args`` (``argv``, the command line after ``explore``, is recorded in saved worlds);
    a bad input raises :class:`~worldmem.utils.cli_errors.UsageError` before the page starts."""
    from worldmem.explore.app import explore

    explore(args, argv)


def main(argv: list[str] | None = None) -> int:
    """``worldmem explore ARGS`` (:mod:`worldmem.cli` builds the same parser as its ``explore`` sub-command)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = ArgumentParser(prog=COMMAND, description=DESCRIPTION)
    add_arguments(parser)
    return run_command(parser, lambda args: run(args, argv), parse_command(parser, argv))
