"""The layers through which the transformer reads memory: zero-initialised so a new path starts as a no-op.

- :class:`PatchConditioner`: a patch embedding (a conv with kernel = stride = patch) of a per-pixel condition
  (Plücker rays, a spatial-memory render) whose tokens are added to the main stream's tokens. Zero-initialised
  it adds nothing; by linearity it equals concatenating the condition to the input channels.
- :class:`KeyframeCrossAttention`: Perceiver-style cross-attention from the video tokens to keyframe tokens,
  its output projection zero-initialised and padded keyframes masked out; the keyframes' keys and values
  (:class:`KeyframeContext`) are computed apart from the attention, so that a sampler reuses them at every step.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PatchConditioner", "KeyframeContext", "KeyframeCrossAttention", "patchify_frames"]


def patchify_frames(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """(B, N, C, H, W) -> (B, N * (H/p) * (W/p), D) tokens in frame, row, column order (CogVideoX's order)."""
    b, n = x.shape[:2]
    tokens = conv(x.flatten(0, 1))                      # (B*N, D, h, w)
    return tokens.flatten(2).transpose(1, 2).reshape(b, -1, tokens.shape[1])


class PatchConditioner(nn.Module):
    """Patch-embeds a condition (B, N, C, H, W) into tokens (B, N*h*w, D); zero-initialised when ``zero_init``."""

    def __init__(self, in_channels: int, dim: int, patch_size: int, zero_init: bool = True):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        if zero_init:
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return patchify_frames(self.proj, x)


class KeyframeContext(NamedTuple):
    """What a :class:`KeyframeCrossAttention` reads from the keyframe tokens."""

    k: torch.Tensor
    """(B, heads, M, head_dim) keys."""
    v: torch.Tensor
    """(B, heads, M, head_dim) values."""
    mask: torch.Tensor | None
    """(B, 1, 1, M) bool attention mask (None: every token is real)."""
    has_any: torch.Tensor | None
    """(B,) bool: whether the sample has any real keyframe (its update is zeroed when not)."""


class KeyframeCrossAttention(nn.Module):
    """Video tokens (B, L, D) attend to keyframe tokens (B, M, D); returns the residual (B, L, D).

    Args:
        dim: token width.
        num_heads: attention heads.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"KeyframeCrossAttention: dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.to_out = nn.Linear(dim, dim)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``context_mask`` (B, M) bool marks real (not padded) context tokens."""
        return self.attend(x, self.context(context, context_mask))

    def context(self, context: torch.Tensor, context_mask: torch.Tensor | None = None) -> KeyframeContext:
        """The keys and values of ``context`` (B, M, D) with its mask: what :meth:`attend` reads. They do not depend
        on the video tokens, so a sampler computes them once per chunk, not once per denoising step."""
        b, m, d = context.shape
        h = self.num_heads
        k, v = self.to_kv(self.norm_kv(context)).view(b, m, 2, h, d // h).permute(2, 0, 3, 1, 4)
        if context_mask is None:
            return KeyframeContext(k, v, None, None)
        # A sample with no keyframes attends to its padding (softmax over nothing is NaN, also in the backward
        # pass) and its update is zeroed in attend.
        has_any = context_mask.any(dim=1)
        return KeyframeContext(k, v, (context_mask | ~has_any[:, None])[:, None, None, :], has_any)

    def attend(self, x: torch.Tensor, context: KeyframeContext) -> torch.Tensor:
        """Video tokens (B, L, D) attend to the keyframe ``context``; returns the residual (B, L, D)."""
        b, n, d = x.shape
        h = self.num_heads
        q = self.to_q(self.norm_q(x)).view(b, n, h, d // h).transpose(1, 2)
        attended = F.scaled_dot_product_attention(q, context.k, context.v, attn_mask=context.mask)
        out = self.to_out(attended.transpose(1, 2).reshape(b, n, d))
        if context.has_any is not None:
            out = out * context.has_any[:, None, None].to(out.dtype)
        return out
