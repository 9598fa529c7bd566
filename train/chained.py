"""Chained forward training: samples whose context the model generated itself (against rollout drift).

A model trained only on ground-truth context meets, at rollout time, a working window and a map made of its own
outputs, and drifts. Following Memory Forcing's chained forward training (and self-forcing), a chained sample
is built the way inference builds its context: a synthetic clip's target chunk is chosen as for an ordinary
sample (:func:`worldmem.data.make_synthetic_sample`); its memory is seeded with the ground-truth frames before
``num_chunks`` chunks in front of the target; the **current model** then generates those chunks with the real
pipeline (denoising, decoding, depth alignment, the write gate, the write-back); the target chunk's readout is
read from that memory. The loss stays the ordinary diffusion loss against the ground-truth target, so the model
learns to continue from its own frames and its own map.

The rollout runs without gradients (as in Memory Forcing) with fewer denoising steps than inference.
"""

from __future__ import annotations

import dataclasses

import torch

from worldmem.data.builder import clip_windows, read_chunk
from worldmem.data.config import CurationConfig
from worldmem.data.readers.synthetic import synthetic_clip
from worldmem.data.sample import TrainingSample
from worldmem.memory import WorldMemory

__all__ = ["chained_sample"]


@torch.no_grad()
def chained_sample(pipe, scene_seed: int, config: CurationConfig, num_chunks: int, steps: int,
                   noise_seed: int) -> TrainingSample:
    """A :class:`TrainingSample` of synthetic scene ``scene_seed`` whose context ``pipe`` generated.

    Args:
        pipe: a :class:`~worldmem.pipelines.WorldMemPipeline` around the model being trained.
        config: the curation config of the training samples (clip, chunk and memory sizes).
        num_chunks: chunks generated in front of the target (fewer when the clip starts too close; at least
            one ground-truth frame always seeds the memory).
        steps: denoising steps of the rollout.
        noise_seed: seeds the rollout's noise.
    """
    one = dataclasses.replace(config, samples_per_clip=1)
    clip, _, windows = clip_windows(synthetic_clip(int(scene_seed), one), one)
    if not windows:
        raise ValueError(f"seed {scene_seed}: no target chunk")
    s0, t0 = windows[0].s0, windows[0].t0
    given_end = max(s0 + 1, t0 - num_chunks * config.target_frames)
    memory = WorldMemory(config.memory_config(), scene_scale=1.0)  # the clip is already normalised
    memory.write(clip.frames[s0:given_end], clip.depth[s0:given_end], clip.cameras[s0:given_end])
    if given_end < t0:
        pipe(memory=memory, cameras=clip.cameras[s0:t0], chunk_size=config.target_frames, num_inference_steps=steps,
             generator=torch.Generator().manual_seed(noise_seed), progress=False)  # the pipeline's write gate
    readout, target = read_chunk(memory, clip, windows[0], one)
    meta = {"key": f"chained-{scene_seed}-{t0}", "generated_frames": t0 - given_end, "given_frames": given_end - s0}
    return TrainingSample(target=target, readout=readout, meta=meta)
