"""Camera paths fitted to a synthetic scene's free box (for the demo, generation, validation and evaluation).

All paths stay inside ``scene.free_box`` (so the camera never enters an object) at mid height, with a 70 degree
field of view. ``scene_path(scene, name, num_frames, size)`` builds one by name:

- ``out-and-back``: across the box and back along the reverse path, the view sweeping 90 degrees on the way out;
- ``loop``: a closed circle (looking along the direction of travel) inscribed in the box;
- ``orbit``: looking at the box's centre from a circle inside it (outward-facing views of the walls);
- ``excursion``: out along one side, a long detour around the box, and back to the start;
- ``keys:WWAADD``: the key path of :func:`worldmem.geometry.trajectories.from_keys` from the box's centre.
"""

from __future__ import annotations

import math

import torch

from worldmem.geometry import trajectories
from worldmem.geometry.cameras import Cameras

__all__ = ["PATH_NAMES", "scene_path", "out_and_back_in_scene"]

PATH_NAMES = ("out-and-back", "loop", "orbit", "excursion", "keys:<WASDJLIK.>")
FOV_DEG = 70.0


def _box(scene):
    lo, hi = scene.free_box[0], scene.free_box[1]
    center = ((lo + hi) / 2).tolist()
    half = ((hi - lo) / 2).tolist()
    return lo, hi, center, half


def out_and_back_in_scene(scene, num_frames: int, size: int, yaw_sweep_deg: float = 90.0) -> Cameras:
    lo, hi, center, _ = _box(scene)
    start = (float(lo[0]) + 0.1, center[1], center[2])
    distance = max(float(hi[0] - lo[0]) - 0.2, 0.5)
    return trajectories.out_and_back(num_frames, start=start, heading_deg=0.0, distance=distance,
                                     yaw_sweep_deg=yaw_sweep_deg, height=size, width=size, fov_deg=FOV_DEG)


def _excursion(scene, num_frames: int, size: int) -> Cameras:
    """Start, a loop around the box, back to the start: the start area is revisited after a long absence."""
    _, _, c, half = _box(scene)
    r = 0.8 * min(half[0], half[1])
    theta = torch.linspace(0.0, 2 * math.pi, num_frames)
    pos = torch.stack([c[0] - r * torch.cos(theta), c[1] + r * torch.sin(theta), torch.full_like(theta, c[2])], dim=1)
    yaw = 180.0 - torch.rad2deg(theta) * 0.5 * (1 - torch.cos(theta))  # turn away, then face the start again
    return trajectories.cameras_from_headings(pos, yaw, 0.0, size, size, FOV_DEG)


def scene_path(scene, name: str, num_frames: int, size: int) -> Cameras:
    """The named path in ``scene`` with ``num_frames`` cameras for ``size`` x ``size`` images."""
    _, _, c, half = _box(scene)
    r = 0.7 * min(half[0], half[1])
    if name == "out-and-back":
        return out_and_back_in_scene(scene, num_frames, size)
    if name == "loop":
        return trajectories.loop(num_frames, center=c, radius=r, look="forward", height=size, width=size, fov_deg=FOV_DEG)
    if name == "orbit":
        return trajectories.look_around(num_frames, position=c, height=size, width=size, fov_deg=FOV_DEG) if r < 0.3 else \
            trajectories.loop(num_frames, center=c, radius=r, look="outward", height=size, width=size, fov_deg=FOV_DEG)
    if name == "excursion":
        return _excursion(scene, num_frames, size)
    if name.startswith("keys:"):
        keys = name[5:]
        if len(keys) + 1 != num_frames:
            raise ValueError(f"trajectory {name!r}: gives {len(keys) + 1} frames, expected --num-frames {num_frames}")
        return trajectories.from_keys(keys, start=c, height=size, width=size, fov_deg=FOV_DEG)
    raise ValueError(f"trajectory: unknown name {name!r} (expected one of {', '.join(PATH_NAMES)})")
