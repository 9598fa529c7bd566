"""Which pixels of a generated chunk are written back into the map ("write back only what deserves it").

A generated frame is the model's guess. Where the map already holds the place, fusing a new, slightly
different (often blurrier) guess averages the two and erodes what was remembered; a camera that comes back
then finds neither. The gate decides per pixel, from the chunk and the map's render at the same cameras
(:attr:`~worldmem.memory.readout.MemoryReadout.reference`):

| mode | fused pixels |
|---|---|
| ``all`` | every pixel with known depth (no gate) |
| ``new`` | only pixels the map does not cover yet: the first generated view of a place is what is remembered |
| ``agree`` | uncovered pixels, and covered ones whose colour and depth agree with the render (they confirm it) |

"Covered" includes what the memory holds at infinity (``MemoryReadout.distant``, the sky), when it has that layer.

In every mode, generated depth beyond ``max_depth`` (the memory's normalised units: the given frames' median
depth is 1) is treated as unknown and never reaches the map: a model's "far" guesses (sky decoded as a large
finite depth, outliers stretched by the alignment) would otherwise become geometry, each far pixel creating
many voxels, and the map would grow without bound. Given (observed) frames are never gated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from worldmem.memory.readout import SpatialRender
from worldmem.utils.config import check, require

__all__ = ["WriteGate", "GATE_MODES"]

GATE_MODES = ("all", "new", "agree")


@dataclass(frozen=True)
class WriteGate:
    """Per-pixel gate of the write-back: a typed config (``generation.write_gate``, loaded by
    :mod:`worldmem.utils.config` like the rest of the tree) that also applies itself (:meth:`mask`)."""

    mode: Literal["all", "new", "agree"] = "all"
    """``"all"``, ``"new"`` or ``"agree"`` (see the module table)."""
    rgb_tolerance: float = 0.1
    """``agree``: largest mean absolute colour difference (in [0, 1]) to the render."""
    depth_tolerance: float = 0.1
    """``agree``: largest relative depth difference to the render."""
    max_depth: float = 0.0
    """Generated depth beyond this (normalised units) is not written; 0 = no cap."""
    margin: int = 0
    """``new`` / ``agree``: uncovered pixels within this many pixels (Chebyshev) of a covered one are not written
    either; 0 = none."""

    def __post_init__(self) -> None:
        check(self.mode in GATE_MODES, "mode", "one of " + ", ".join(repr(m) for m in GATE_MODES), self.mode)
        require(self, "> 0", "rgb_tolerance", "depth_tolerance")
        require(self, ">= 0", "max_depth", "margin")

    def mask(self, frames: torch.Tensor, depth: torch.Tensor, reference: SpatialRender | None,
             distant: SpatialRender | None = None) -> torch.Tensor | None:
        """(T, 1, H, W) bool of the pixels to fuse, or None for all of them.

        Args:
            frames: (T, 3, H, W) generated frames in [0, 1].
            depth: (T, 1, H, W) their depth, aligned to ``reference.depth`` (0 = unknown).
            reference: the map's render at the chunk's cameras (None: the map has nothing, all is new).
            distant: what the memory holds at infinity there (``MemoryReadout.distant``): the pixels it covers
                count as remembered too (no margin: the sky has no edge that creeps).
        """
        if self.mode == "all" or (reference is None and distant is None):
            return None
        none = torch.zeros_like(depth, dtype=torch.bool)
        covered = none if reference is None else reference.mask.bool() & (reference.depth > 0)
        near_map = covered
        if self.margin > 0:
            k = 2 * self.margin + 1
            near_map = torch.nn.functional.max_pool2d(covered.float(), k, stride=1, padding=self.margin) > 0
        sky = none if distant is None else distant.mask.bool()
        fresh = ~(near_map | sky)
        if self.mode == "new":
            return fresh
        confirmed = none
        if reference is not None:
            rgb_ok = (frames - reference.rgb).abs().mean(dim=1, keepdim=True) <= self.rgb_tolerance
            rel = (depth - reference.depth).abs() / reference.depth.clamp_min(1e-6)
            confirmed = covered & rgb_ok & (depth > 0) & (rel <= self.depth_tolerance)
        if distant is not None:
            sky_ok = (frames - distant.rgb).abs().mean(dim=1, keepdim=True) <= self.rgb_tolerance
            confirmed = confirmed | (sky & sky_ok & (depth <= 0))
        return fresh | confirmed

    def far_to_unknown(self, depth: torch.Tensor) -> torch.Tensor:
        """``depth`` (normalised units) with values beyond ``max_depth`` set to 0 (unknown); unchanged if 0."""
        if self.max_depth == 0:
            return depth
        return torch.where(depth <= self.max_depth, depth, torch.zeros_like(depth))
