"""``tum:PATH``: TUM RGB-D sequences (PATH is one sequence folder, or a folder of them; clip id = folder name).

Layout (as downloaded, e.g. ``rgbd_dataset_freiburg1_xyz/``)::

    rgb.txt          '#' comment lines, then "timestamp rgb/<timestamp>.png" (2 columns)
    depth.txt        '#' comment lines, then "timestamp depth/<timestamp>.png" (2 columns)
    groundtruth.txt  '#' comment lines, then "timestamp tx ty tz qx qy qz qw" (8 columns): the colour
                     camera's optical centre and orientation in the world (world_from_cam, OpenCV axes)
    rgb/*.png        8-bit colour frames
    depth/*.png      16-bit depth, value / 5000 = metres (0 = unknown)
    intrinsics.txt   optional, one line "fx fy cx cy" in pixels with TUM's (OpenCV's) pixel centres at
                     integers; without it: TUM's published values for freiburg1/2/3 (from the folder name),
                     else the ROS default 525 525 319.5 239.5. Lens distortion is ignored.

The lists' file names are relative to the sequence folder and must stay inside it (links followed), like the
lists themselves: an absolute path, a ``../`` that climbs out or a link to elsewhere fails the clip unread
unless ``allow_outside`` (``data_curation build --allow-outside-paths``).

Each colour frame is associated with the depth frame and the ground-truth pose nearest in time; frames with no
depth or pose within 0.02 s are dropped. We put pixel centres at +0.5, so ``cx`` and ``cy`` get +0.5.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from worldmem.data.clip import Clip, ClipError, ClipRef, fit_cameras
from worldmem.data.config import CurationConfig
from worldmem.data.media import frame_indices, read_depth_image, read_images
from worldmem.data.readers._paths import data_path
from worldmem.geometry.cameras import Cameras, invert_rigid

__all__ = ["list_clips", "load_clip", "DEPTH_SCALE", "MAX_TIME_DIFFERENCE", "quaternion_to_matrix"]

DEPTH_SCALE = 1.0 / 5000.0
"""Metres per unit of a TUM depth PNG."""
MAX_TIME_DIFFERENCE = 0.02
"""Seconds: the largest gap between a colour frame and its depth frame / pose."""
_KNOWN_INTRINSICS = {  # fx fy cx cy, TUM's calibration page (OpenCV pixel centres)
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
}
_ROS_DEFAULT = (525.0, 525.0, 319.5, 239.5)
_FILES = ("rgb.txt", "depth.txt", "groundtruth.txt")


def list_clips(path: str) -> list[ClipRef]:
    p = Path(path)
    if (p / "rgb.txt").is_file() or (p / "groundtruth.txt").is_file():
        return [ClipRef("tum", p.name, str(p))]
    if not p.is_dir():
        raise ValueError(f"tum:{path}: expected a TUM sequence folder (rgb.txt, depth.txt, groundtruth.txt) "
                         "or a folder of them")
    refs = [ClipRef("tum", d.name, str(d)) for d in sorted(p.iterdir()) if (d / "rgb.txt").is_file()]
    if not refs:
        raise ValueError(f"tum:{path}: no sequence folders with rgb.txt found")
    return refs


def _read_table(path: Path, columns: int, what: str) -> list[list[str]]:
    if not path.is_file():
        raise ClipError(f"{path.name} missing")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ClipError(f"{path.name}: unreadable ({type(err).__name__})") from err
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split()
        if len(cols) != columns:
            raise ClipError(f"{path.name} line {number}: expected {columns} columns ({what}), got {len(cols)}")
        rows.append(cols)
    if not rows:
        raise ClipError(f"{path.name}: empty file (no data rows)")
    return rows


def _float(text: str, path: str, row: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ClipError(f"{path}: row {row}: non-numeric value {text!r}") from None
    if not math.isfinite(value):
        raise ClipError(f"{path}: row {row}: NaN or inf value")
    return value


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """(N, 4) unit quaternions (qx, qy, qz, qw) -> (N, 3, 3) rotations."""
    x, y, z, w = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=-1).reshape(*q.shape[:-1], 3, 3)


def _nearest(times: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest of sorted ``times`` for each ``query`` and the absolute gap."""
    pos = torch.searchsorted(times, query).clamp(1, max(len(times) - 1, 1))
    lo = (pos - 1).clamp(min=0)
    hi = pos.clamp(max=len(times) - 1)
    pick = torch.where((query - times[lo]).abs() <= (times[hi] - query).abs(), lo, hi)
    return pick, (times[pick] - query).abs()


