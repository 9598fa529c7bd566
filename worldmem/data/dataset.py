"""Loading training samples: from curated shards (:class:`ShardDataset`) or made on the fly
(:func:`make_synthetic_sample`).

Splitting: every epoch the shard list is shuffled by ``(seed, epoch)`` (identically on every rank), then
dealt out to ``world_size * num_workers`` readers (rank-major: reader ``rank * num_workers + worker``). With
fewer shards than readers, every reader walks all shards and keeps every n-th sample instead, so each sample
is still read exactly once per epoch. Within a reader, samples pass through a shuffle buffer seeded by
``(seed, epoch, reader)``. Ranks may get a few samples more or fewer than each other: use ``repeat=True``
(an endless stream, epochs counted internally) for distributed training with a fixed step count, and with
``persistent_workers=True`` (whose workers keep the epoch they started with).
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import IterableDataset, get_worker_info

from worldmem.data.builder import build_clip_samples, single_thread
from worldmem.data.config import CurationConfig
from worldmem.data.readers.synthetic import synthetic_clip
from worldmem.data.sample import TrainingSample
from worldmem.data.shards import SHARD_SUFFIX, complete_shards, iter_shard
from worldmem.utils.seeding import torch_generator

__all__ = ["ShardDataset", "make_synthetic_sample", "collate_samples"]


class ShardDataset(IterableDataset):
    """Streams :class:`TrainingSample` from shards.

    Args:
        root: a curated dataset folder (its complete shards), a folder of ``.tar`` files, one ``.tar``, or a
            list of ``.tar`` paths.
        shuffle: shuffle the shard order and the samples (through a buffer of ``buffer_size``).
        seed: base seed of all shuffling.
        rank, world_size: this process's share in distributed training.
        repeat: loop forever (the epoch advances at every pass).
        buffer_size: samples held for shuffling (their bytes, decoded when yielded).

    Iterating raises ``ValueError`` naming the shard file and the sample key for broken data (a truncated or
    non-tar shard, a missing member or tensor, a safetensors header that disagrees with its data, NaN or
    negative depth; see :func:`~worldmem.data.shards.iter_shard` and :meth:`TrainingSample.from_bytes`), and
    when a full pass yields no sample (see ``__iter__``), so a loop over the data never spins on nothing.
    """

    def __init__(self, root: str | os.PathLike | Sequence[str | os.PathLike], shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, repeat: bool = False, buffer_size: int = 64):
        if isinstance(root, (str, os.PathLike)):
            path = Path(root)
            if path.is_file() and path.suffix == SHARD_SUFFIX:
                shards = [path]
            elif path.is_dir():
                shards = complete_shards(path)
            else:
                raise ValueError(f"root: expected a dataset folder, a folder of .tar shards or a .tar file, got {path}")
        else:
            shards = [Path(p) for p in root]
        if not shards:
            raise ValueError(f"root: no shards found in {root}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank, world_size: expected 0 <= rank < world_size, got {rank}, {world_size}")
        if buffer_size < 1:
            raise ValueError(f"buffer_size: expected an int >= 1, got {buffer_size}")
        self.shards = shards
        self.shuffle, self.seed, self.rank, self.world_size = shuffle, seed, rank, world_size
        self.repeat, self.buffer_size = repeat, buffer_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch that seeds the next iteration's shuffling (call before creating the iterator)."""
        self.epoch = int(epoch)

    def _reader(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        return self.rank * workers + worker, self.world_size * workers

    def _epoch_stream(self, epoch: int, counts: dict) -> Iterator[tuple[Path, str, dict[str, bytes]]]:
        """(shard, key, files) of this reader's samples in ``epoch``; ``counts["read"]`` counts every sample read
        (also those dealt to other readers) and ``counts["all"]`` says whether this reader walked every shard."""
        shards = list(self.shards)
        if self.shuffle:
            g = torch_generator("shard_shuffle", self.seed, epoch)
            shards = [shards[i] for i in torch.randperm(len(shards), generator=g).tolist()]
        reader, readers = self._reader()
        counts["all"] = len(shards) < readers or readers == 1
        if len(shards) >= readers:
            for path in shards[reader::readers]:
                for key, files in iter_shard(path):
                    counts["read"] += 1
                    yield path, key, files
        else:
            for path in shards:
                for key, files in iter_shard(path):
                    if counts["read"] % readers == reader:
                        yield path, key, files
                    counts["read"] += 1

    def _shuffled(self, stream: Iterator, epoch: int) -> Iterator:
        if not self.shuffle:
            yield from stream
            return
        reader, _ = self._reader()
        rng = random.Random(f"{self.seed}/{epoch}/{reader}")
        buffer = []
        for item in stream:
            if len(buffer) < self.buffer_size:
                buffer.append(item)
                continue
            j = rng.randrange(len(buffer))
            yield buffer[j]
            buffer[j] = item
        rng.shuffle(buffer)
        yield from buffer

    def __iter__(self) -> Iterator[TrainingSample]:
        """The samples of this reader, one pass (or endless passes with ``repeat``).

        A pass that yields no sample is an error (``ValueError``) rather than an empty result or an endless
        loop: when no shard holds a sample, or, with ``repeat``, when this rank's (and worker's) share is empty.
        """
        epoch = self.epoch
        while True:
            counts, yielded = {"read": 0, "all": True}, 0
            for path, key, files in self._shuffled(self._epoch_stream(epoch, counts), epoch):
                yield TrainingSample.from_bytes(files, name=f"{path}: sample {key}", key=key)
                yielded += 1
            if yielded == 0:
                self._no_sample(counts)
            if not self.repeat:
                return
            epoch += 1

    def _no_sample(self, counts: dict) -> None:
        """Raises for a pass that yielded nothing, unless other readers of a single pass may have had samples."""
        n = len(self.shards)
        where = self.shards[0].parent if len({p.parent for p in self.shards}) == 1 else f"{n} shards"
        if counts["read"] == 0 and counts["all"]:
            raise ValueError(f"{where}: no sample in a full pass over {n} shard{'s' * (n != 1)} (each is empty or "
                             "holds only folders); expected at least one KEY.sample.safetensors + KEY.meta.json")
        if self.repeat:
            info = get_worker_info()
            who = f"rank {self.rank} of {self.world_size}" + (
                "" if info is None or info.num_workers == 1 else f", worker {info.id} of {info.num_workers}")
            _, readers = self._reader()
            raise ValueError(f"{where}: no sample for {who} in a full pass ({counts['read']} read over {n} "
                             f"shard{'s' * (n != 1)}, dealt to {readers} readers): repeating would wait forever; "
                             "use fewer ranks or workers, or more samples")


def collate_samples(batch: list[TrainingSample]) -> list[TrainingSample]:
    """``DataLoader(..., collate_fn=collate_samples)``: keeps the samples as a list (keyframe counts vary)."""
    return list(batch)


def make_synthetic_sample(seed: int, config: CurationConfig | None = None) -> TrainingSample:
    """One sample from synthetic scene ``seed`` (deterministic in ``seed``), built like curated samples.

    The clip is the one ``synthetic:`` curation renders for that seed; the chunk is the first one
    :func:`~worldmem.data.builder.choose_windows` picks (the best revisit with ``revisit_windows``). Use seeds
    from ``TRAIN_SEEDS`` for training. Runs on one torch thread (see
    :func:`~worldmem.data.builder.single_thread`); costs one to two seconds at 64 x 64.
    """
    config = config or CurationConfig()
    one = dataclasses.replace(config, samples_per_clip=1)
    with single_thread():
        samples, failures = build_clip_samples(synthetic_clip(int(seed), one), one)
    if not samples:
        reason = failures[0][1] if failures else "no target chunk"
        raise ValueError(f"seed {seed}: no sample ({reason})")
    return samples[0]
