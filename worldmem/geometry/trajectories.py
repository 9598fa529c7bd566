"""Low-level camera paths: out-and-back, loops, orbits, look-around, keyframed and keyboard-style paths.

World convention for paths: right-handed, **+z up** (the synthetic world's convention; pass ``up`` to use
another axis). A camera's heading is given by ``yaw`` (degrees, counter-clockwise about +up, 0 = looking
along +x) and ``pitch`` (degrees, positive looks up). Every function returns :class:`Cameras` (OpenCV axes,
``cam_from_world``) with batch shape ``(num_frames,)``.

Paths that revisit are what the memory is for: :func:`out_and_back` retraces its own poses in reverse, so
frame ``T - 1 - i`` equals frame ``i``; :func:`loop`, :func:`orbit` and :func:`look_around` end where they
began.

These builders take explicit positions and headings; :mod:`worldmem.geometry.paths` is the registry of named
paths fitted to a free box (what curation, validation, evaluation, the demo and ``worldmem generate`` use).
"""

from __future__ import annotations

import math

import torch

from worldmem.geometry.cameras import Cameras, intrinsics_from_fov, invert_rigid
from worldmem.utils.checks import check_number

__all__ = [
    "cameras_from_headings",
    "look_at",
    "out_and_back",
    "loop",
    "orbit",
    "look_around",
    "through_keyframes",
    "from_keys",
    "KEY_BINDINGS",
    "MAX_PATH_FRAMES",
]

KEY_BINDINGS = {
    "W": "move forward",
    "S": "move backward",
    "A": "strafe left",
    "D": "strafe right",
    "J": "turn left (yaw +)",
    "L": "turn right (yaw -)",
    "I": "look up (pitch +)",
    "K": "look down (pitch -)",
    ".": "stay",
}


MAX_PATH_FRAMES = 2_000_000
"""The most cameras one path may have (about 200 MB of matrices): a memory's :data:`~worldmem.memory.world.MAX_FRAMES`
plus one run's; more would allocate until memory runs out."""


def _vec3(name: str, value) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32)
    if t.shape != (3,):
        raise ValueError(f"{name}: expected 3 numbers (x, y, z), got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected finite values")
    return t


def _up(up) -> torch.Tensor:
    """``up`` as a (3,) direction; a zero (or denormal) vector has none (a silent NaN camera otherwise)."""
    u = _vec3("up", up)
    if not float(u.norm()) > 1e-6:
        raise ValueError(f"up: expected a nonzero direction (length > 1e-6), got {tuple(u.tolist())}")
    return u


def _check_count(num_frames: int, minimum: int = 1) -> None:
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or not minimum <= num_frames <= MAX_PATH_FRAMES:
        raise ValueError(f"num_frames: expected an int in [{minimum}, {MAX_PATH_FRAMES}] (MAX_PATH_FRAMES), got "
                         f"{num_frames!r}")


def _intrinsics(fov_deg: float, height: int, width: int) -> torch.Tensor:
    return intrinsics_from_fov(fov_deg, height, width)


