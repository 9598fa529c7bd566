"""What the memories hand to the model: small dataclasses of tensors, no memory internals.

Shapes use T for target (chunk) frames, W for working frames, K for retrieved keyframes. Images are float in
[0, 1], depth is z-depth (0 = unknown), masks are bool. Lengths (depth, camera translations) are in the
memory's normalised units (:mod:`worldmem.memory.units`), the units the model works in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from worldmem.geometry.cameras import Cameras

__all__ = ["SpatialRender", "FrameSet", "MemoryReadout"]


@dataclass
class SpatialRender:
    """The static map rendered into the target cameras (the "guide video").

    Attributes:
        rgb: (T, 3, H, W) colours of the map (0 where not covered).
        depth: (T, 1, H, W) z-depth of the map (0 where not covered).
        mask: (T, 1, H, W) bool coverage: True where the map has a surface.
    """

    rgb: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor

    @property
    def coverage(self) -> torch.Tensor:
        """(T,) fraction of covered pixels per frame."""
        return self.mask.flatten(1).float().mean(dim=1)


@dataclass
class FrameSet:
    """Frames with their cameras (the working window, or retrieved keyframes).

    Attributes:
        frames: (N, 3, H, W) in [0, 1].
        depth: (N, 1, H, W) z-depth (0 = unknown).
        cameras: :class:`Cameras` with batch shape (N,).
        indices: (N,) int64 global index of each frame in the video it was written from.
        scores: (N,) float, for keyframes the fraction of the target's visible voxels each one adds
            (greedy retrieval order); None for the working window.
    """

    frames: torch.Tensor
    depth: torch.Tensor
    cameras: Cameras
    indices: torch.Tensor
    scores: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.frames.shape[0]


@dataclass
class MemoryReadout:
    """Everything the model reads for one chunk, exactly as it will see it. Disabled paths are None.

    Attributes:
        target_cameras: :class:`Cameras` (T,) of the frames to generate.
        spatial: the map rendered along ``target_cameras``, or None when the model must not see it.
        working: the last W frames (oldest first), or None.
        keyframes: up to K retrieved keyframes (best first), or None.
        reference: the map rendered at ``target_cameras``, which the write-back aligns generated depth to and
            gates generated frames against; present even when ``spatial`` is None (the model does not see it
            then). None for readouts that are not followed by a write-back (training samples).
        distant: what the memory holds at infinity (sky) seen from ``target_cameras`` where ``reference`` does
            not cover (rgb, depth 0, mask), or None (no distant layer, or nothing there). The model does not
            see it; the pipeline anchors those pixels to it and does not write them back again.
    """

    target_cameras: Cameras
    spatial: SpatialRender | None
    working: FrameSet | None
    keyframes: FrameSet | None
    reference: SpatialRender | None = None
    distant: SpatialRender | None = None
