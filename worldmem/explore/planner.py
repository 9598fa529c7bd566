"""The camera paths of ``worldmem explore``: a move (a key or a button) becomes one smooth chunk of cameras, and
"go back to bookmark" becomes a few chunks that end exactly at the bookmarked camera.

Conventions (docs/conventions.md): OpenCV camera axes (+x right, +y down, +z forward), ``cam_from_world`` 4x4,
scene units. Moves are relative to the current camera, so they need no "up" of the world: forward/back move
along the camera's +z, left/right along its x, up/down along its -y, and the turns rotate about its -y axis (a
camera without roll in a z-up world, as every synthetic path starts, stays without roll). A move of a chunk of
``T`` frames puts frame ``i`` (1..T) at the fraction ``i / T`` of the move's translation and rotation, both in
the frame of the camera the chunk starts from, so walking is a constant velocity across chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation, Slerp

from worldmem.geometry import Cameras
from worldmem.geometry.transforms import invert_rigid

__all__ = ["MOVES", "MAX_RETURN_CHUNKS", "Move", "move_chunk", "return_path", "return_chunks"]


@dataclass(frozen=True)
class Move:
    """One move of a chunk, in the frame of the camera it starts from."""

    label: str
    """The button's text on the page."""
    key: str | None
    """The page's hotkey (viser's command-palette keys), or None."""
    translate: tuple[float, float, float]
    """Camera-frame translation per chunk, in steps (x right, y down, z forward)."""
    turn: float
    """Rotation about the camera's up axis (-y) per chunk, in turns of ``turn_deg``; + turns left."""


MOVES: dict[str, Move] = {
    "forward": Move("Forward", "W", (0.0, 0.0, 1.0), 0.0),
    "back": Move("Back", "S", (0.0, 0.0, -1.0), 0.0),
    "left": Move("Left", "A", (-1.0, 0.0, 0.0), 0.0),
    "right": Move("Right", "D", (1.0, 0.0, 0.0), 0.0),
    "turn-left": Move("Turn left", "Q", (0.0, 0.0, 0.0), 1.0),
    "turn-right": Move("Turn right", "E", (0.0, 0.0, 0.0), -1.0),
    "up": Move("Up", "R", (0.0, -1.0, 0.0), 0.0),
    "down": Move("Down", "F", (0.0, 1.0, 0.0), 0.0),
}
"""The moves by name (the worker's queue holds these names)."""

MAX_RETURN_CHUNKS = 12
"""The most chunks a return to a bookmark takes (a far bookmark is reached in bigger steps)."""


def _single(name: str, camera: Cameras) -> Cameras:
    if not isinstance(camera, Cameras) or camera.cam_from_world.numel() != 16:
        raise ValueError(f"{name}: expected one camera (Cameras with batch shape () or (1,))")
    return camera[0] if len(camera.batch_shape) == 1 else camera


def _yaw_up(angle: float) -> torch.Tensor:
    """(3, 3) rotation of camera-frame vectors by ``angle`` radians about the camera's up axis (-y): positive
    turns the forward axis (+z) towards the left (-x)."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]], dtype=torch.float64)


def move_chunk(start: Cameras, move: str, frames: int, step: float, turn_deg: float) -> Cameras:
    """The ``frames`` cameras (T,) of one move from camera ``start`` (not included): frame ``i`` (1..T) at the
    fraction ``i / T`` of the move (``step`` scene units and ``turn_deg`` degrees per chunk), with ``start``'s
    intrinsics."""
    if move not in MOVES:
        raise ValueError(f"move: expected one of {', '.join(MOVES)}, got {move!r}")
    if frames < 1:
        raise ValueError(f"frames: expected an int >= 1, got {frames}")
    start = _single("start", start)
    m = MOVES[move]
    world_from_start = invert_rigid(start.cam_from_world.double())
    mats = []
    for i in range(1, frames + 1):
        s = i / frames
        delta = torch.eye(4, dtype=torch.float64)
        delta[:3, :3] = _yaw_up(s * math.radians(turn_deg) * m.turn)
        delta[:3, 3] = torch.tensor(m.translate, dtype=torch.float64) * (s * step)
        mats.append(invert_rigid(world_from_start @ delta))
    cam_from_world = torch.stack(mats).to(start.cam_from_world.dtype)
    return Cameras(cam_from_world, start.K.expand(frames, 3, 3).clone(), start.height, start.width)


def return_chunks(start: Cameras, target: Cameras, step: float, turn_deg: float) -> int:
    """How many chunks the return from ``start`` to ``target`` takes: as many as walking (``step`` per chunk) and
    turning (``turn_deg`` per chunk) there need, at least 1 and at most :data:`MAX_RETURN_CHUNKS`."""
    start, target = _single("start", start), _single("target", target)
    distance = float((start.centers - target.centers).norm())
    rel = target.cam_from_world[:3, :3].double() @ start.cam_from_world[:3, :3].double().T
    angle = math.degrees(float(Rotation.from_matrix(rel.numpy()).magnitude()))
    need = max(distance / step, angle / turn_deg)
    return int(min(MAX_RETURN_CHUNKS, max(1, math.ceil(need - 1e-9))))


def return_path(start: Cameras, target: Cameras, frames: int) -> Cameras:
    """``frames`` cameras (N,) from camera ``start`` (not included) to camera ``target`` (the last one, exactly):
    the centre moves along the straight line and the rotation along the great arc (slerp), both eased in and out
    (smoothstep), so the revisit starts and ends gently. The intrinsics are ``target``'s."""
    if frames < 1:
        raise ValueError(f"frames: expected an int >= 1, got {frames}")
    start, target = _single("start", start), _single("target", target)
    a, b = start.world_from_cam.double(), target.world_from_cam.double()
    s = np.arange(1, frames + 1) / frames
    eased = s * s * (3.0 - 2.0 * s)
    rotations = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([a[:3, :3].numpy(), b[:3, :3].numpy()])))(eased)
    world_from_cam = torch.zeros(frames, 4, 4, dtype=torch.float64)
    world_from_cam[:, :3, :3] = torch.from_numpy(rotations.as_matrix())
    world_from_cam[:, :3, 3] = a[:3, 3] + torch.from_numpy(eased)[:, None] * (b[:3, 3] - a[:3, 3])
    world_from_cam[:, 3, 3] = 1.0
    cam_from_world = invert_rigid(world_from_cam).to(target.cam_from_world.dtype)
    cam_from_world[-1] = target.cam_from_world  # exactly the bookmark, not its round trip through a matrix inverse
    return Cameras(cam_from_world, target.K.expand(frames, 3, 3).clone(), target.height, target.width)