def _rotation_basis(up: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An orthonormal basis (e1, e2, up) of the world with yaw 0 along e1 and yaw 90 along e2."""
    up = up / up.norm()
    helper = torch.tensor([1.0, 0.0, 0.0]) if abs(float(up[0])) < 0.9 else torch.tensor([0.0, 1.0, 0.0])
    e1 = helper - (helper @ up) * up
    e1 = e1 / e1.norm()
    e2 = torch.linalg.cross(up, e1)
    return e1, e2, up


def cameras_from_headings(positions, yaw_deg, pitch_deg, height: int = 64, width: int = 64,
                          fov_deg: float = 60.0, up=(0.0, 0.0, 1.0)) -> Cameras:
    """Cameras at ``positions`` (T, 3) looking along ``yaw_deg`` / ``pitch_deg`` (T,), with no roll.

    For up = +z, yaw 0 looks along +x and yaw 90 along +y.
    """
    p = torch.as_tensor(positions, dtype=torch.float32)
    if p.dim() != 2 or p.shape[-1] != 3:
        raise ValueError(f"positions: expected shape (T, 3), got {tuple(p.shape)}")
    n = p.shape[0]
    yaw = torch.deg2rad(torch.as_tensor(yaw_deg, dtype=torch.float32).expand(n))
    pitch = torch.deg2rad(torch.as_tensor(pitch_deg, dtype=torch.float32).expand(n))
    if bool((pitch.abs() >= math.pi / 2 - 1e-4).any()):
        raise ValueError("pitch_deg: expected values strictly between -90 and 90")
    e1, e2, u = _rotation_basis(_up(up))
    horiz = torch.cos(yaw)[:, None] * e1 + torch.sin(yaw)[:, None] * e2
    forward = torch.cos(pitch)[:, None] * horiz + torch.sin(pitch)[:, None] * u
    right = torch.linalg.cross(forward, u.expand_as(forward))
    right = right / right.norm(dim=-1, keepdim=True)
    down = torch.linalg.cross(forward, right)
    world_from_cam = torch.zeros(n, 4, 4)
    world_from_cam[:, :3, 0] = right
    world_from_cam[:, :3, 1] = down
    world_from_cam[:, :3, 2] = forward
    world_from_cam[:, :3, 3] = p
    world_from_cam[:, 3, 3] = 1.0
    cam_from_world = invert_rigid(world_from_cam)
    return Cameras(cam_from_world, _intrinsics(fov_deg, height, width).expand(n, 3, 3).clone(), height, width)


def look_at(eye, target, height: int = 64, width: int = 64, fov_deg: float = 60.0,
            up=(0.0, 0.0, 1.0)) -> Cameras:
    """Cameras at ``eye`` (T, 3) looking at ``target`` (T, 3) (or (3,)), with no roll."""
    eye = torch.as_tensor(eye, dtype=torch.float32)
    target = torch.as_tensor(target, dtype=torch.float32).expand_as(eye)
    if eye.dim() != 2 or eye.shape[-1] != 3:
        raise ValueError(f"eye: expected shape (T, 3), got {tuple(eye.shape)}")
    d = target - eye
    if bool((d.norm(dim=-1) < 1e-8).any()):
        raise ValueError("target: expected every target to differ from its eye position")
    e1, e2, u = _rotation_basis(_up(up))
    d = d / d.norm(dim=-1, keepdim=True)
    pitch = torch.rad2deg(torch.asin((d @ u).clamp(-1, 1)))
    if bool((torch.deg2rad(pitch).abs() >= math.pi / 2 - 1e-4).any()):  # cameras_from_headings' pitch limit
        raise ValueError("target: expected every target off the line through its eye along up (a camera looking "
                         "straight up or down has no defined roll); move it sideways or pass another up")
    yaw = torch.rad2deg(torch.atan2(d @ e2, d @ e1))
    return cameras_from_headings(eye, yaw, pitch, height, width, fov_deg, up)


def out_and_back(num_frames: int, start=(0.0, 0.0, 1.5), heading_deg: float = 0.0, distance: float = 2.0,
                 yaw_sweep_deg: float = 0.0, pitch_deg: float = 0.0, height: int = 64, width: int = 64,
                 fov_deg: float = 60.0, up=(0.0, 0.0, 1.0)) -> Cameras:
    """Goes ``distance`` along ``heading_deg`` and returns along the reverse path.

    The outward half moves from ``start`` while the view yaw sweeps linearly by ``yaw_sweep_deg`` (so the
    camera sees new things); the return half retraces the same poses backwards: frame ``T - 1 - i`` equals
    frame ``i``. ``num_frames`` >= 2.
    """
    _check_count(num_frames, 2)
    check_number("distance", distance, 0, strict=False)
    check_number("heading_deg", heading_deg)
    check_number("yaw_sweep_deg", yaw_sweep_deg)
    half = (num_frames + 1) // 2
    s = torch.linspace(0.0, 1.0, half)
    e1, e2, _ = _rotation_basis(_up(up))
    h = math.radians(heading_deg)
    direction = math.cos(h) * e1 + math.sin(h) * e2
    pos_out = _vec3("start", start) + s[:, None] * distance * direction
    yaw_out = heading_deg + s * yaw_sweep_deg
    # Mirror: frame T-1-i is frame i; for odd T the turning point is shown once, for even T twice.
    idx = torch.cat([torch.arange(half), torch.arange(num_frames - half - 1, -1, -1)])
    return cameras_from_headings(pos_out[idx], yaw_out[idx], pitch_deg, height, width, fov_deg, up)


def loop(num_frames: int, center=(0.0, 0.0, 1.5), radius: float = 1.5, look: str = "forward",
         pitch_deg: float = 0.0, height: int = 64, width: int = 64, fov_deg: float = 60.0,
         up=(0.0, 0.0, 1.0)) -> Cameras:
    """A closed circular circuit of ``radius`` around ``center``, counter-clockwise about up.

    ``look``: ``"forward"`` (along the direction of travel), ``"outward"`` or ``"inward"``. The last frame is one
    step before the first, so frame ``T`` would coincide with frame 0.
    """
    _check_count(num_frames, 2)
    check_number("radius", radius, 0)
    if look not in ("forward", "outward", "inward"):
        raise ValueError(f"look: expected 'forward', 'outward' or 'inward', got {look!r}")
    theta = torch.arange(num_frames, dtype=torch.float32) * (2 * math.pi / num_frames)
    e1, e2, _ = _rotation_basis(_up(up))
    pos = _vec3("center", center) + radius * (torch.cos(theta)[:, None] * e1 + torch.sin(theta)[:, None] * e2)
    offset = {"forward": 90.0, "outward": 0.0, "inward": 180.0}[look]
    yaw = torch.rad2deg(theta) + offset
    return cameras_from_headings(pos, yaw, pitch_deg, height, width, fov_deg, up)


def orbit(num_frames: int, center=(0.0, 0.0, 0.5), radius: float = 2.0, elevation_deg: float = 20.0,
          height: int = 64, width: int = 64, fov_deg: float = 60.0, up=(0.0, 0.0, 1.0)) -> Cameras:
    """Cameras on a circle around ``center``, all looking at it, ``elevation_deg`` above its horizon."""
    _check_count(num_frames, 1)
    check_number("radius", radius, 0)
    check_number("elevation_deg", elevation_deg, -90, 90)
    c = _vec3("center", center)
    e1, e2, u = _rotation_basis(_up(up))
    theta = torch.arange(num_frames, dtype=torch.float32) * (2 * math.pi / num_frames)
    el = math.radians(elevation_deg)
    ring = torch.cos(theta)[:, None] * e1 + torch.sin(theta)[:, None] * e2
    eye = c + radius * (math.cos(el) * ring + math.sin(el) * u)
    return look_at(eye, c.expand_as(eye), height, width, fov_deg, up)


def look_around(num_frames: int, position=(0.0, 0.0, 1.5), start_yaw_deg: float = 0.0,
                yaw_range_deg: float = 360.0, pitch_deg: float = 0.0, height: int = 64, width: int = 64,
                fov_deg: float = 60.0, up=(0.0, 0.0, 1.0)) -> Cameras:
    """Pure rotation in place: the yaw turns by ``yaw_range_deg`` over the path (360 = a full turn whose
    frame ``T`` would coincide with frame 0)."""
    _check_count(num_frames, 1)
    check_number("start_yaw_deg", start_yaw_deg)
    check_number("yaw_range_deg", yaw_range_deg)
    steps = torch.arange(num_frames, dtype=torch.float32)
    denom = num_frames if abs(abs(yaw_range_deg) - 360.0) < 1e-6 else max(num_frames - 1, 1)
    yaw = start_yaw_deg + steps * (yaw_range_deg / denom)
    pos = _vec3("position", position).expand(num_frames, 3)
    return cameras_from_headings(pos, yaw, pitch_deg, height, width, fov_deg, up)


def through_keyframes(positions, yaws_deg, num_frames: int, pitch_deg: float = 0.0, height: int = 64,
                      width: int = 64, fov_deg: float = 60.0, step: float = 0.1, turn_deg: float = 6.0) -> Cameras:
    """A piecewise-linear path through keyframes ``positions`` (K, 3) with headings ``yaws_deg`` (K,).

    Position and yaw are interpolated linearly between consecutive keyframes; the ``num_frames`` frames are
    spread by effort, so that a segment gets frames in proportion to ``length / step + |turn| / turn_deg``
    (walking ``step`` and turning ``turn_deg`` cost one frame each). Computed in float64. Up is +z.
    """
    _check_count(num_frames, 1)
    p = torch.tensor(positions, dtype=torch.float64)
    y = torch.tensor(yaws_deg, dtype=torch.float64)
    if p.dim() != 2 or p.shape[-1] != 3 or p.shape[0] < 2 or y.shape != (p.shape[0],):
        raise ValueError(f"positions, yaws_deg: expected shapes (K, 3) and (K,) with K >= 2, got "
                         f"{tuple(p.shape)} and {tuple(y.shape)}")
    cost = (p[1:] - p[:-1]).norm(dim=-1) / step + (y[1:] - y[:-1]).abs() / turn_deg
    cum = torch.cat([torch.zeros(1, dtype=torch.float64), cost.cumsum(0)])
    s = torch.linspace(0.0, float(cum[-1]), num_frames, dtype=torch.float64)
    seg = torch.searchsorted(cum, s, right=True).clamp(1, len(cum) - 1) - 1
    a = ((s - cum[seg]) / (cum[seg + 1] - cum[seg]).clamp_min(1e-12)).clamp(0, 1)
    pos = p[seg] + a[:, None] * (p[seg + 1] - p[seg])
    yaw = y[seg] + a * (y[seg + 1] - y[seg])
    return cameras_from_headings(pos.float(), yaw.float(), pitch_deg, height, width, fov_deg)


def from_keys(keys: str, start=(0.0, 0.0, 1.5), start_yaw_deg: float = 0.0, start_pitch_deg: float = 0.0,
              step: float = 0.1, turn_deg: float = 6.0, height: int = 64, width: int = 64,
              fov_deg: float = 60.0, up=(0.0, 0.0, 1.0)) -> Cameras:
    """A path driven by key presses, one key per frame after the start frame (``len(keys) + 1`` cameras).

    Keys (case-insensitive; see :data:`KEY_BINDINGS`): W/S move ``step`` forward/backward along the horizontal
    heading, A/D strafe left/right, J/L turn left/right by ``turn_deg``, I/K pitch up/down by ``turn_deg``
    (clamped to +-80 degrees), ``.`` stays.
    """
    if not isinstance(keys, str):
        raise ValueError(f"keys: expected a string of {''.join(KEY_BINDINGS)}, got {type(keys).__name__}")
    if len(keys) >= MAX_PATH_FRAMES:
        raise ValueError(f"keys: expected fewer than {MAX_PATH_FRAMES} keys (MAX_PATH_FRAMES), got {len(keys)}")
    bad = sorted({k for k in keys.upper() if k not in KEY_BINDINGS})
    if bad:
        raise ValueError(f"keys: unknown key(s) {''.join(bad)!r}; expected letters from {''.join(KEY_BINDINGS)!r}")
    e1, e2, _ = _rotation_basis(_up(up))
    pos = _vec3("start", start).clone()
    yaw, pitch = float(start_yaw_deg), float(start_pitch_deg)
    positions, yaws, pitches = [pos.clone()], [yaw], [pitch]
    for key in keys.upper():
        y = math.radians(yaw)
        fwd = math.cos(y) * e1 + math.sin(y) * e2
        left = -math.sin(y) * e1 + math.cos(y) * e2
        if key == "W":
            pos = pos + step * fwd
        elif key == "S":
            pos = pos - step * fwd
        elif key == "A":
            pos = pos + step * left
        elif key == "D":
            pos = pos - step * left
        elif key == "J":
            yaw += turn_deg
        elif key == "L":
            yaw -= turn_deg
        elif key == "I":
            pitch = min(pitch + turn_deg, 80.0)
        elif key == "K":
            pitch = max(pitch - turn_deg, -80.0)
        positions.append(pos.clone())
        yaws.append(yaw)
        pitches.append(pitch)
    return cameras_from_headings(torch.stack(positions), torch.tensor(yaws), torch.tensor(pitches),
                                 height, width, fov_deg, up)
