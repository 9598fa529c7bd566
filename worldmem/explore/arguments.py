"""``worldmem explore``'s flags (:func:`add_arguments`) and every check that needs no model (:func:`check_args`):
bad input raises :class:`~worldmem.utils.cli_errors.UsageError` naming the flag, before anything is loaded."""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from worldmem.utils.cli_errors import UsageError

__all__ = ["DEFAULT_THREADS", "DEFAULT_PORT", "DEFAULT_SAVE_TO", "MOVE_KEYS", "add_arguments", "check_args", "check_port",
           "free_port"]

DEFAULT_PORT = 8080
DEFAULT_THREADS = min(2, os.cpu_count() or 1)
"""Measured with `python -m eval bench explore` on this 2-core CPU, the model in the worker's thread (compiled): 129
ms a chunk on two threads, 183 ms on one."""
DEFAULT_SAVE_TO = Path("outputs/explore/world")
MOVE_KEYS = {"W": "forward", "S": "back", "A": "left", "D": "right", "Q": "turn-left", "E": "turn-right",
             "R": "up", "F": "down", "B": "bookmark", "G": "return", "V": "save"}
"""The letters of ``--moves`` (the page's hotkeys, plus B bookmark, G go back to it, V save)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the flags of ``worldmem explore`` on ``parser``."""
    parser.add_argument("--checkpoint", type=Path, required=True, help="a saved WorldMemPipeline folder")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--scene", help="synthetic:SEED, a procedural scene (default synthetic:0)")
    src.add_argument("--frames", help="an mp4 (or image folder) of the first frames")
    src.add_argument("--load", type=Path, metavar="WORLD", help="continue a saved world ('save world' or --record)")
    parser.add_argument("--depth", help="(N0, H, W) .npy z-depth of --frames")
    parser.add_argument("--cameras", help="cameras.json of --frames")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the page's port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; 0.0.0.0: all)")
    parser.add_argument("--save-to", type=Path, default=DEFAULT_SAVE_TO, metavar="WORLD",
                        help=f"where 'save world' writes (default {DEFAULT_SAVE_TO}; new, empty or a saved world)")
    parser.add_argument("--record", type=Path, metavar="DIR",
                        help="at exit, write the explored video, depth, cameras, map .ply and memory here")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoising steps per chunk (default the pipeline's; a loaded world keeps its own)")
    parser.add_argument("--seed", type=int, default=None, help="noise seed (default 0; a loaded world keeps its own)")
    parser.add_argument("--prompt", default=None, help="text every chunk is conditioned on (needs a text encoder)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"torch CPU threads of the model (default {DEFAULT_THREADS}, at most 2: the tiny model's "
                             "chunk took 129 ms on two threads, 183 ms on one, on a 2-core CPU; docs/explore.md)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                        help="compile the model's transformer blocks before the page opens (default on: about 20 s "
                             "the first time, seconds once torch has cached them; --no-compile runs eagerly)")
    parser.add_argument("--moves", default="", metavar="KEYS",
                        help="moves queued at the start: " + ", ".join(f"{k} {v}" for k, v in MOVE_KEYS.items()))
    parser.add_argument("--quit", action="store_true",
                        help="exit once the --moves are done (a scripted, headless session; the page still serves)")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free on ``host`` now (the system's pick), for a page nobody has to type the address of."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def check_port(host: str, port: int) -> None:
    """A busy ``port`` is an error here (viser itself would quietly move to the next free one)."""
    if not 1 <= port <= 65535:
        raise UsageError(f"--port: expected a port in [1, 65535], got {port}")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise UsageError(f"--port: {host}:{port} is busy or not available ({err.strerror or err}); choose "
                             "another with --port") from None


def check_args(args: argparse.Namespace) -> None:
    """Every check of the flags alone, then the outputs (nothing of the user's is replaced) and the port."""
    from worldmem.explore.world import COMMAND
    from worldmem.generate.paths import scene_seed
    from worldmem.pipelines.cost import MAX_STEPS
    from worldmem.utils.io import RUN_RECORD, overlap_problem, replace_problem

    if not (args.checkpoint / "model_index.json").is_file():
        raise UsageError(f"--checkpoint: no model_index.json in {args.checkpoint} (expected a saved WorldMemPipeline)")
    for name in ("depth", "cameras"):
        if getattr(args, name) is not None and args.frames is None:
            raise UsageError(f"--{name}: only with --frames (it describes the given video)")
    if args.frames is not None and (args.depth is None or args.cameras is None):
        raise UsageError("--frames: needs --depth and --cameras too")
    if args.scene is not None:
        scene_seed(args.scene)
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise UsageError(f"--steps: expected an int in [1, {MAX_STEPS}] (MAX_STEPS), got {args.steps}")
    bad = sorted({k for k in args.moves.upper() if k not in MOVE_KEYS})
    if bad:
        raise UsageError(f"--moves: unknown key(s) {''.join(bad)!r}; expected letters of {''.join(MOVE_KEYS)!r}")
    if args.quit and not args.moves:
        raise UsageError("--quit: only with --moves (it exits once they are done)")
    if not 1 <= args.threads <= (os.cpu_count() or 1):
        raise UsageError(f"--threads: expected an int in [1, {os.cpu_count() or 1}] (this machine's CPUs), got {args.threads}")
    if args.load is not None:
        from worldmem.explore.world import world_problem

        for flag, value in (("--steps", args.steps), ("--seed", args.seed)):
            if value is not None:
                raise UsageError(f"{flag}: not with --load (a loaded world keeps its own, so that it goes on exactly)")
        problem = world_problem(args.load)
        if problem:
            raise UsageError(f"--load: {problem}")
    inputs = {"--checkpoint": args.checkpoint, "--frames": args.frames, "--depth": args.depth,
              "--cameras": args.cameras}
    problem = overlap_problem({"--save-to": args.save_to, "--record": args.record}, inputs)
    if problem:
        raise UsageError(problem)
    for flag, folder in (("--save-to", args.save_to), ("--record", args.record)):
        problem = None if folder is None else replace_problem(folder, RUN_RECORD, COMMAND)
        if problem:
            raise UsageError(f"{flag}: {problem}")
    check_port(args.host, args.port)
