"""The tiny model with random weights, for tests, benches and ``worldmem generate --random-init``.

:func:`random_tiny_pipeline` builds the tiny configuration (:data:`~worldmem.models.transformer.TINY_BASE_CONFIG`,
pixel codec, the memory of ``configs/curation/tiny.yaml``) with random weights; the same seed gives the same
weights, which the robustness fixtures and several tests rely on.
"""

from __future__ import annotations

import torch

from worldmem.data.config import load_curation_config
from worldmem.models import PixelCodec, WorldMemTransformer
from worldmem.models.tiny import TINY_CURATION_CONFIG, wake_zero_initialised
from worldmem.models.transformer import TINY_BASE_CONFIG, TINY_WAN_BASE_CONFIG
from worldmem.pipelines.pipeline_worldmem import WorldMemPipeline, default_scheduler

__all__ = ["random_tiny_pipeline"]


def random_tiny_pipeline(seed: int = 0, size: int = 32, backbone: str = "cogvideox"):
    """The tiny configuration with random weights (``size`` x ``size`` frames); its zero-initialised memory paths
    get small random weights too (:func:`wake_zero_initialised`, scale 0.02), so that every path influences the
    output. The memory (voxel size included) is :data:`TINY_CURATION_CONFIG`'s; chunks of 4 frames after a
    working window of 2, as the tiny model is trained. ``backbone`` "wan": the tiny Wan-architecture model
    (``TINY_WAN_BASE_CONFIG``) instead of the tiny CogVideoX."""
    memory = load_curation_config(TINY_CURATION_CONFIG).memory_config().to_dict()
    torch.manual_seed(seed)
    if backbone == "wan":
        model = WorldMemTransformer(base_config=TINY_WAN_BASE_CONFIG, backbone="wan", spatial_mode="concat",
                                    sample_size=[size, size]).eval()
    else:
        base = {**TINY_BASE_CONFIG, "sample_height": size, "sample_width": size}
        model = WorldMemTransformer(base_config=base, spatial_mode="concat").eval()
    wake_zero_initialised(model, torch.Generator().manual_seed(seed), 0.02)
    return WorldMemPipeline(model, default_scheduler(), PixelCodec(), memory_config=memory, chunk_size=4, working_window=2)
