"""Render anchoring (RePaint-style sampling): what the memory shows at a chunk's cameras, as codec latents.

The pipeline (``render_anchor``) replaces, during the first part of the denoising steps, the pixels the memory
covers by this render noised to the step's level. Covered
are the map's surfaces with known depth and, where none renders, the remembered sky
(``MemoryReadout.distant``, unknown depth); elsewhere the render takes the working window's mean colour.
"""

from __future__ import annotations

import torch

from worldmem.memory.readout import MemoryReadout

__all__ = ["render_latents", "anchor_latents"]


def render_latents(readout: MemoryReadout, codec) -> torch.Tensor | None:
    """The memory's render at the chunk as latents (1, F, C, h, w): the map's surfaces, the remembered sky where
    it has none (unknown depth), and elsewhere the working window's mean colour and unknown depth. None when the
    memory covers nothing there."""
    ref, sky = readout.reference, readout.distant
    if not bool(ref.mask.any()) and sky is None:
        return None
    if readout.working is None:
        fill = torch.full((1, 3, 1, 1), 0.5)
    else:
        fill = readout.working.frames.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    rgb = fill.to(ref.rgb.dtype).expand_as(ref.rgb)
    rgb = torch.where(ref.mask, ref.rgb, rgb if sky is None else torch.where(sky.mask, sky.rgb, rgb))
    depth = torch.where(ref.mask, ref.depth, torch.zeros_like(ref.depth))
    return codec.encode(rgb[None], depth[None] if codec.has_depth else None)


def anchor_latents(readout: MemoryReadout, codec) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(render latents (1, F, C, h, w), weight (1, F, 1, h, w)) of the pixels the map covers with known depth and
    those the remembered sky covers, or None when the memory covers nothing there."""
    known = render_latents(readout, codec)
    if known is None:
        return None
    ref, sky = readout.reference, readout.distant
    covered = (ref.mask.bool() & (ref.depth > 0)) | (False if sky is None else sky.mask.bool())
    return known, codec.encode_mask(covered.to(known.dtype)[None]).to(known.dtype)
