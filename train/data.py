"""Training batches: curated shards or synthetic samples made on the fly, and their collation.

Both sources are deterministic in (seed, position): a resumed run sees exactly the samples an uninterrupted
run would have seen from that step on. Synthetic sample ``i`` of process ``rank`` draws its scene seed (inside
the documented training seed range) from the ``train_scenes`` stream of :mod:`worldmem.utils.seeding` at
``i * world_size + rank``.
"""

from __future__ import annotations

import itertools

import torch
from torch.utils.data import DataLoader, IterableDataset

from worldmem.data import ShardDataset, TrainingSample, make_synthetic_sample
from worldmem.data.readers.synthetic import TRAIN_SEEDS
from worldmem.utils.seeding import torch_generator

__all__ = ["SyntheticStream", "make_loader", "collate"]


class SyntheticStream(IterableDataset):
    """Endless synthetic samples from position ``start`` on, split over ranks and DataLoader workers."""

    def __init__(self, seed: int, start: int, rank: int, world_size: int, curation_config=None):
        self.seed, self.start, self.rank, self.world_size = seed, start, rank, world_size
        self.curation_config = curation_config

    def _scene_seed(self, position: int) -> int:
        g = torch_generator("train_scenes", self.seed, position * self.world_size + self.rank)
        lo, hi = TRAIN_SEEDS.start, TRAIN_SEEDS.stop
        return int(torch.randint(lo, hi, (1,), generator=g))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        torch.set_num_threads(1) if info is not None else None
        for position in itertools.count(self.start + wid, nw):
            yield make_synthetic_sample(self._scene_seed(position), self.curation_config)


def collate(samples: list[TrainingSample]) -> list[TrainingSample]:
    """Batches stay lists of samples: the conditioning is encoded by the codec inside the training step."""
    return samples


def make_loader(cfg, rank: int, world_size: int, samples_seen: int, curation_config=None) -> DataLoader:
    """A DataLoader over this process's samples, positioned after ``samples_seen`` of them."""
    d = cfg.data
    if d.source == "synthetic":
        ds = SyntheticStream(cfg.seed, samples_seen, rank, world_size, curation_config)
        # Worker w yields positions start + w, start + w + n, ...; DataLoader interleaves workers in order,
        # so the stream is the same for any worker count.
        return _Skipped(DataLoader(ds, batch_size=cfg.optim.batch_size, num_workers=d.num_workers, collate_fn=collate,
                                   persistent_workers=False), 0)
    ds = ShardDataset(d.shards, shuffle=True, seed=cfg.seed, rank=rank, world_size=world_size, repeat=True)
    loader = DataLoader(ds, batch_size=cfg.optim.batch_size, num_workers=d.num_workers, collate_fn=collate)
    skip = samples_seen // cfg.optim.batch_size
    return _Skipped(loader, skip)


class _Skipped:
    """Iterates ``loader`` after dropping its first ``skip`` batches (the data position of a resumed run); a data
    error raised in a loader worker comes out as the worker's own one-line ``ValueError``."""

    def __init__(self, loader, skip: int):
        self.loader, self.skip = loader, skip

    def __iter__(self):
        return _worker_errors(itertools.islice(iter(self.loader), self.skip, None))


def _worker_errors(batches):
    """``batches``, with a worker's ``ValueError`` (which torch re-raises with the worker's traceback in its
    message) re-raised as the worker's message alone: a bad shard stops training with one line either way."""
    try:
        yield from batches
    except ValueError as err:
        lines = str(err).strip().splitlines()
        if len(lines) < 2 or not any(line.startswith("Original Traceback") for line in lines):
            raise
        raise ValueError(lines[-1].removeprefix("ValueError: ")) from None
