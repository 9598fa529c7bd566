"""The session of ``worldmem explore`` (:func:`explore`): load the pipeline and the world, start the page and the
worker, serve until Ctrl-C (or SIGTERM, or the end of ``--moves`` with ``--quit``), then write ``--record``."""

from __future__ import annotations

import argparse
import signal
import threading
import time

import torch

from worldmem.explore.arguments import MOVE_KEYS, check_args
from worldmem.explore.worker import say
from worldmem.utils.cli_errors import UsageError

__all__ = ["Session", "explore", "load_world", "start_session"]


def load_world(args: argparse.Namespace):
    """The pipeline of ``--checkpoint`` and the world to explore: ``--load``'s, or a new one from ``--frames`` or
    ``--scene`` (default ``synthetic:0``)."""
    from worldmem.explore.world import World
    from worldmem.generate.paths import scene_seed
    from worldmem.pipelines import load_pipeline

    try:
        pipe = load_pipeline(args.checkpoint)
    except (ValueError, OSError) as err:
        raise UsageError(f"--checkpoint: {' '.join(str(err).split())}"[:400]) from None
    if args.prompt is not None and pipe.text_encoder is None:
        raise UsageError(f"--prompt: the pipeline in {args.checkpoint} has no text encoder")
    if args.load is not None:
        try:
            world = World.load(pipe, args.load)
        except ValueError as err:
            raise UsageError(f"--load: {err}") from None
        if args.prompt is not None:  # a new prompt from the next chunk on; else the saved world's
            world.prompt = args.prompt
        return pipe, world
    if args.frames is not None:
        frames, depth, cameras = _given_frames(args, pipe)
        try:
            return pipe, World.from_frames(pipe, frames, depth, cameras, args.seed or 0, args.steps, args.prompt)
        except ValueError as err:
            raise UsageError(f"--frames: {' '.join(str(err).split())}"[:400]) from None
    seed = scene_seed(args.scene or "synthetic:0")
    return pipe, World.from_scene(pipe, seed, args.seed or 0, args.steps, args.prompt)


def _given_frames(args, pipe):
    """(frames, depth, cameras) of ``--frames``/``--depth``/``--cameras``, read and checked by the same code as
    ``worldmem generate --frames`` (a one-frame key path after them is built and dropped)."""
    from worldmem.generate.inputs import _first_frames

    given = argparse.Namespace(scene=None, frames=args.frames, depth=args.depth, cameras=args.cameras,
                               trajectory="keys:.", num_frames=None)
    n0 = _count_given(args)
    given.num_frames = n0 + 1
    frames, depth, cams, _ = _first_frames(given, pipe.frame_size, 1)
    if (cams.height, cams.width) != pipe.frame_size:
        raise UsageError(f"--cameras: expected the model's image size {pipe.frame_size}, got {(cams.height, cams.width)}")
    return frames, depth, cams[:n0]


def _count_given(args) -> int:
    from worldmem.data.media import read_video

    try:
        return int(read_video(args.frames, None, None)[0].shape[0])
    except (ValueError, OSError) as err:
        raise UsageError(f"--frames: {' '.join(str(err).split())}"[:400]) from None


class Session:
    """A running explorer: the world, the viser server, the page and the worker."""

    def __init__(self, args: argparse.Namespace, argv: list[str], world, server, page, worker):
        self.args, self.argv, self.world, self.server, self.page, self.worker = args, argv, world, server, page, worker

    def queue_moves(self, keys: str) -> None:
        """Queues ``keys`` (letters of :data:`~worldmem.explore.arguments.MOVE_KEYS`) in order."""
        for key in keys.upper():
            action = MOVE_KEYS[key]
            if action == "bookmark":
                self.worker.bookmark()
            elif action == "return":
                self.worker.go_back()
            elif action == "save":
                self.worker.save()
            else:
                while not self.worker.move(action):  # a long script waits for room in the queue
                    time.sleep(0.05)

    def close(self) -> None:
        """Finishes the queued work, writes ``--record``, stops the page."""
        self.worker.stop()
        if self.args.record is not None:
            try:
                self.world.save(self.args.record, self.argv)
            except ValueError as err:
                say(f"worldmem explore: --record: {' '.join(str(err).split())}"[:400])
            else:
                say(f"recorded {self.world.frames.shape[0]} frames to {self.args.record}/video.mp4, depth.mp4, "
                    "cameras.json, memory.ply, memory/")
        self.page.close()
        self.server.stop()


def start_session(args: argparse.Namespace, argv: list[str]) -> Session:
    """Checks the flags, loads the world, starts the page and the worker (nothing is queued yet)."""
    import viser

    from worldmem.explore.page import Page
    from worldmem.explore.worker import Worker

    check_args(args)
    if args.compile:
        from worldmem.explore.compiled import check_compiler

        check_compiler()
    # This thread loads on one torch thread; the model runs in the worker's thread, on --threads (worker.py says why).
    torch.set_num_threads(1)
    with torch.no_grad():  # (the pipeline's own calls are no_grad in the worker's thread too)
        _, world = load_world(args)
    if args.load is not None and world.compiled is not None and world.compiled != args.compile:
        made, now = ("compiled", "eager") if world.compiled else ("eager", "compiled")
        say(f"worldmem explore: note: --load: the world was made {made}, this session runs {now}; its next frames "
            "differ from an uninterrupted session's in rounding (about 1e-6) and grow apart from there")
    world.compiled = args.compile
    server = viser.ViserServer(host=args.host, port=args.port, verbose=False)
    if server.get_port() != args.port:  # taken between the check and now
        server.stop()
        raise UsageError(f"--port: {args.host}:{args.port} is busy; choose another with --port")
    actions = {}
    scale = world.memory.scene_scale or 1.0
    up = -world.cameras.world_from_cam[0, :3, 1].double().numpy()  # the first camera's up (-y)
    prompt_box = (world.prompt or "") if world.pipe.text_encoder is not None else None  # None: no prompt box
    page = Page(server, actions, prompt_box, scale, up)
    worker = Worker(world, page, args.save_to, argv, threads=args.threads, compile=args.compile)
    actions.update(move=worker.move, bookmark=worker.bookmark, save=worker.save, prompt=worker.set_prompt,
                   **{"return": worker.go_back})
    worker.start()
    return Session(args, argv, world, server, page, worker)


def explore(args: argparse.Namespace, argv: list[str]) -> None:
    """The command: serve the page until interrupted (or until ``--moves`` are done with ``--quit``)."""
    session = start_session(args, argv)
    say(f"worldmem explore: serving http://{args.host}:{args.port} (Ctrl-C to stop)")
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        session.queue_moves(args.moves)
        while not stop.is_set():
            if args.quit and session.worker.wait(timeout=0.2):
                break
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        session.close()

