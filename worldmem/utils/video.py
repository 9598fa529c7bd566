"""Writing videos and side-by-side panels (imageio + ffmpeg), atomically."""

from __future__ import annotations

import os

import imageio.v2 as imageio
import numpy as np
import torch

from worldmem.utils.io import atomic_write

__all__ = ["write_video", "to_uint8", "colorize_depth", "mask_to_rgb", "side_by_side"]


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) float in [0, 1] -> (T, H, W, 3) uint8."""
    return (frames.detach().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def colorize_depth(depth: torch.Tensor, max_depth: float | None = None) -> torch.Tensor:
    """(T, 1, H, W) depth -> (T, 3, H, W) in [0, 1]: near is bright, unknown (0) is black."""
    valid = depth > 0
    if max_depth is None:
        max_depth = float(depth[valid].quantile(0.98)) if bool(valid.any()) else 1.0
    x = (1.0 - (depth / max(max_depth, 1e-6)).clamp(0, 1)) * valid
    # A simple blue-to-yellow ramp that survives video compression.
    return torch.cat([x, x ** 0.5 * 0.9, (1 - x) * valid * 0.8 + 0.2 * x], dim=1).clamp(0, 1)


def mask_to_rgb(mask: torch.Tensor) -> torch.Tensor:
    """(T, 1, H, W) bool -> (T, 3, H, W): covered pixels white, others dark red."""
    m = mask.float()
    return torch.cat([m + (1 - m) * 0.35, m, m], dim=1)


def side_by_side(*panels: torch.Tensor, gap: int = 2) -> torch.Tensor:
    """Concatenates (T, 3, H, W) videos left to right with a black gap."""
    t, _, h, _ = panels[0].shape
    spacer = torch.zeros(t, 3, h, gap)
    parts = []
    for i, p in enumerate(panels):
        if i:
            parts.append(spacer)
        parts.append(p.detach().cpu().float())
    return torch.cat(parts, dim=3)


def write_video(path: str | os.PathLike, frames: torch.Tensor, fps: int = 8) -> None:
    """Writes (T, 3, H, W) frames in [0, 1] as an H.264 mp4 (sizes padded to even numbers)."""
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames: expected shape (T, 3, H, W), got {tuple(frames.shape)}")
    arr = to_uint8(frames)
    pad_h, pad_w = arr.shape[1] % 2, arr.shape[2] % 2
    if pad_h or pad_w:
        arr = np.pad(arr, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))

    def _write(tmp: str) -> None:
        writer = imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                    macro_block_size=1, ffmpeg_log_level="error")
        try:
            for frame in arr:
                writer.append_data(frame)
        finally:
            writer.close()

    atomic_write(path, _write, suffix=".mp4")
