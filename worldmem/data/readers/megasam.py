"""``megasam:PATH``: MegaSaM outputs (PATH is one ``.npz`` or a folder of them; clip id = file stem).

Each ``.npz`` (read with ``allow_pickle=False``) holds::

    images     (N, H, W, 3) uint8 (or float in [0, 1])
    depths     (N, H, W) float z-depth (0 = unknown)
    intrinsic  (3, 3) K in pixels for H x W (MegaSaM puts the principal point at (W/2, H/2): the image
               centre in our convention, so K is taken as it is)
    cam_c2w    (N, 4, 4) world_from_cam in OpenCV axes

which is what MegaSaM's ``sgd_cvd_hr.npz`` contains (the tool the paper used to annotate its web videos).
A ``.npz`` that is a link must point inside its folder unless ``allow_outside``
(``data_curation build --allow-outside-paths``).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from worldmem.data.clip import Clip, ClipError, ClipRef, fit_cameras, fit_depth, fit_frames
from worldmem.data.config import CurationConfig
from worldmem.data.media import frame_indices
from worldmem.data.readers._paths import data_path
from worldmem.geometry.cameras import Cameras, invert_rigid

__all__ = ["list_clips", "load_clip", "KEYS"]

KEYS = ("images", "depths", "intrinsic", "cam_c2w")


def _clip_id(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)


def list_clips(path: str) -> list[ClipRef]:
    p = Path(path)
    if p.is_file() and p.suffix == ".npz":
        files = [p]
    elif p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix == ".npz")
    else:
        raise ValueError(f"megasam:{path}: expected a .npz file or a folder of them")
    if not files:
        raise ValueError(f"megasam:{path}: no .npz files found")
    return [ClipRef("megasam", _clip_id(f), str(f)) for f in files]


def load_clip(ref: ClipRef, config: CurationConfig, depth_dir: str | None = None,
              allow_outside: bool = False) -> Clip:
    """``allow_outside``: read a ``.npz`` that links to outside its folder (refused by default)."""
    name = Path(ref.path).name
    path = data_path(Path(ref.path).parent, name, name, allow_outside)
    if not path.is_file():
        raise ClipError(f"{path.name}: file not found")
    if path.stat().st_size == 0:
        raise ClipError(f"{path.name}: empty file")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise ClipError(f"{path.name}: missing arrays {missing} (expected {list(KEYS)})")
            arrays = {k: data[k] for k in KEYS}
    except ClipError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ClipError(f"{path.name}: unreadable npz ({type(err).__name__})") from err
    images, depths, k, c2w = (arrays[key] for key in KEYS)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ClipError(f"{path.name}: images: expected shape (N, H, W, 3), got {images.shape}")
    n, h, w = images.shape[:3]
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise ClipError(f"{path.name}: cam_c2w: expected shape (N, 4, 4), got {c2w.shape}")
    if c2w.shape[0] != n:
        raise ClipError(f"frame/camera count mismatch: {n} images, {c2w.shape[0]} cameras")
    if depths.shape != (n, h, w):
        raise ClipError(f"{path.name}: depths: expected shape {(n, h, w)} to match images, got {depths.shape}")
    if k.shape != (3, 3):
        raise ClipError(f"{path.name}: intrinsic: expected shape (3, 3), got {k.shape}")
    if n == 0:
        raise ClipError(f"{path.name}: no frames")
    for name, arr in (("depths", depths), ("intrinsic", k), ("cam_c2w", c2w)):
        if arr.dtype.kind not in "fiu" or not np.isfinite(arr).all():
            raise ClipError(f"{path.name}: {name}: expected finite numbers (NaN, inf or wrong type)")
    keep = frame_indices(n, config.frame_stride, config.max_clip_frames)
    imgs = torch.from_numpy(np.ascontiguousarray(images[keep]))
    imgs = imgs.float() / 255.0 if imgs.dtype == torch.uint8 else imgs.float().clamp(0.0, 1.0)
    frames = fit_frames(imgs.permute(0, 3, 1, 2), config.image_size)
    depth = fit_depth(torch.from_numpy(np.ascontiguousarray(depths[keep], dtype=np.float32))[:, None],
                      config.image_size)
    try:
        m = torch.from_numpy(np.ascontiguousarray(c2w[keep], dtype=np.float64))
        cams = Cameras(invert_rigid(m).float(), torch.from_numpy(k.astype(np.float32)), h, w)
    except ValueError as err:
        raise ClipError(f"invalid camera (singular or non-rigid cam_c2w): {err}") from err
    return Clip(frames=frames, depth=depth, cameras=fit_cameras(cams, config.image_size), ref=ref,
                times=torch.tensor(keep, dtype=torch.float32), meta={"frames_in_file": n})