def _intrinsics(folder: Path, f: Path) -> tuple[float, float, float, float]:
    """From ``f`` (the folder's checked ``intrinsics.txt``) when it exists, else by the folder's name."""
    if f.is_file():
        rows = _read_table(f, 4, "fx fy cx cy")
        if len(rows) != 1:
            raise ClipError(f"intrinsics.txt: expected one line 'fx fy cx cy', got {len(rows)}")
        values = tuple(_float(v, "intrinsics.txt", 1) for v in rows[0])
        if values[0] <= 0 or values[1] <= 0:
            raise ClipError("intrinsics.txt: expected positive focal lengths")
        return values
    for key, values in _KNOWN_INTRINSICS.items():
        if key in folder.name:
            return values
    return _ROS_DEFAULT


def load_clip(ref: ClipRef, config: CurationConfig, depth_dir: str | None = None,
              allow_outside: bool = False) -> Clip:
    """``allow_outside``: read files that the lists name outside the sequence folder (refused by default)."""
    folder = Path(ref.path)
    lists = {name: data_path(folder, name, name, allow_outside) for name in (*_FILES, "intrinsics.txt")}
    rgb = _read_table(lists["rgb.txt"], 2, "timestamp filename")
    dep = _read_table(lists["depth.txt"], 2, "timestamp filename")
    rgb_files = [data_path(folder, r[1], f"rgb.txt: row {i}: file name", allow_outside) for i, r in enumerate(rgb)]
    dep_files = [data_path(folder, r[1], f"depth.txt: row {i}: file name", allow_outside) for i, r in enumerate(dep)]
    gt = _read_table(lists["groundtruth.txt"], 8, "timestamp tx ty tz qx qy qz qw")
    rgb_t = torch.tensor([_float(r[0], "rgb.txt", i) for i, r in enumerate(rgb)], dtype=torch.float64)
    dep_t = torch.tensor([_float(r[0], "depth.txt", i) for i, r in enumerate(dep)], dtype=torch.float64)
    gt_v = torch.tensor([[_float(v, "groundtruth.txt", i) for v in r] for i, r in enumerate(gt)], dtype=torch.float64)
    dep_order, gt_order = torch.argsort(dep_t), torch.argsort(gt_v[:, 0])
    dep_t, gt_v = dep_t[dep_order], gt_v[gt_order]
    d_idx, d_gap = _nearest(dep_t, rgb_t)
    g_idx, g_gap = _nearest(gt_v[:, 0].contiguous(), rgb_t)
    ok = ((d_gap <= MAX_TIME_DIFFERENCE) & (g_gap <= MAX_TIME_DIFFERENCE)).nonzero()[:, 0].tolist()
    ok = sorted(ok, key=lambda i: float(rgb_t[i]))
    if not ok:
        raise ClipError(f"no colour frame has a depth frame and a pose within {MAX_TIME_DIFFERENCE} s")
    keep = [ok[i] for i in frame_indices(len(ok), config.frame_stride, config.max_clip_frames)]
    frames, native = read_images([rgb_files[i] for i in keep], config.image_size)
    depth = torch.stack([read_depth_image(dep_files[int(dep_order[d_idx[i]])], DEPTH_SCALE, native,
                                          config.image_size) for i in keep])
    poses = gt_v[g_idx[keep]]
    q = poses[:, 4:8]
    norm = q.norm(dim=-1, keepdim=True)
    if bool((norm < 1e-6).any()):
        raise ClipError("groundtruth.txt: singular pose (zero quaternion)")
    world_from_cam = torch.eye(4, dtype=torch.float64).repeat(len(keep), 1, 1)
    world_from_cam[:, :3, :3] = quaternion_to_matrix(q / norm)
    world_from_cam[:, :3, 3] = poses[:, 1:4]
    fx, fy, cx, cy = _intrinsics(folder, lists["intrinsics.txt"])
    k = torch.tensor([[fx, 0.0, cx + 0.5], [0.0, fy, cy + 0.5], [0.0, 0.0, 1.0]])
    try:
        cams = Cameras(invert_rigid(world_from_cam).float(), k.expand(len(keep), 3, 3).clone(), *native)
    except ValueError as err:
        raise ClipError(f"invalid camera: {err}") from err
    return Clip(frames=frames, depth=depth, cameras=fit_cameras(cams, config.image_size), ref=ref,
                times=rgb_t[keep].float(), meta={"frames_associated": len(ok), "frames_listed": len(rgb)})
