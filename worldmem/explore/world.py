"""The world being explored: its memory, every frame and camera so far, the settings that make its chunks, and
saving it (``save world``, ``--record``) and loading it again (``--load``).

A chunk is one pipeline call that resumes from the world's memory (``pipe(cameras=..., memory=...)``). The
pipeline's chunk noise depends only on the generator's seed and the chunk's first frame index, and a saved
memory loads exactly, so a world saved after k chunks and loaded again makes the same frames along the same
moves as one session that never stopped (the guarantee of ``worldmem generate --resume-memory``). For that the
camera a move starts from must be exact too: the world keeps its cameras (and frames and depth) in
``world.safetensors``, not only in ``cameras.json``.

A saved world is a folder (docs/explore.md): what ``worldmem generate`` writes (``video.mp4``, ``depth.mp4``,
``cameras.json``, ``memory.ply``, ``memory/``; :func:`worldmem.generate.outputs.write_outputs` writes them) plus
``world.safetensors`` (``frames`` (N, 3, H, W), ``depth`` (N, 1, H, W), ``cam_from_world`` (N, 4, 4), ``K`` (N, 3,
3)), ``world.json`` (the seed, steps, prompt, chunk counter, step sizes and bookmarks) and ``run.json`` naming
``worldmem explore`` (the marker: only such a folder is replaced by a later save).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from worldmem.explore.planner import move_chunk, return_chunks, return_path
from worldmem.geometry import Cameras

__all__ = ["COMMAND", "FORMAT_VERSION", "STATE_FILE", "WORLD_FILE", "Chunk", "World", "world_problem"]

COMMAND = "worldmem explore"
WORLD_FILE = "world.json"
STATE_FILE = "world.safetensors"
FORMAT_VERSION = 1
STEP_PER_FRAME = 0.02
"""Walking speed: normalised scene units (the memory's: median depth of the first frames 1) per frame."""
TURN_DEG_PER_FRAME = 5.0
"""Turning speed in degrees per frame."""


@dataclass
class Chunk:
    """One generated chunk."""

    index: int
    """The world's chunk counter (0 = the first generated chunk)."""
    first: int
    """Index of its first frame in the world's video."""
    frames: torch.Tensor
    """(T, 3, H, W) in [0, 1]."""
    depth: torch.Tensor
    """(T, 1, H, W) z-depth in scene units."""
    cameras: Cameras
    """(T,) its cameras."""
    spatial: torch.Tensor | None
    """(T, 3, H, W) the map's render the model read for it (None with the spatial memory off)."""
    timings: dict[str, float]
    """Seconds per pipeline stage (:data:`worldmem.explore.latency.STAGES`)."""
    started: float
    """``time.perf_counter()`` when the pipeline call started."""


def _append(buffer: torch.Tensor, count: int, rows: torch.Tensor) -> torch.Tensor:
    """``buffer`` (capacity, ...) holding ``count`` rows, with ``rows`` written after them. When they do not fit, a
    new buffer of twice the needed capacity takes the old rows, so a chunk costs its own size, not the world's."""
    need = count + rows.shape[0]
    if need > buffer.shape[0]:
        grown = buffer.new_empty((max(2 * buffer.shape[0], need), *buffer.shape[1:]))
        grown[:count] = buffer[:count]
        buffer = grown
    buffer[count:need] = rows
    return buffer


def world_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a saved world (one line), or None."""
    from worldmem.utils.io import RUN_RECORD, read_json

    if not folder.is_dir():
        return f"{folder}: no such folder (expected a world saved by worldmem explore)"
    missing = [name for name in (RUN_RECORD, WORLD_FILE, STATE_FILE, "memory/memory.json") if not (folder / name).is_file()]
    if missing:
        return f"{folder}: not a saved world (no {', '.join(missing)}; expected a folder written by 'save world' or --record)"
    try:
        record = read_json(folder / RUN_RECORD)
    except (OSError, ValueError) as err:
        return f"{folder}: {RUN_RECORD}: {' '.join(str(err).split())}"[:300]
    named = record.get("command") if isinstance(record, dict) else None
    if named != COMMAND:
        return f"{folder}: not a saved world ({RUN_RECORD} names {named!r}, not {COMMAND!r})"[:300]
    return None


class World:
    """A world: the pipeline and its memory, every frame, depth and camera so far, and how chunks are made.

    Args:
        pipe: the :class:`~worldmem.pipelines.WorldMemPipeline`.
        memory: its :class:`~worldmem.memory.WorldMemory`, holding every frame so far.
        frames: (N, 3, H, W) in [0, 1], every frame so far (N = ``memory.num_frames``).
        depth: (N, 1, H, W) their z-depth in scene units.
        cameras: (N,) their cameras.
        seed: the noise seed of every chunk.
        steps: denoising steps per chunk.
        prompt: the text every chunk reads (pipelines with a text encoder), or None.
        chunks: chunks generated so far.
        bookmarks: saved cameras, each (1,).
        compiled: whether its chunks were made with compiled blocks (:mod:`~worldmem.explore.compiled`; None:
            not known, a world saved before the mode was recorded).
    """

    def __init__(self, pipe, memory, frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras, seed: int = 0,
                 steps: int | None = None, prompt: str | None = None, chunks: int = 0,
                 bookmarks: list[Cameras] | None = None, compiled: bool | None = None):
        if not memory.num_frames == frames.shape[0] == depth.shape[0] == len(cameras):
            raise ValueError(f"world: expected as many frames, depth maps and cameras as the memory's "
                             f"{memory.num_frames}, got {frames.shape[0]}, {depth.shape[0]}, {len(cameras)}")
        self.pipe, self.memory = pipe, memory
        # Frames and depth in buffers that grow by doubling (:func:`_append`); the rows so far are ``len(cameras)``.
        self._frames, self._depth, self.cameras = frames, depth, cameras
        self.seed = seed
        self.steps = int(pipe.config.num_inference_steps) if steps is None else steps
        self.prompt = prompt
        self.chunks = chunks
        self.bookmarks = list(bookmarks or [])
        self.compiled: bool | None = compiled

    # ------------------------------------------------------------------ starting
    @classmethod
    def from_scene(cls, pipe, scene_seed: int, seed: int = 0, steps: int | None = None,
                   prompt: str | None = None) -> World:
        """A new world in the procedural scene ``scene_seed``: the working window's frames rendered along a short
        walk that ends at the centre of the scene's free box, looking along +x (as the registry's key paths
        start), written into a new memory."""
        from worldmem.geometry import trajectories
        from worldmem.geometry.paths import FOV_DEG
        from worldmem.synthetic import SyntheticScene

        scene = SyntheticScene.random(seed=scene_seed)
        context = max(1, int(pipe.config.working_window))
        lo, hi = scene.free_box
        centre = ((lo + hi) / 2).tolist()
        walk = 0.1
        start = (centre[0] - walk * (context - 1), centre[1], centre[2])
        h, w = pipe.frame_size
        cams = trajectories.from_keys("W" * (context - 1), start=start, step=walk, height=h, width=w, fov_deg=FOV_DEG)
        frames, depth = scene.render(cams)
        return cls.from_frames(pipe, frames, depth, cams, seed=seed, steps=steps, prompt=prompt)

    @classmethod
    def from_frames(cls, pipe, frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras, seed: int = 0,
                    steps: int | None = None, prompt: str | None = None) -> World:
        """A new world from given frames (N0, 3, H, W), their depth (N0, 1, H, W) and cameras (N0,), written into a
        new memory with the pipeline's memory settings."""
        from worldmem.memory import WorldMemory

        memory = WorldMemory(pipe.generation.memory_config)
        frames, depth = frames.float(), depth.float()
        memory.write(frames, depth, cameras)
        if prompt is not None:
            memory.metadata["prompt"] = prompt
        return cls(pipe, memory, frames, depth, cameras, seed=seed, steps=steps, prompt=prompt)

    @classmethod
    def load(cls, pipe, folder: Path) -> World:
        """The world saved in ``folder`` (:meth:`save`); a folder that is not one is a ``ValueError`` line."""
        from worldmem.memory import WorldMemory
        from worldmem.utils.io import read_json

        problem = world_problem(folder)
        if problem:
            raise ValueError(problem)
        try:
            meta = read_json(folder / WORLD_FILE)
            state = load_file(str(folder / STATE_FILE))
            memory = WorldMemory.load(folder / "memory")
            size = (int(meta["height"]), int(meta["width"]))
            if size != pipe.frame_size:
                raise ValueError(f"made at {size[0]}x{size[1]}, the pipeline makes {pipe.frame_size[0]}x"
                                 f"{pipe.frame_size[1]}")
            compiled = meta.get("compiled")
            if compiled is not None and not isinstance(compiled, bool):
                raise ValueError(f"{WORLD_FILE}: compiled: expected true, false or null, got {compiled!r}")
            cams = Cameras(state["cam_from_world"], state["K"], *size)
            bookmarks = [Cameras(torch.tensor(b["cam_from_world"], dtype=torch.float32)[None],
                                 torch.tensor(b["K"], dtype=torch.float32)[None], *size) for b in meta["bookmarks"]]
            return cls(pipe, memory, state["frames"], state["depth"], cams, seed=int(meta["seed"]),
                       steps=int(meta["steps"]), prompt=meta["prompt"], chunks=int(meta["chunks"]), bookmarks=bookmarks,
                       compiled=compiled)
        except (KeyError, TypeError, ValueError, OSError, json.JSONDecodeError) as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            raise ValueError(f"{folder}: not a readable saved world: {reason}"[:400]) from None

    # ------------------------------------------------------------------ moving
    @property
    def frames(self) -> torch.Tensor:
        """(N, 3, H, W) every frame so far."""
        return self._frames[: len(self.cameras)]

    @property
    def depth(self) -> torch.Tensor:
        """(N, 1, H, W) their z-depth."""
        return self._depth[: len(self.cameras)]

    @property
    def chunk_size(self) -> int:
        return int(self.pipe.config.chunk_size)

    @property
    def current(self) -> Cameras:
        """(1,) the newest frame's camera."""
        return self.cameras[-1:]

    @property
    def step(self) -> float:
        """Scene units walked per chunk."""
        return STEP_PER_FRAME * self.chunk_size * (self.memory.scene_scale or 1.0)

    @property
    def turn_deg(self) -> float:
        """Degrees turned per chunk."""
        return TURN_DEG_PER_FRAME * self.chunk_size

    def plan_move(self, move: str) -> Cameras:
        """(chunk_size,) cameras of ``move`` (a :data:`~worldmem.explore.planner.MOVES` name) from the current one."""
        return move_chunk(self.current, move, self.chunk_size, self.step, self.turn_deg)

    def plan_return(self, bookmark: Cameras) -> list[Cameras]:
        """The chunks (each (chunk_size,) cameras) of a smooth path from the current camera to ``bookmark``; the
        last camera is the bookmark."""
        n = return_chunks(self.current, bookmark, self.step, self.turn_deg)
        path = return_path(self.current, bookmark, n * self.chunk_size)
        return [path[i:i + self.chunk_size] for i in range(0, len(path), self.chunk_size)]

    # ------------------------------------------------------------------ generating
    def generate(self, cameras: Cameras) -> Chunk:
        """Generates the frames of ``cameras`` (one chunk, (chunk_size,)) and adds them to the world."""
        if len(cameras) != self.chunk_size:
            raise ValueError(f"cameras: expected one chunk of {self.chunk_size} cameras, got {len(cameras)}")
        timings: dict[str, float] = {}
        readouts = []
        started = time.perf_counter()
        text = {} if self.prompt is None else {"prompt": self.prompt}
        every = Cameras.cat([self.cameras, cameras])
        out = self.pipe(cameras=every, memory=self.memory,
                        generator=torch.Generator().manual_seed(self.seed), num_inference_steps=self.steps,
                        progress=False, timings=timings,
                        callback_on_chunk_end=lambda pipe, i, state: readouts.append(state["readout"]), **text)
        first = len(self.cameras)
        self._frames = _append(self._frames, first, out.frames)
        self._depth = _append(self._depth, first, out.depth)
        self.cameras = every
        spatial = readouts[0].spatial.rgb if readouts and readouts[0].spatial is not None else None
        chunk = Chunk(self.chunks, first, out.frames, out.depth, cameras, spatial, timings, started)
        self.chunks += 1
        return chunk

    def bookmark(self) -> int:
        """Saves the current camera as a bookmark; returns its number (from 1)."""
        self.bookmarks.append(Cameras(self.current.cam_from_world.clone(), self.current.K.clone(),
                                      self.cameras.height, self.cameras.width))
        return len(self.bookmarks)

    # ------------------------------------------------------------------ saving
    def save(self, folder: Path, argv: list[str]) -> None:
        """Writes the world into ``folder`` atomically (the whole folder is built beside it and swapped in); an
        existing ``folder`` is replaced only when empty or a saved world (``ValueError`` otherwise)."""
        from worldmem.generate.outputs import write_outputs
        from worldmem.generate.rollout import Video
        from worldmem.pipelines import WorldMemPipelineOutput
        from worldmem.utils.io import RUN_RECORD, atomic_directory, atomic_write_json

        if self.prompt is not None:
            self.memory.metadata["prompt"] = self.prompt  # what `worldmem generate --resume-memory` goes on with
        h, w = self.cameras.height, self.cameras.width
        video = Video(WorldMemPipelineOutput(frames=self.frames, depth=self.depth, memory=self.memory, start_index=0,
                                             alignment=[]), self.cameras)
        meta = {"format_version": FORMAT_VERSION, "height": h, "width": w, "frames": int(self.frames.shape[0]),
                "chunks": self.chunks, "seed": self.seed, "steps": self.steps, "prompt": self.prompt,
                "chunk_size": self.chunk_size, "step": self.step, "turn_deg": self.turn_deg, "compiled": self.compiled,
                "bookmarks": [{"cam_from_world": b.cam_from_world[0].tolist(), "K": b.K[0].tolist()}
                              for b in self.bookmarks]}

        def fill(tmp: Path) -> None:
            with contextlib.redirect_stdout(io.StringIO()):  # its line would name the temporary folder
                write_outputs(argparse.Namespace(out=tmp, save_memory=None), video, [])
            save_file({"frames": self.frames.contiguous(), "depth": self.depth.contiguous(),
                       "cam_from_world": self.cameras.cam_from_world.contiguous(), "K": self.cameras.K.contiguous()},
                      str(tmp / STATE_FILE))
            atomic_write_json(tmp / WORLD_FILE, meta)
            atomic_write_json(tmp / RUN_RECORD, {"command": COMMAND, "argv": list(argv)})

        atomic_directory(folder, fill, marker=RUN_RECORD, command=COMMAND)
