"""What a rollout will cost, said before it starts, and the bounds on a run's size.

``worldmem generate`` and ``python -m eval revisit`` print :func:`estimate` (frames, chunks, model passes, a rough
time, the output's and the map's size) before any work, and refuse sizes beyond the bounds below in one line. The
pipeline itself refuses calls beyond :data:`MAX_RUN_FRAMES` new frames or :data:`MAX_STEPS` steps; a longer video is
several calls resumed from the memory (the noise of a chunk depends only on its first frame index, so the frames are
the same as one long call).

The time is rough: model passes (chunks x steps x passes per step) times :data:`SECONDS_PER_PASS`, scaled by the
model's parameter count x latent tokens against the tiny model's, plus :data:`SECONDS_PER_CHUNK` of memory work per
chunk. Both figures were measured with the tiny model (32 x 32, 1.86 M parameters, 4-frame chunks) on one CPU
thread of the development machine; a GPU is much faster, a bigger model on the CPU slower than the scaling says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MAX_RUN_FRAMES", "MAX_STEPS", "MAX_GUIDANCE", "MAX_SCENES", "SECONDS_PER_PASS", "SECONDS_PER_CHUNK",
           "Estimate", "estimate", "pipeline_estimate", "duration"]

MAX_RUN_FRAMES = 10_000
"""The most new frames one pipeline call (one ``worldmem generate`` run, one revisit path) makes: five times the
2,000-frame long rollout; about 20 min of the tiny model on one CPU thread, days for a large model. More is
refused."""
MAX_STEPS = 1_000
"""The most denoising steps per chunk (the scheduler's training timesteps)."""
MAX_GUIDANCE = 100.0
"""The largest guidance scale (memory or text): far above useful values (1-10); beyond it the guided prediction is
the difference of two predictions times a huge number and the frames saturate."""
MAX_SCENES = 1_000
"""The most scenes (or clips) ``python -m eval revisit --scenes`` runs."""
SECONDS_PER_PASS = 0.05
"""Seconds per transformer pass of the tiny model over one 4-frame chunk (32 x 32), one CPU thread (measured: 8-step
chunks of the shipped model take about 0.5 s including the memory)."""
SECONDS_PER_CHUNK = 0.1
"""Seconds of memory work (read, write-back) per chunk of the tiny model, one CPU thread (measured)."""
_TINY_WORK = 1_858_624 * 4 * 32 * 32  # the tiny model's parameters x (frames x pixels) of a chunk


@dataclass(frozen=True)
class Estimate:
    """The size and rough cost of a rollout (see the module notes for how the time is made)."""

    new_frames: int
    chunks: int
    passes: int
    seconds: float
    output_bytes: int
    map_bytes: int

    def line(self) -> str:
        return (f"{self.new_frames} new frames in {self.chunks} chunks, {self.passes} model passes, roughly "
                f"{duration(self.seconds)} (tiny-model rate on one CPU thread, scaled); frames in memory "
                f"{self.output_bytes / 2**20:.0f} MB, map at most {self.map_bytes / 2**20:.0f} MB")


def duration(seconds: float) -> str:
    """``seconds`` as "N s", "N min" or "N.N h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate(new_frames: int, chunk_size: int, steps: int, passes_per_step: int = 1, height: int = 32,
             width: int = 32, parameters: int = 1_858_624, max_voxels: int = 0, given_frames: int = 0) -> Estimate:
    """The cost of generating ``new_frames`` after ``given_frames`` in chunks of ``chunk_size`` with ``steps``
    denoising steps of ``passes_per_step`` model passes each (1; 2 or 3 with guidance), at ``height`` x ``width``
    with a model of ``parameters``; ``max_voxels`` is the map's budget (0: unbounded, counted as 0 bytes)."""
    chunks = math.ceil(new_frames / chunk_size)
    passes = chunks * steps * passes_per_step
    scale = parameters * chunk_size * height * width / _TINY_WORK
    seconds = passes * SECONDS_PER_PASS * scale + chunks * SECONDS_PER_CHUNK * height * width / (32 * 32)
    output = (new_frames + given_frames) * 4 * height * width * 4  # RGB + depth, float32
    return Estimate(new_frames, chunks, passes, seconds, output, max_voxels * 44)


def pipeline_estimate(pipe, new_frames: int, steps: int, guidance_scale: float = 1.0, text_guidance_scale: float = 1.0,
                      given_frames: int = 0) -> Estimate:
    """:func:`estimate` for a :class:`~worldmem.pipelines.WorldMemPipeline` and its config."""
    from worldmem.memory import MemoryConfig

    passes = 1 + int(guidance_scale > 1) + int(text_guidance_scale > 1)
    params = sum(p.numel() for p in pipe.transformer.parameters())
    budget = MemoryConfig.from_dict(pipe.config.memory_config).spatial.max_voxels
    return estimate(new_frames, int(pipe.config.chunk_size), steps, passes, *pipe.frame_size, params, budget,
                    given_frames)
