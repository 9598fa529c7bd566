"""Seed derivation with named streams: every random draw that must be reproducible gets its seed here.

A stream turns a user seed and a few integer indices (a chunk's first frame, a training step, a process rank)
into the seed of one ``torch.Generator`` (or numpy ``Generator``), so that a draw depends only on what it is
for and where it is, never on how many draws came before it. This is what makes a resumed rollout equal one
long rollout and a resumed training run equal an uninterrupted one.

Each stream is ``(seed * base + sum(index_i * weight_i) + offset) mod (2**63 - 1)``. The constants are those
the project has always used, so seeds (and hence every published figure) are unchanged; streams that share a
base are kept apart by their weights and offsets.

| stream | indices | used by |
|---|---|---|
| ``chunk_noise`` | first frame index of the chunk | the pipeline's initial noise per chunk |
| ``train_noise`` | step, process rank | the training step's noise, timesteps, augmentation |
| ``train_paths`` | step | which memory paths a training step drops (the same on every process) |
| ``train_scenes`` | sample position * world size + rank | the synthetic scene of a training sample |
| ``shard_shuffle`` | epoch | the order of curated shards |
| ``train_chained`` | step, sample slot (rank * batch + k) | the scene and noise of a chained training sample |
| ``synthetic_path`` (numpy) | | a synthetic clip's path kind and shape (independent of the scene's own draws) |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["STREAMS", "derive_seed", "torch_generator", "numpy_rng"]

_MODULUS = 2**63 - 1


@dataclass(frozen=True)
class _Stream:
    base: int
    weights: tuple[int, ...]
    offset: int = 0


STREAMS: dict[str, _Stream] = {
    "chunk_noise": _Stream(1_000_003, (1,)),
    "train_noise": _Stream(1_000_003, (4099, 1)),
    "train_paths": _Stream(1_000_003, (4099,), offset=7919),
    "train_scenes": _Stream(2_000_003, (1,)),
    "shard_shuffle": _Stream(1_000_003, (1,)),
    "train_chained": _Stream(3_000_017, (4099, 1)),
}
_NUMPY_SALTS = {"synthetic_path": 7331}


def derive_seed(stream: str, seed: int, *indices: int) -> int:
    """The seed of draw ``indices`` in ``stream`` for user seed ``seed`` (see the module table)."""
    spec = STREAMS.get(stream)
    if spec is None:
        raise ValueError(f"stream: unknown seed stream {stream!r}; expected one of {', '.join(STREAMS)}")
    if len(indices) != len(spec.weights):
        raise ValueError(f"indices: stream {stream!r} takes {len(spec.weights)} index(es), got {len(indices)}")
    value = int(seed) * spec.base + spec.offset + sum(int(i) * w for i, w in zip(indices, spec.weights, strict=True))
    return value % _MODULUS


def torch_generator(stream: str, seed: int, *indices: int, device=None) -> torch.Generator:
    """A ``torch.Generator`` (on ``device``) seeded with :func:`derive_seed`."""
    g = torch.Generator(device=device) if device is not None else torch.Generator()
    return g.manual_seed(derive_seed(stream, seed, *indices))


def numpy_rng(stream: str, seed: int) -> np.random.Generator:
    """A numpy ``Generator`` for ``stream``, independent of ``default_rng(seed)`` (a salted seed sequence)."""
    salt = _NUMPY_SALTS.get(stream)
    if salt is None:
        raise ValueError(f"stream: unknown numpy seed stream {stream!r}; expected one of {', '.join(_NUMPY_SALTS)}")
    return np.random.default_rng([int(seed), salt])
