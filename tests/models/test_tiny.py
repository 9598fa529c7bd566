"""worldmem.models.tiny: the random tiny pipeline and the helper that wakes zero-initialised layers."""

import torch

from worldmem.data.config import load_curation_config
from worldmem.models import WorldMemTransformer
from worldmem.models.tiny import TINY_CURATION_CONFIG, wake_zero_initialised
from worldmem.models.transformer import TINY_BASE_CONFIG
from worldmem.pipelines.tiny import random_tiny_pipeline


def _weights(pipe) -> dict[str, torch.Tensor]:
    return pipe.transformer.state_dict()


def test_the_same_seed_gives_the_same_weights_and_another_seed_others():
    a, b, c = random_tiny_pipeline(0), random_tiny_pipeline(0), random_tiny_pipeline(1)
    assert all(torch.equal(v, _weights(b)[k]) for k, v in _weights(a).items())
    assert any(not torch.equal(v, _weights(c)[k]) for k, v in _weights(a).items())
    assert not any(bool((p == 0).all()) for p in a.transformer.parameters())  # every memory path woken


def test_the_tiny_pipeline_takes_its_memory_from_the_tiny_config_and_its_size_from_the_argument():
    pipe = random_tiny_pipeline(0, size=16)
    curation = load_curation_config(TINY_CURATION_CONFIG)
    assert pipe.frame_size == (16, 16)
    assert pipe.config.memory_config["spatial"]["voxel_size"] == curation.voxel_size == 0.04
    assert pipe.config.memory_config == curation.memory_config().to_dict()


def test_waking_changes_exactly_the_all_zero_parameters():
    torch.manual_seed(0)
    model = WorldMemTransformer(base_config=TINY_BASE_CONFIG, spatial_mode="concat")
    before = {k: v.clone() for k, v in model.named_parameters()}
    zero = {k for k, v in before.items() if bool((v == 0).all())}
    assert zero  # the new memory and camera layers start as no-ops
    woken = wake_zero_initialised(model, torch.Generator().manual_seed(3), 0.05)
    after = dict(model.named_parameters())
    assert woken == len(zero)
    assert all(torch.equal(after[k], before[k]) for k in before if k not in zero)
    assert all(0 < float(after[k].detach().abs().max()) < 1.0 for k in zero)
