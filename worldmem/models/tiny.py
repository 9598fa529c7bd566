"""The tiny model with random weights, for tests, benches and ``worldmem generate --random-init``.

:func:`random_tiny_pipeline` builds the tiny configuration (:data:`~worldmem.models.transformer.TINY_BASE_CONFIG`,
pixel codec, the memory of ``configs/curation/tiny.yaml``) with random weights; the same seed gives the same
weights, which the robustness fixtures and several tests rely on. A new model's memory and camera layers are
zero-initialised (a new path starts as a no-op); :func:`wake_zero_initialised` gives them small random weights so
that every path influences the output, which is what a test of those paths needs.
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["TINY_CURATION_CONFIG", "wake_zero_initialised", "random_tiny_pipeline"]

TINY_CURATION_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "curation" / "tiny.yaml"
"""The tiny model's curation config (``data.curation`` of ``configs/tiny.yaml``): the memory it is built with."""


def wake_zero_initialised(model: torch.nn.Module, generator: torch.Generator, scale: float) -> int:
    """Gives every parameter of ``model`` that is all zeros (the zero-initialised memory and camera layers)
    ``scale * N(0, 1)`` values drawn from ``generator``, in parameter order; returns how many it changed."""
    woken = 0
    for p in model.parameters():
        if p.abs().sum() == 0:
            p.data.copy_(scale * torch.randn(p.shape, generator=generator))
            woken += 1
    return woken


def random_tiny_pipeline(seed: int = 0, size: int = 32):
    """The tiny configuration with random weights (``size`` x ``size`` frames); its zero-initialised memory paths
    get small random weights too (:func:`wake_zero_initialised`, scale 0.02), so that every path influences the
    output. The memory (voxel size included) is :data:`TINY_CURATION_CONFIG`'s; chunks of 4 frames after a
    working window of 2, as the tiny model is trained."""
    from worldmem.data.config import load_curation_config
    from worldmem.models import PixelCodec, WorldMemTransformer
    from worldmem.models.transformer import TINY_BASE_CONFIG
    from worldmem.pipelines import WorldMemPipeline, default_scheduler

    memory = load_curation_config(TINY_CURATION_CONFIG).memory_config().to_dict()
    torch.manual_seed(seed)
    base = {**TINY_BASE_CONFIG, "sample_height": size, "sample_width": size}
    model = WorldMemTransformer(base_config=base, spatial_mode="concat").eval()
    wake_zero_initialised(model, torch.Generator().manual_seed(seed), 0.02)
    return WorldMemPipeline(model, default_scheduler(), PixelCodec(), memory_config=memory, chunk_size=4, working_window=2)
