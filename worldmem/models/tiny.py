"""Parts of the tiny model with random weights: the memory it is built with, and waking the zero-initialised layers.

A new model's memory and camera layers are zero-initialised (a new path starts as a no-op);
:func:`wake_zero_initialised` gives them small random weights so that every path influences the output, which is
what a test of those paths needs. The whole random tiny pipeline is
:func:`worldmem.pipelines.tiny.random_tiny_pipeline` (it builds a pipeline, so it lives with the pipelines: the
models never import the pipelines).
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["TINY_CURATION_CONFIG", "wake_zero_initialised"]

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
