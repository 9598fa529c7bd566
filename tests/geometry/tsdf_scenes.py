"""Constants and cameras shared by the TSDF tests (test_tsdf.py, test_tsdf_storage.py; their fixtures are in
conftest.py)."""

from __future__ import annotations

import math

import torch

from worldmem.geometry.cameras import Cameras, intrinsics_from_fov
from worldmem.synthetic import SyntheticScene

VOXEL = 0.05
TRUNC_VOXELS = 4
TRUNC = VOXEL * TRUNC_VOXELS
# Stands on the floor inside the room's free-box footprint, where no static object comes within 0.4 m, so
# the only static surface near it is the floor.
MOVER = ((0.5, 0.2, 0.0), (1.1, 0.8, 0.7))
MOVER_CENTER = (0.8, 0.5, 0.35)


def look_at(eye, target) -> torch.Tensor:
    """cam_from_world (4, 4) of a camera at ``eye`` looking at ``target`` with world +z up (OpenCV axes)."""
    eye = torch.as_tensor(eye, dtype=torch.float64)
    forward = torch.as_tensor(target, dtype=torch.float64) - eye
    forward = forward / forward.norm()
    right = torch.linalg.cross(forward, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    world_from_cam = torch.eye(4, dtype=torch.float64)
    world_from_cam[:3, 0], world_from_cam[:3, 1], world_from_cam[:3, 2] = right, down, forward
    world_from_cam[:3, 3] = eye
    return torch.linalg.inv(world_from_cam).float()


def make_cams(eyes, targets, size: int, fov: float = 60.0) -> Cameras:
    m = torch.stack([look_at(e, t) for e, t in zip(eyes, targets, strict=True)])
    k = intrinsics_from_fov(fov, size, size).expand(len(m), 3, 3).clone()
    return Cameras(m, k, size, size)


def orbit(center, radius: float, height: float, degrees, size: int) -> Cameras:
    """Cameras on a horizontal circle around ``center``, all looking at it."""
    cx, cy, _ = center
    eyes = [(cx + radius * math.cos(math.radians(a)), cy + radius * math.sin(math.radians(a)), height)
            for a in degrees]
    return make_cams(eyes, [center] * len(eyes), size)


def room_cams(scene: SyntheticScene, n: int, size: int) -> Cameras:
    """n cameras circling inside the free box, each looking outwards and down across the room."""
    lo, hi = scene.free_box
    c = (lo + hi) / 2
    eyes, targets = [], []
    for i in range(n):
        a = 2 * math.pi * i / n
        radius = 0.4 * (hi - lo)
        eyes.append((c + torch.tensor([radius[0] * math.cos(a), radius[1] * math.sin(a), 0.0])).tolist())
        targets.append((c + torch.tensor([3 * math.cos(a + 0.5), 3 * math.sin(a + 0.5), -1.2])).tolist())
    return make_cams(eyes, targets, size)
