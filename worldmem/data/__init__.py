"""Posed-video readers and the training sample / shard format.

    from worldmem.data import CurationConfig, ShardDataset, TrainingSample, make_synthetic_sample
    sample = make_synthetic_sample(seed=0)            # one sample from the synthetic world, on the fly
    for sample in ShardDataset("outputs/curated"):    # or read curated shards (python -m data_curation build)
        sample.target.frames, sample.readout.spatial.rgb, sample.readout.keyframes, sample.meta

Conventions are the library's (OpenCV cameras, ``cam_from_world``, ``K`` in pixels with pixel centres at
+0.5, z-depth with 0 = unknown); scenes are normalised to median depth 1 (``meta["scale"]`` undoes it).
The on-disk formats are described in docs/data.md.
"""

from worldmem.data.builder import build_clip_samples, build_sample, choose_windows, sample_key, score_windows
from worldmem.data.clip import Clip, ClipError, ClipRef
from worldmem.data.config import CurationConfig, load_curation_config
from worldmem.data.dataset import ShardDataset, collate_samples, make_synthetic_sample
from worldmem.data.readers import READERS, parse_source
from worldmem.data.readers.synthetic import EVAL_SEEDS, TRAIN_SEEDS
from worldmem.data.sample import TrainingSample
from worldmem.data.shards import iter_shard, write_shard

__all__ = [
    "Clip",
    "ClipError",
    "ClipRef",
    "CurationConfig",
    "EVAL_SEEDS",
    "READERS",
    "ShardDataset",
    "TRAIN_SEEDS",
    "TrainingSample",
    "build_clip_samples",
    "build_sample",
    "choose_windows",
    "collate_samples",
    "iter_shard",
    "load_curation_config",
    "make_synthetic_sample",
    "parse_source",
    "sample_key",
    "score_windows",
    "write_shard",
]
