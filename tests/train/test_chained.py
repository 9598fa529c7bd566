"""Chained forward training: the context of a chained sample is the model's own rollout."""

import torch

from train.chained import chained_sample
from worldmem.data import make_synthetic_sample
from worldmem.data.config import CurationConfig
from worldmem.pipelines.tiny import random_tiny_pipeline

CONFIG = CurationConfig(image_size=(16, 16), target_frames=4, working_frames=2, max_keyframes=2, voxel_size=0.08,
                        synthetic_frames=14, source_frames=12, min_source_frames=6, revisit_min_gap=4,
                        samples_per_clip=1, synthetic_supersample=1)


def test_chained_sample_reads_generated_context_and_targets_ground_truth():
    pipe = random_tiny_pipeline(0, size=16)  # the model's image size is the data's
    pipe.set_progress_bar_config(disable=True)
    plain = make_synthetic_sample(5, CONFIG)
    chained = chained_sample(pipe, 5, CONFIG, num_chunks=1, steps=1, noise_seed=0)
    # The same target chunk, ground truth in both.
    assert torch.equal(chained.target.frames, plain.target.frames)
    assert chained.target.indices.tolist() == plain.target.indices.tolist()
    assert chained.meta["generated_frames"] == 4 and chained.meta["given_frames"] >= 1
    # The working window holds the chunk generated in front of the target, not the ground truth.
    assert len(chained.readout.working) == len(plain.readout.working) == 2
    diff = (chained.readout.working.frames - plain.readout.working.frames).abs().mean()
    assert float(diff) > 0.05
    # The map's render at the target differs too (it fused the generated chunk), with the same cameras.
    assert torch.allclose(chained.readout.target_cameras.cam_from_world, plain.readout.target_cameras.cam_from_world)
    assert not torch.equal(chained.readout.spatial.rgb, plain.readout.spatial.rgb)
    # Deterministic in its seeds.
    again = chained_sample(pipe, 5, CONFIG, num_chunks=1, steps=1, noise_seed=0)
    assert torch.equal(again.readout.working.frames, chained.readout.working.frames)
    # More chunks: more of the context is generated (at least one ground-truth frame always seeds it).
    longer = chained_sample(pipe, 5, CONFIG, num_chunks=2, steps=1, noise_seed=0)
    assert longer.meta["generated_frames"] > chained.meta["generated_frames"] and longer.meta["given_frames"] >= 1
