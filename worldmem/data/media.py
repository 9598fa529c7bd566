"""Decoding images, videos and depth maps for the readers; every failure is a one-line :class:`ClipError`.

Frames are fitted to the curation size as they are decoded (:func:`~worldmem.data.clip.fit_frames`), so a
long clip never sits in memory at full resolution.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from worldmem.data.clip import ClipError, fit_depth, fit_frames

__all__ = ["DEPTH_TO_ESTIMATE", "IMAGE_SUFFIXES", "frame_indices", "read_image", "read_images", "read_video",
           "read_depth_image", "read_depth_array", "sorted_images", "load_npy"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def frame_indices(n: int, stride: int, max_frames: int) -> list[int]:
    """The indices kept from ``n`` frames: every ``stride``-th, at most ``max_frames`` (0 = all)."""
    idx = list(range(0, n, stride))
    return idx[:max_frames] if max_frames > 0 else idx


def _to_float_rgb(arr: np.ndarray, name: str) -> torch.Tensor:
    if arr.dtype == np.uint8:
        x = torch.from_numpy(np.ascontiguousarray(arr)).float() / 255.0
    elif arr.dtype == np.uint16:
        x = torch.from_numpy(arr.astype(np.float32)) / 65535.0
    elif arr.dtype.kind == "f":
        x = torch.from_numpy(arr.astype(np.float32))
    else:
        raise ClipError(f"image {name}: unsupported pixel type {arr.dtype}")
    if x.dim() == 2:
        x = x[..., None].expand(-1, -1, 3)
    if x.dim() != 3 or x.shape[-1] not in (3, 4):
        raise ClipError(f"image {name}: expected an RGB image, got shape {tuple(arr.shape)}")
    return x[..., :3].permute(2, 0, 1).clamp(0.0, 1.0).contiguous()


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """(3, H, W) float in [0, 1] (grey is expanded to RGB, alpha dropped)."""
    path = Path(path)
    if not path.is_file():
        raise ClipError(f"image {path.name}: file not found")
    if path.stat().st_size == 0:
        raise ClipError(f"image {path.name}: empty file")
    try:
        arr = np.asarray(imageio.imread(path))
    except Exception as err:  # imageio raises many types for a corrupt file
        raise ClipError(f"image {path.name}: unreadable ({type(err).__name__})") from err
    return _to_float_rgb(arr, path.name)


def read_images(paths: Sequence[str | os.PathLike], size: tuple[int, int] | None) -> tuple[torch.Tensor, tuple]:
    """Reads images that must all have one size; returns (N, 3, h, w) fitted frames and the native (H, W)."""
    out, native = [], None
    for p in paths:
        img = read_image(p)
        if native is None:
            native = tuple(img.shape[-2:])
        elif tuple(img.shape[-2:]) != native:
            raise ClipError(f"images of different sizes: {Path(paths[0]).name} is {native[0]}x{native[1]}, "
                            f"{Path(p).name} is {img.shape[-2]}x{img.shape[-1]}")
        out.append(fit_frames(img[None], size)[0])
    if not out:
        raise ClipError("no frames")
    return torch.stack(out), native


def read_video(path: str | os.PathLike, keep: Sequence[int] | None, size: tuple[int, int] | None
               ) -> tuple[torch.Tensor, tuple, int]:
    """Decodes a video with ffmpeg.

    Args:
        keep: frame indices to keep (sorted), or None for all.

    Returns:
        (N, 3, h, w) fitted frames, the native (H, W), and the number of frames in the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ClipError(f"video {path.name}: file not found")
    if path.stat().st_size == 0:
        raise ClipError(f"video {path.name}: zero-size file")
    wanted = None if keep is None else set(keep)
    frames, native, count = [], None, 0
    try:
        reader = imageio.get_reader(str(path), format="FFMPEG")
    except Exception as err:
        raise ClipError(f"video {path.name}: unreadable ({type(err).__name__})") from err
    try:
        for i, arr in enumerate(reader):
            count = i + 1
            if wanted is not None and i not in wanted:
                continue
            img = _to_float_rgb(np.asarray(arr), path.name)
            native = native or tuple(img.shape[-2:])
            frames.append(fit_frames(img[None], size)[0])
    except ClipError:
        raise
    except Exception as err:
        raise ClipError(f"video {path.name}: decoding failed after {count} frames ({type(err).__name__})") from err
    finally:
        reader.close()
    if count == 0:
        raise ClipError(f"video {path.name}: no frames")
    if not frames:
        raise ClipError(f"video {path.name}: none of the requested frames exist (it has {count})")
    return torch.stack(frames), native, count


