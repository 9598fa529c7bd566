"""Baselines of the revisit benchmark, as models of the adapter protocol (:mod:`eval.adapter`).

    python -m eval revisit --model eval.baselines:repeat_last --out DIR
    python -m eval revisit --model eval.baselines:warp_given --out DIR

- :func:`repeat_last` ("repeat the last given frame"): every frame after the given ones is the last given frame,
  with its depth. A constant video: its same-pose PSNR is the 100 dB cap of identical frames, while its frames do
  not follow the camera. It is the degenerate model the ranking rule (docs/evaluation.md) must never rank first.
- :func:`warp_given` (geometric): the given frames' pixels with known depth are lifted to world points
  (:meth:`Cameras.unproject`) and rendered into every camera with a z-buffer
  (:func:`worldmem.geometry.render_points`, each point a disc of 0.75 of its pixel's footprint); pixels no point covers
  are **filled with the mean colour of the given frames** (their depth stays 0, unknown). No learning, no
  memory beyond the given frames: what geometry alone recovers.

Both are deterministic (they ignore the generator) and work at any frame size.
"""

from __future__ import annotations

import torch

from worldmem.geometry import render_points
from worldmem.geometry.cameras import Cameras

__all__ = ["RepeatLast", "WarpGiven", "repeat_last", "warp_given"]


class RepeatLast:
    """Repeats the last given frame (and its depth) for every frame after the given ones (module doc)."""

    def generate(self, given_frames: torch.Tensor, given_depth: torch.Tensor, cameras: Cameras,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, 3, H, W) frames and (T, 1, H, W) depth: the C given ones, then the last given one T - C times."""
        rest = len(cameras) - len(given_frames)
        frames = torch.cat([given_frames, given_frames[-1:].expand(rest, -1, -1, -1)])
        depth = torch.cat([given_depth, given_depth[-1:].expand(rest, -1, -1, -1)])
        return frames.float(), depth.float()


class WarpGiven:
    """Warps the given frames through their depth into every camera; holes get the given frames' mean colour."""

    def generate(self, given_frames: torch.Tensor, given_depth: torch.Tensor, cameras: Cameras,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, 3, H, W) frames and (T, 1, H, W) depth (0 in the holes); the given frames are returned as given."""
        c = len(given_frames)
        given = cameras[:c]
        points = given.unproject(given_depth.float())  # (C, H, W, 3)
        known = given_depth[:, 0] > 0  # (C, H, W)
        colours = given_frames.float().permute(0, 2, 3, 1)[known]  # (N, 3)
        # a pixel's footprint at depth z is z / fx wide; discs of 0.75 of it cover a pixel's corners (0.71) in
        # its own view without reaching a neighbour's centre (1), so a given camera gets its own frame back
        focal = given.K[:, 0, 0].view(c, 1, 1).expand_as(known)
        radius = (0.75 * given_depth[:, 0].float() / focal)[known]
        mean = given_frames.float().mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
        rest = cameras[c:]
        if len(rest) == 0 or len(colours) == 0:
            frames = mean.expand(len(rest), 3, cameras.height, cameras.width)
            depth = torch.zeros(len(rest), 1, cameras.height, cameras.width)
        else:
            rendered = render_points(points[known], colours, rest, radius=radius)
            mask = rendered.mask.bool()
            frames = torch.where(mask, rendered.features.float(), mean.expand_as(rendered.features)).clamp(0, 1)
            depth = torch.where(mask, rendered.depth.float(), torch.zeros_like(rendered.depth.float()))
        return torch.cat([given_frames.float(), frames]), torch.cat([given_depth.float(), depth])


def repeat_last() -> RepeatLast:
    """The factory of ``--model eval.baselines:repeat_last``."""
    return RepeatLast()


def warp_given() -> WarpGiven:
    """The factory of ``--model eval.baselines:warp_given``."""
    return WarpGiven()
