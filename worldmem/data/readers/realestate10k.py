"""``realestate10k:PATH``: RealEstate10K camera files with their frames (RGB only: depth from ``--depth-dir``).

Layout (PATH is the folder, or one ``.txt`` file in it)::

    PATH/<clip_id>.txt    optional first line: the video URL; then one row per frame:
                          timestamp fx fy cx cy 0 0 r11 r12 r13 t1 r21 r22 r23 t2 r31 r32 r33 t3
                          (19 numbers; fx, cx normalised by the image width, fy, cy by the height;
                          [R | t] is cam_from_world in OpenCV axes, row-major)
    PATH/<clip_id>/       the frames, one image per row, in row order (numeric file stems, e.g. the
                          timestamps, sort by value; other names sort by name) ...
    PATH/<clip_id>.mp4    ... or a video with exactly one frame per row
    DEPTH_DIR/<clip_id>.npy   float32 (rows, H, W) z-depth in the camera files' units (0 = unknown)

Cameras are converted with :meth:`Cameras.from_realestate10k` at the frames' native size, then fitted to the
curation size. Timestamps (microseconds) are kept as the clip's ``times``. The camera file, the frames folder,
its images and the video must stay inside PATH (links followed) unless ``allow_outside``
(``data_curation build --allow-outside-paths``).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from worldmem.data.clip import Clip, ClipError, ClipRef, fit_cameras
from worldmem.data.config import CurationConfig
from worldmem.data.media import frame_indices, read_depth_array, read_images, read_video, sorted_images
from worldmem.data.readers._paths import data_path
from worldmem.geometry.cameras import Cameras

__all__ = ["list_clips", "load_clip", "read_camera_file"]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")


def list_clips(path: str) -> list[ClipRef]:
    p = Path(path)
    if p.is_file() and p.suffix == ".txt":
        files = [p]
    elif p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix == ".txt")
    else:
        raise ValueError(f"realestate10k:{path}: expected a folder of <clip_id>.txt camera files (or one .txt)")
    if not files:
        raise ValueError(f"realestate10k:{path}: no camera files (*.txt) found")
    return [ClipRef("realestate10k", f.stem, str(f)) for f in files]


def read_camera_file(path: Path) -> torch.Tensor:
    """(N, 19) float64 rows; one-line :class:`ClipError` for empty files, bad rows and non-finite values."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ClipError(f"camera file {path.name}: unreadable ({type(err).__name__})") from err
    lines = [(i + 1, line.split()) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise ClipError(f"camera file {path.name}: empty file")
    if len(lines[0][1]) == 1 and not _is_number(lines[0][1][0]):
        lines = lines[1:]  # the video URL
    if not lines:
        raise ClipError(f"camera file {path.name}: no camera rows after the URL line")
    rows = []
    for number, cols in lines:
        if len(cols) != 19:
            raise ClipError(f"camera file {path.name} line {number}: expected 19 columns (timestamp fx fy cx cy "
                            f"0 0 and a 3x4 cam_from_world), got {len(cols)} (truncated or wrong format)")
        try:
            values = [float(c) for c in cols]
        except ValueError:
            raise ClipError(f"camera file {path.name} line {number}: non-numeric value") from None
        if not all(math.isfinite(v) for v in values):
            raise ClipError(f"camera file {path.name} line {number}: NaN or inf value")
        rows.append(values)
    return torch.tensor(rows, dtype=torch.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_clip(ref: ClipRef, config: CurationConfig, depth_dir: str | None = None,
              allow_outside: bool = False) -> Clip:
    """``allow_outside``: read a camera file, frames or video that link to outside PATH (refused by default)."""
    root, name = Path(ref.path).parent, Path(ref.path).name
    cam_file = Path(ref.path)
    data_path(root, name, f"camera file {name}", allow_outside)
    rows = read_camera_file(cam_file)
    n = rows.shape[0]
    keep = frame_indices(n, config.frame_stride, config.max_clip_frames)
    folder = cam_file.with_suffix("")
    videos = [cam_file.with_suffix(s) for s in VIDEO_SUFFIXES if cam_file.with_suffix(s).is_file()]
    if folder.is_dir():
        data_path(root, folder.name, f"frames folder {folder.name}/", allow_outside)  # before listing it
        images = [data_path(root, f"{folder.name}/{p.name}", f"frame {folder.name}/{p.name}", allow_outside)
                  for p in sorted_images(folder)]
        if len(images) != n:
            raise ClipError(f"frame/camera count mismatch: {len(images)} images in {folder.name}/, {n} camera rows")
        frames, native = read_images([images[i] for i in keep], config.image_size)
    elif videos:
        data_path(root, videos[0].name, f"video {videos[0].name}", allow_outside)
        frames, native, count = read_video(videos[0], keep, config.image_size)
        if count != n:
            raise ClipError(f"frame/camera count mismatch: {count} frames in {videos[0].name}, {n} camera rows")
    else:
        raise ClipError(f"frames missing: neither {folder.name}/ nor {cam_file.stem}.mp4 next to {cam_file.name}")
    depth = read_depth_array(depth_dir, ref.clip_id, keep, native, config.image_size, n)
    try:
        cams = Cameras.from_realestate10k(rows[keep], native[0], native[1])
    except ValueError as err:
        raise ClipError(f"invalid camera (NaN, singular or non-rigid pose): {err}") from err
    return Clip(frames=frames, depth=depth, cameras=fit_cameras(cams, config.image_size), ref=ref,
                times=rows[keep, 0].float(), meta={"frames_in_file": n})
