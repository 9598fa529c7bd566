"""``nerfstudio:PATH``: a nerfstudio ``transforms.json`` with its images and (optional) depth maps.

Layout (PATH holds ``transforms.json``, or is a folder of such scene folders; the clip id is the folder
name)::

    PATH/transforms.json
        {"camera_model": "OPENCV" | "PINHOLE" (optional),
         "fl_x", "fl_y", "cx", "cy", "w", "h"          intrinsics in pixels (top level, or per frame),
         "k1", "k2", "p1", "p2" (optional, must be 0: distortion is not supported),
         "depth_unit_scale_factor": 0.001               (optional; 16-bit depth PNG value -> scene units),
         "caption": "a sunlit kitchen"                  (optional; the clip's text, docs/prompts.md),
         "frames": [{"file_path": "images/frame_00001.png",
                     "transform_matrix": 4x4 world_from_cam in OpenGL axes (+x right, +y up, +z backward),
                     "depth_file_path": "depth/frame_00001.png" (optional; 16-bit PNG or float .npy)}, ...]}

Frames are taken in natural order of ``file_path`` (the video order for frames extracted from a video).
Nerfstudio puts pixel centres at +0.5, like us, so intrinsics are taken as they are. A clip with no
``depth_file_path`` reads ``<depth-dir>/<clip_id>.npy`` (N, H, W) or is reported as missing depth.

``file_path`` and ``depth_file_path`` are relative to the folder of ``transforms.json`` and must stay inside it
(links followed), like ``transforms.json`` itself: an absolute path, a ``../`` that climbs out or a link to
elsewhere fails the clip unread unless ``allow_outside`` (``data_curation build --allow-outside-paths``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch

from worldmem.data.clip import Clip, ClipError, ClipRef, fit_cameras
from worldmem.data.config import CurationConfig
from worldmem.data.media import frame_indices, read_depth_array, read_depth_image, read_images
from worldmem.data.readers._paths import data_path
from worldmem.geometry.cameras import Cameras

__all__ = ["list_clips", "load_clip"]

_SUPPORTED_MODELS = ("OPENCV", "PINHOLE")
_DISTORTION = ("k1", "k2", "k3", "k4", "p1", "p2")


def list_clips(path: str) -> list[ClipRef]:
    p = Path(path)
    if p.is_file() and p.name == "transforms.json":
        p = p.parent
    if (p / "transforms.json").is_file():
        return [ClipRef("nerfstudio", p.name, str(p / "transforms.json"))]
    if not p.is_dir():
        raise ValueError(f"nerfstudio:{path}: expected a folder with transforms.json (or a folder of such folders)")
    refs = [ClipRef("nerfstudio", d.name, str(d / "transforms.json"))
            for d in sorted(p.iterdir()) if (d / "transforms.json").is_file()]
    if not refs:
        raise ValueError(f"nerfstudio:{path}: no transforms.json found")
    return refs


def _natural_key(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _number(d: dict, frame: dict, key: str, where: str) -> float:
    value = frame.get(key, d.get(key))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ClipError(f"transforms.json: {where}: missing or invalid {key!r} ({value!r})")
    return float(value)


def _matrix(value) -> torch.Tensor:
    try:
        return torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return torch.zeros(0)


def load_clip(ref: ClipRef, config: CurationConfig, depth_dir: str | None = None,
              allow_outside: bool = False) -> Clip:
    """``allow_outside``: read files that ``transforms.json`` names outside its folder (refused by default)."""
    root = Path(ref.path).parent
    path = data_path(root, Path(ref.path).name, "transforms.json", allow_outside)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ClipError(f"transforms.json: unreadable ({type(err).__name__})") from err
    if not text.strip():
        raise ClipError("transforms.json: empty file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ClipError(f"transforms.json: invalid JSON at line {err.lineno} ({err.msg})") from err
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list) or not data["frames"]:
        raise ClipError("transforms.json: expected an object with a non-empty 'frames' list")
    model = data.get("camera_model", "OPENCV")
    if model not in _SUPPORTED_MODELS:
        raise ClipError(f"transforms.json: camera_model {model!r} is not supported (expected {_SUPPORTED_MODELS})")
    frames_json = data["frames"]
    files = {}  # id(frame) -> (image path, depth path or None), checked before any is opened
    for i, f in enumerate(frames_json):
        if not isinstance(f, dict) or not isinstance(f.get("file_path"), str):
            raise ClipError(f"transforms.json: frame {i}: expected an object with a 'file_path' string")
        depth_path = f.get("depth_file_path")
        if depth_path and not isinstance(depth_path, str):
            raise ClipError(f"transforms.json: frame {i}: depth_file_path: expected a string")
        files[id(f)] = (
            data_path(root, f["file_path"], f"transforms.json: frame {i}: file_path", allow_outside),
            data_path(root, depth_path, f"transforms.json: frame {i}: depth_file_path", allow_outside)
            if depth_path else None)
    frames_json = sorted(frames_json, key=lambda f: _natural_key(f["file_path"]))
    n = len(frames_json)
    keep = frame_indices(n, config.frame_stride, config.max_clip_frames)
    chosen = [frames_json[i] for i in keep]

    ks, mats, size = [], [], None
    for f in chosen:
        where = f"frame {f['file_path']}"
        for key in _DISTORTION:
            if key in f or key in data:
                if _number(data, f, key, where) != 0.0:
                    raise ClipError(f"transforms.json: {where}: lens distortion ({key}) is not supported")
        fx, fy, cx, cy = (_number(data, f, k, where) for k in ("fl_x", "fl_y", "cx", "cy"))
        wh = (int(_number(data, f, "h", where)), int(_number(data, f, "w", where)))
        if size is not None and wh != size:
            raise ClipError(f"images of different sizes: transforms.json gives {size} and {wh}")
        size = wh
        m = _matrix(f.get("transform_matrix"))
        if m.shape == (3, 4):
            m = torch.cat([m, torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)])
        if m.shape != (4, 4):
            raise ClipError(f"transforms.json: {where}: expected a 4x4 transform_matrix, got shape {tuple(m.shape)}")
        ks.append([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        mats.append(m)
    frames, native = read_images([files[id(f)][0] for f in chosen], config.image_size)
    if tuple(native) != size:
        raise ClipError(f"image size {native[0]}x{native[1]} differs from transforms.json's h x w = {size[0]}x{size[1]}")

    with_depth = [f for f in chosen if f.get("depth_file_path")]
    if with_depth and len(with_depth) != len(chosen):
        missing = next(f["file_path"] for f in chosen if not f.get("depth_file_path"))
        raise ClipError(f"depth missing for frame {missing} (other frames have depth_file_path)")
    if with_depth:
        factor = float(data.get("depth_unit_scale_factor", 1e-3))
        depth = torch.stack([
            read_depth_image(files[id(f)][1], factor if not f["depth_file_path"].endswith(".npy") else 1.0,
                             native, config.image_size) for f in chosen])
    else:
        depth = read_depth_array(depth_dir, ref.clip_id, keep, native, config.image_size, n)
    try:
        cams = Cameras.from_opengl(torch.stack(mats).float(), torch.tensor(ks, dtype=torch.float32), *size)
    except ValueError as err:
        raise ClipError(f"invalid camera (NaN, singular or non-rigid transform_matrix): {err}") from err
    caption = data.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise ClipError(f"transforms.json: caption: expected a string, got {type(caption).__name__}")
    return Clip(frames=frames, depth=depth, cameras=fit_cameras(cams, config.image_size), ref=ref,
                times=torch.tensor(keep, dtype=torch.float32),
                meta={"frames_in_file": n, **({} if caption is None else {"caption": caption})})
