"""Small image metrics used by demos and tests (the evaluation suite has the full set)."""

from __future__ import annotations

import math

import torch

__all__ = ["masked_psnr"]


def masked_psnr(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """PSNR in dB over the pixels where ``mask`` (broadcastable (T, 1, H, W) bool) is True; images in [0, 1]."""
    diff2 = (pred.float() - target.float()) ** 2
    if mask is not None:
        m = mask.expand_as(diff2)
        if not bool(m.any()):
            return float("nan")
        mse = float(diff2[m].mean())
    else:
        mse = float(diff2.mean())
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)
