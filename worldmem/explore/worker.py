"""The worker of ``worldmem explore``: one thread that does the world's work in the order it was asked for.

Moves, returns to a bookmark, bookmarks and saves are queued jobs (so a bookmark marks the camera after the
moves queued before it, and a save holds every chunk asked for before it). Each chunk is generated, sent to the
page (the map increment, the path, the cameras, the frames) and accounted for in one printed line
(:mod:`~worldmem.explore.latency`). At most :data:`MAX_QUEUED` moves wait; more are dropped (a held key would
otherwise queue minutes of walking).

The model runs only in the worker's thread, with its own torch thread count (``--threads``), and its blocks are
compiled there (``--compile``). The thread that loads the world runs torch on one thread: with the GNU OpenMP that
torch's CPU wheels use, a second thread pool left by the loading thread slowed every chunk made in the worker
with two threads from 118 to 205 ms (the tiny model, compiled, on this 2-core CPU; docs/explore.md).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from worldmem.explore.increments import MapIncrements
from worldmem.explore.latency import ChunkReport
from worldmem.explore.planner import MOVES

__all__ = ["MAX_QUEUED", "Worker", "say"]

MAX_QUEUED = 8
_SAY_LOCK = threading.Lock()


def say(line: str) -> None:
    """Prints ``line`` whole: the worker's thread and the main thread both print, and ``print`` writes the text and
    its newline separately, so two lines printed at once could run together ("...compiling...worldmem explore:
    serving ..."), and a reader matching line starts would miss one."""
    with _SAY_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Worker:
    """Runs jobs for ``world`` (a :class:`~worldmem.explore.world.World`) and shows them on ``page`` (a
    :class:`~worldmem.explore.page.Page`, or None for a headless run).

    Args:
        save_to: the folder ``save world`` writes.
        argv: the command line, recorded in the saved world's ``run.json``.
        out: where the printed lines go (default :func:`say`).
        threads: torch CPU threads of the model, set in the worker's thread (see the module docstring; None: as
            the process has them; ``worldmem explore`` passes ``--threads``).
        compile: compile the model's blocks (:mod:`~worldmem.explore.compiled`) in the worker's thread before
            the first job.
    """

    def __init__(self, world, page, save_to: Path, argv: list[str], out: Callable[[str], None] | None = None,
                 threads: int | None = None, compile: bool = False):
        self.world, self.page, self.save_to, self.argv = world, page, save_to, argv
        self.out = out or say
        self.threads, self.compile = threads, compile
        self.compile_s = 0.0
        self.ready = threading.Event()
        """Set once the worker's thread has its torch threads and compiled blocks, before the first job."""
        self.increments = MapIncrements()
        self.reports: list[ChunkReport] = []
        self._jobs: queue.Queue = queue.Queue()
        self._pending_moves = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="explore-worker", daemon=True)
        self.map_points = 0

    # ------------------------------------------------------------------ asking
    def move(self, name: str) -> bool:
        """Queues one move (a :data:`~worldmem.explore.planner.MOVES` name); False when too many wait."""
        if name not in MOVES:
            raise ValueError(f"move: expected one of {', '.join(MOVES)}, got {name!r}")
        with self._lock:
            if self._pending_moves >= MAX_QUEUED:
                return False
            self._pending_moves += 1
        self._jobs.put(("move", name))
        return True

    def bookmark(self) -> None:
        self._jobs.put(("bookmark", None))

    def go_back(self) -> None:
        """Queues the return to the newest bookmark."""
        self._jobs.put(("return", None))

    def save(self) -> None:
        self._jobs.put(("save", None))

    def set_prompt(self, text: str) -> None:
        self._jobs.put(("prompt", text))

    def start(self) -> None:
        """Shows the world as it is (its map, path, camera, keyframes, newest frame), then starts the thread."""
        world = self.world
        points, colours, self.map_points = self.increments.new_points(world.memory)
        if self.page is not None:
            self.page.add_points(0, points, colours)
            self.page.add_path(0, world.cameras, None)
            self.page.set_current(world.current, world.frames[-1])
            self.page.set_view(world.current)
            self.page.set_bookmarks(world.bookmarks)
            self.page.set_keyframes(list(world.memory.episodic.indices), world.frames, world.cameras)
            self.page.show_frames(world.frames[-1:])
            self.page.set_status(self._status())
        self.out(f"world: {world.frames.shape[0]} frames, {world.chunks} chunks, map {self.map_points:,} points")
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Finishes the jobs queued so far, then ends the thread."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until every queued job is done; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._jobs.unfinished_tasks:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # ------------------------------------------------------------------ doing
    def _status(self, note: str = "") -> str:
        w = self.world
        return (f"{w.chunks} chunks, {w.frames.shape[0]} frames, map {self.map_points:,} points, "
                f"{len(w.memory.episodic)} keyframes, {len(w.bookmarks)} bookmarks"
                f"{', ' + str(self._pending_moves) + ' moves queued' if self._pending_moves else ''}"
                f"{'. ' + note if note else ''}")

    def _prepare(self) -> None:
        """In the worker's thread, before any job: its torch threads, then the compiled blocks (warmed up here, so
        their kernels are built for the threads that run them)."""
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        if not self.compile:
            return
        from worldmem.explore.compiled import compile_model

        if self.page is not None:
            self.page.set_status(self._status("compiling the model's blocks"))
        self.out("worldmem explore: compiling the model's blocks (--no-compile to skip)...")
        with torch.no_grad():
            self.compile_s = compile_model(self.world)
        self.out(f"worldmem explore: compiled in {self.compile_s:.1f} s")
        if self.page is not None:
            self.page.set_status(self._status())

    def _run(self) -> None:
        try:
            self._prepare()
        except Exception as err:  # noqa: BLE001 -- the session goes on eagerly (compile_model left the blocks so)
            self.world.compiled = False
            self.out(f"worldmem explore: compiling failed, running eagerly: {' '.join(str(err).split())}"[:400])
        self.ready.set()
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                self._do(*job)
            except Exception as err:  # noqa: BLE001 -- a refused save, a chunk that fails: the session goes on
                self.out(f"worldmem explore: {job[0]} failed: {' '.join(str(err).split()) or type(err).__name__}"[:400])
                if self.page is not None:
                    self.page.set_status(self._status(f"{job[0]} failed"))
            finally:
                self._jobs.task_done()

    def _do(self, kind: str, value) -> None:
        world = self.world
        if kind == "move":
            with self._lock:
                self._pending_moves -= 1
            self.generate(world.plan_move(value))
        elif kind == "return":
            if not world.bookmarks:
                self.out("worldmem explore: no bookmark to go back to (press Bookmark first)")
                return
            for cameras in world.plan_return(world.bookmarks[-1]):
                self.generate(cameras)
        elif kind == "bookmark":
            number = world.bookmark()
            if self.page is not None:
                self.page.set_bookmarks(world.bookmarks)
                self.page.set_status(self._status(f"bookmark {number} saved"))
            self.out(f"bookmark {number}: frame {world.frames.shape[0] - 1}")
        elif kind == "save":
            world.save(self.save_to, self.argv)
            self.out(f"saved world: {world.frames.shape[0]} frames, {world.chunks} chunks, map {self.map_points:,} "
                     f"points to {self.save_to}")
            if self.page is not None:
                self.page.set_status(self._status(f"saved to {self.save_to}"))
        elif kind == "prompt":
            world.prompt = value or None  # an empty box: the empty prompt

    def generate(self, cameras) -> ChunkReport:
        """One chunk along ``cameras``: generated, sent to the page, its line printed."""
        world = self.world
        previous = world.current
        chunk = world.generate(cameras)
        sending = time.perf_counter()
        points, colours, self.map_points = self.increments.new_points(world.memory)
        if self.page is not None:
            self.page.add_points(chunk.index + 1, points, colours)
            self.page.add_path(chunk.index + 1, chunk.cameras, previous)
            self.page.set_current(world.current, chunk.frames[-1])
            self.page.set_keyframes(list(world.memory.episodic.indices), world.frames, world.cameras)
            self.page.show_frames(chunk.frames)
            self.page.show_render_of(chunk.spatial)
        done = time.perf_counter()
        report = ChunkReport(chunk.index, chunk.first, chunk.frames.shape[0], {**chunk.timings, "send": done - sending},
                             done - chunk.started, self.map_points, len(points))
        self.reports.append(report)
        line = report.line()
        if self.page is not None:
            self.page.set_latency(line)
            self.page.set_status(self._status())
        self.out(line)
        return report