def sorted_images(folder: Path) -> list[Path]:
    """Image files of a folder in frame order: numeric stems by value, otherwise by name."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if files and all(p.stem.isdigit() for p in files):
        return sorted(files, key=lambda p: (int(p.stem), p.name))
    return sorted(files, key=lambda p: p.name)


def read_depth_image(path: str | os.PathLike, scale: float, native: tuple | None,
                     size: tuple[int, int] | None) -> torch.Tensor:
    """A 16-bit depth PNG (or .npy float map) -> (1, h, w) z-depth ``value * scale`` fitted to ``size``."""
    path = Path(path)
    if not path.is_file():
        raise ClipError(f"depth {path.name}: file not found")
    if path.suffix.lower() == ".npy":
        arr = load_npy(path)
    else:
        if path.stat().st_size == 0:
            raise ClipError(f"depth {path.name}: empty file")
        try:
            arr = np.asarray(imageio.imread(path))
        except Exception as err:
            raise ClipError(f"depth {path.name}: unreadable ({type(err).__name__})") from err
        if arr.dtype != np.uint16:
            raise ClipError(f"depth {path.name}: expected a 16-bit single-channel PNG, got {arr.dtype} "
                            f"with shape {tuple(arr.shape)}")
    if arr.ndim != 2:
        raise ClipError(f"depth {path.name}: expected a single-channel map, got shape {tuple(arr.shape)}")
    if native is not None and tuple(arr.shape) != tuple(native):
        raise ClipError(f"depth {path.name}: size {arr.shape[0]}x{arr.shape[1]} differs from the frames' "
                        f"{native[0]}x{native[1]}")
    d = torch.from_numpy(arr.astype(np.float32)) * float(scale)
    return fit_depth(d[None, None], size)[0]


def load_npy(path: Path) -> np.ndarray:
    """``np.load`` without pickles; one-line errors."""
    if path.stat().st_size == 0:
        raise ClipError(f"{path.name}: empty file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:
        raise ClipError(f"{path.name}: unreadable array file ({type(err).__name__})") from err


class _DepthToEstimate:
    def __repr__(self) -> str:
        return "DEPTH_TO_ESTIMATE"


DEPTH_TO_ESTIMATE = _DepthToEstimate()
"""Passed as a reader's ``depth_dir``: an RGB-only clip is loaded with all-unknown depth, for an estimator
(data_curation/depth.py) to fill in; readers of sources with their own depth ignore it."""


def read_depth_array(depth_dir: str | os.PathLike | None, clip_id: str, keep: Sequence[int], native: tuple,
                     size: tuple[int, int] | None, total: int) -> torch.Tensor:
    """Depth for an RGB-only clip from ``<depth_dir>/<clip_id>.npy``: (total, H, W) float z-depth.

    Returns (N, 1, h, w) for the ``keep`` frames. No depth -> :class:`ClipError` (depth is never invented).
    ``depth_dir`` = :data:`DEPTH_TO_ESTIMATE`: all-unknown depth (0), which a depth estimator fills in later.
    """
    if depth_dir is DEPTH_TO_ESTIMATE:
        return fit_depth(torch.zeros(len(keep), 1, *native), size)
    if depth_dir is None:
        raise ClipError("depth missing: this source has no depth; pass --depth-dir with <clip_id>.npy files")
    path = Path(depth_dir) / f"{clip_id}.npy"
    if not path.is_file():
        raise ClipError(f"depth missing: {path} not found")
    arr = load_npy(path)
    if arr.ndim != 3 or arr.dtype.kind != "f":
        raise ClipError(f"depth {path.name}: expected a float array (N, H, W), got {arr.dtype} {tuple(arr.shape)}")
    if arr.shape[0] != total:
        raise ClipError(f"depth {path.name}: {arr.shape[0]} depth maps for {total} frames")
    if tuple(arr.shape[1:]) != tuple(native):
        raise ClipError(f"depth {path.name}: size {arr.shape[1]}x{arr.shape[2]} differs from the frames' "
                        f"{native[0]}x{native[1]}")
    d = torch.from_numpy(np.ascontiguousarray(arr[list(keep)], dtype=np.float32))[:, None]
    return fit_depth(d, size)
