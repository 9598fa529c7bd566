"""The registry of named camera paths: one place for curation, validation, evaluation, the demo and generation.

Every path is built by name inside a **free box** ``(lo, hi)``: an axis-aligned box (scene units, world +z up,
see :mod:`worldmem.geometry.trajectories`) the camera may travel through without entering an object, given as
a (2, 3) tensor or a pair of 3-vectors. A synthetic scene's box is ``scene.free_box``; inputs with no scene use
:data:`DEFAULT_BOX` through :func:`continue_path`, which moves the path so that it starts at a given camera::

    make_path("out-and-back", scene.free_box, 48, 64, 64)              # the canonical path (eval, demo)
    make_path("loop", scene.free_box, 28, 64, 64, rng=rng)             # a random member of the family (curation)
    make_path("out-and-back", box, 48, 64, 64, sweep_deg=90.0)         # a parameter set by hand
    make_path("keys:WWJJ", box, 5, 64, 64)                             # a keyboard path from the box's centre
    continue_path("loop", last_camera, 17)                             # the same family, from a given camera

``rng=None`` gives the canonical path, a pure function of the box and the arguments. A numpy ``rng`` draws the
family's free parameters (:func:`draw_path_params`, in a fixed order, so a seeded generator gives the same
path every time); parameters passed by name override drawn ones without changing what is drawn. Only the
families in :data:`RANDOM_PATH_NAMES` have free parameters. Every builder also takes ``fov_deg`` (horizontal
field of view, default 70) and ``pitch_deg`` (default 0). docs/paths.md shows every path from above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from worldmem.geometry import trajectories
from worldmem.geometry.cameras import Cameras

__all__ = ["PathSpec", "PATHS", "PATH_NAMES", "RANDOM_PATH_NAMES", "DEFAULT_BOX", "FOV_DEG", "KEYS_PREFIX", "make_path",
           "draw_path_params", "continue_path", "path_spec", "then_reverse", "retraces"]

FOV_DEG = 70.0
"""Default horizontal field of view of every registry path, degrees."""
DEFAULT_BOX = ((-0.6, -0.6, -0.2), (0.6, 0.6, 0.2))
"""The free box for inputs with no scene: 1.2 x 1.2 x 0.4 scene units around the origin (an out-and-back
goes 1 unit forward). :func:`continue_path` builds the path in it and moves it to start at the given camera."""
KEYS_PREFIX = "keys:"


@dataclass(frozen=True)
class PathSpec:
    """One registry entry.

    ``build(lo, hi, num_frames, height, width, **params) -> Cameras (num_frames,)`` with ``lo``, ``hi`` (3,)
    float32 tensors; ``params`` are the names it takes besides ``fov_deg`` and ``pitch_deg`` (each defaults
    to a canonical value, most derived from the box). ``draw(rng, lo, hi, num_frames) -> dict`` draws the
    family's free parameters (``lo``, ``hi`` as float64 arrays), or is None for a path with none; ``recorded``
    names the drawn parameters a curated clip keeps in its metadata.
    """

    build: Callable[..., Cameras]
    doc: str
    revisits: bool
    params: tuple[str, ...] = ()
    draw: Callable[[np.random.Generator, np.ndarray, np.ndarray, int], dict] | None = None
    recorded: tuple[str, ...] = ()


def _center_half(lo: torch.Tensor, hi: torch.Tensor) -> tuple[list[float], list[float]]:
    return ((lo + hi) / 2).tolist(), ((hi - lo) / 2).tolist()


def _far_pair(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A random point A and, of 8 more random points, the one farthest from A in x/y."""
    a = rng.uniform(lo, hi)
    b = max((rng.uniform(lo, hi) for _ in range(8)), key=lambda q: float(np.linalg.norm(q[:2] - a[:2])))
    return a, b


def _diagonal(lo: torch.Tensor, hi: torch.Tensor) -> tuple[list[float], list[float]]:
    """Canonical A and B: a quarter and three quarters along the box's x/y diagonal, at mid height."""
    lo64, hi64 = lo.double().numpy(), hi.double().numpy()
    a, b = lo64 + 0.25 * (hi64 - lo64), lo64 + 0.75 * (hi64 - lo64)
    a[2] = b[2] = (lo64[2] + hi64[2]) / 2
    return a.tolist(), b.tolist()


def _signed_turn(a: float, b: float) -> float:
    """The shortest turn in degrees from heading a to heading b."""
    return (b - a + 180.0) % 360.0 - 180.0


def then_reverse(outward: Cameras, num_frames: int) -> Cameras:
    """``num_frames`` cameras: the ``(num_frames + 1) // 2`` cameras of ``outward``, then the same cameras
    backwards, so that frame ``T - 1 - i`` is frame ``i`` exactly (as :func:`trajectories.out_and_back`: for odd
    T the turning point is shown once, for even T twice). ``outward`` must have exactly that many cameras."""
    half = (num_frames + 1) // 2
    if len(outward) != half:
        raise ValueError(f"outward: expected {half} cameras for num_frames {num_frames}, got {len(outward)}")
    return outward[torch.cat([torch.arange(half), torch.arange(num_frames - half - 1, -1, -1)])]


def retraces(cameras: Cameras, atol: float = 1e-5) -> bool:
    """Whether the path comes back along its own poses: frame ``T - 1 - i`` equals frame ``i`` for every i."""
    flipped = torch.arange(len(cameras) - 1, -1, -1)
    return bool(torch.allclose(cameras.cam_from_world, cameras.cam_from_world[flipped], rtol=0, atol=atol)
                and torch.allclose(cameras.K, cameras.K[flipped], rtol=0, atol=atol))


# ---------------------------------------------------------------------------------------------- builders
def _out_and_back(lo, hi, n, height, width, *, sweep_deg=180.0, fov_deg=FOV_DEG, pitch_deg=0.0):
    c, _ = _center_half(lo, hi)
    start = (float(lo[0]) + 0.1, c[1], c[2])
    distance = max(float(hi[0] - lo[0]) - 0.2, 0.5)
    return trajectories.out_and_back(n, start=start, heading_deg=0.0, distance=distance, yaw_sweep_deg=sweep_deg,
                                     pitch_deg=pitch_deg, height=height, width=width, fov_deg=fov_deg)


def _walk_and_retrace(lo, hi, n, height, width, *, start=None, end=None, sweep_deg=90.0, fov_deg=FOV_DEG,
                      pitch_deg=0.0):
    a, b = _diagonal(lo, hi)
    start, end = a if start is None else start, b if end is None else end
    a, b = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    heading = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
    return trajectories.out_and_back(n, start=a.tolist(), heading_deg=heading,
                                     distance=float(np.linalg.norm(b[:2] - a[:2])), yaw_sweep_deg=sweep_deg,
                                     pitch_deg=pitch_deg, height=height, width=width, fov_deg=fov_deg)


def _draw_walk_and_retrace(rng, lo, hi, n):
    a, b = _far_pair(rng, lo, hi)
    sweep = float(rng.uniform(45.0, 120.0)) * (1 if rng.random() < 0.5 else -1)
    return {"start": a.tolist(), "end": b.tolist(), "sweep_deg": sweep}


def _loop(lo, hi, n, height, width, *, turns=1.5, look="forward", radius=None, center=None, fov_deg=FOV_DEG,
          pitch_deg=0.0):
    c, half = _center_half(lo, hi)
    per_turn = max(2, round(n / turns))
    ring = trajectories.loop(per_turn, center=c if center is None else center,
                             radius=0.7 * min(half[0], half[1]) if radius is None else radius, look=look,
                             pitch_deg=pitch_deg, height=height, width=width, fov_deg=fov_deg)
    return ring[torch.arange(n) % per_turn]


def _draw_loop(rng, lo, hi, n):
    look = ("forward", "outward", "inward")[int(rng.integers(3))]
    mid = (lo + hi) / 2
    radius = float(rng.uniform(0.5, 0.9) * min(hi[0] - mid[0], hi[1] - mid[1]))
    per_turn = max(2, round(n / float(rng.uniform(1.25, 1.6))))
    center = [float(mid[0]), float(mid[1]), float(rng.uniform(lo[2], hi[2]))]
    # The turns actually made (a whole number of frames per turn): building with them gives per_turn again.
    return {"look": look, "radius": radius, "center": center, "turns": n / per_turn}


def _excursion(lo, hi, n, height, width, *, fov_deg=FOV_DEG, pitch_deg=0.0):
    c, half = _center_half(lo, hi)
    r = 0.8 * min(half[0], half[1])
    theta = torch.linspace(0.0, 2 * math.pi, n)
    pos = torch.stack([c[0] - r * torch.cos(theta), c[1] + r * torch.sin(theta), torch.full_like(theta, c[2])], dim=1)
    yaw = 180.0 - torch.rad2deg(theta) * 0.5 * (1 - torch.cos(theta))  # turn away, then face the start again
    return trajectories.cameras_from_headings(pos, yaw, pitch_deg, height, width, fov_deg)


def _outward_loop(lo, hi, n, height, width, *, fov_deg=FOV_DEG, pitch_deg=0.0):
    c, half = _center_half(lo, hi)
    r = 0.7 * min(half[0], half[1])
    if r < 0.3:  # no room for a circle: turn in place
        return trajectories.look_around(n, position=c, pitch_deg=pitch_deg, height=height, width=width,
                                        fov_deg=fov_deg)
    return trajectories.loop(n, center=c, radius=r, look="outward", pitch_deg=pitch_deg, height=height,
                             width=width, fov_deg=fov_deg)


def _round_trip(lo, hi, n, height, width, *, start=None, end=None, start_yaw_deg=0.0, look_deg=60.0,
                fov_deg=FOV_DEG, pitch_deg=0.0):
    a, b = _diagonal(lo, hi)
    start, end = a if start is None else start, b if end is None else end
    a, b = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    heading = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
    y0 = start_yaw_deg
    y1 = y0 + look_deg  # look around at A
    yh = y1 + _signed_turn(y1, heading)  # face B, walk there
    yb = yh + 180.0  # turn round at B, walk back
    yback = yb + _signed_turn(yb, y0)  # face A's first view again, and look around as at the start
    points = [a, a, a, b, b, a, a, a]
    yaws = [y0, y1, yh, yh, yb, yb, yback, yback + look_deg]
    return trajectories.through_keyframes([q.tolist() for q in points], yaws, n, pitch_deg, height, width, fov_deg)


def _draw_round_trip(rng, lo, hi, n):
    a, b = _far_pair(rng, lo, hi)
    return {"start": a.tolist(), "end": b.tolist(), "start_yaw_deg": float(rng.uniform(0.0, 360.0)),
            "look_deg": float(rng.uniform(40.0, 90.0))}


def _look_around(lo, hi, n, height, width, *, position=None, start_yaw_deg=0.0, turns=1.5, fov_deg=FOV_DEG,
                 pitch_deg=0.0):
    c, _ = _center_half(lo, hi)
    return trajectories.look_around(n, position=c if position is None else position, start_yaw_deg=start_yaw_deg,
                                    yaw_range_deg=360.0 * turns, pitch_deg=pitch_deg, height=height, width=width,
                                    fov_deg=fov_deg)


def _draw_look_around(rng, lo, hi, n):
    turns = float(rng.uniform(1.3, 1.6))
    position = rng.uniform(lo, hi).tolist()
    return {"position": position, "start_yaw_deg": float(rng.uniform(0, 360)), "turns": turns}


def _arc_and_back(lo, hi, n, height, width, *, arc_deg=180.0, look="forward", fov_deg=FOV_DEG, pitch_deg=0.0):
    c, half = _center_half(lo, hi)
    if look not in ("forward", "outward", "inward"):
        raise ValueError(f"look: expected 'forward', 'outward' or 'inward', got {look!r}")
    r = 0.7 * min(half[0], half[1])
    theta = torch.deg2rad(torch.linspace(0.0, arc_deg, (n + 1) // 2))  # counter-clockwise, as trajectories.loop
    pos = torch.stack([c[0] + r * torch.cos(theta), c[1] + r * torch.sin(theta), torch.full_like(theta, c[2])], 1)
    yaw = torch.rad2deg(theta) + {"forward": 90.0, "outward": 0.0, "inward": 180.0}[look]
    return then_reverse(trajectories.cameras_from_headings(pos, yaw, pitch_deg, height, width, fov_deg), n)


def _turn_and_back(lo, hi, n, height, width, *, turn_deg=180.0, position=None, start_yaw_deg=0.0, fov_deg=FOV_DEG,
                   pitch_deg=0.0):
    c, _ = _center_half(lo, hi)
    yaw = start_yaw_deg + torch.linspace(0.0, turn_deg, (n + 1) // 2)
    pos = torch.tensor(c if position is None else position, dtype=torch.float32).expand(len(yaw), 3)
    return then_reverse(trajectories.cameras_from_headings(pos, yaw, pitch_deg, height, width, fov_deg), n)


def _keys(lo, hi, n, height, width, *, keys, step=0.1, turn_deg=6.0, fov_deg=FOV_DEG, pitch_deg=0.0):
    if len(keys) + 1 != n:
        raise ValueError(f"trajectory {KEYS_PREFIX + keys!r}: gives {len(keys) + 1} frames, expected "
                         f"num_frames {n}")
    c, _ = _center_half(lo, hi)
    return trajectories.from_keys(keys, start=c, start_pitch_deg=pitch_deg, step=step, turn_deg=turn_deg,
                                  height=height, width=width, fov_deg=fov_deg)


# ---------------------------------------------------------------------------------------------- registry
PATHS: dict[str, PathSpec] = {
    "out-and-back": PathSpec(
        build=_out_and_back, revisits=True, params=("sweep_deg",),
        doc="across the box along +x at mid height while the view turns sweep_deg (180), then the same poses "
            "backwards"),
    "loop": PathSpec(
        build=_loop, revisits=True, params=("turns", "look", "radius", "center"), draw=_draw_loop,
        recorded=("look", "turns"),
        doc="turns (1.5) of a circle of radius 0.7 x the box's smaller half side at its centre, looking forward; "
            "the last part repeats the first. Random: 1.25-1.6 turns, radius 0.5-0.9 x, a random height, looking "
            "forward, outward or inward"),
    "excursion": PathSpec(
        build=_excursion, revisits=True,
        doc="a circle of radius 0.8 x the box's smaller half side from the start round the box and back: the view "
            "turns away from the start and faces it again at the end"),
    "outward-loop": PathSpec(
        build=_outward_loop, revisits=True,
        doc="one turn of a circle of radius 0.7 x the box's smaller half side, looking outward at the walls (turns "
            "in place when that radius is under 0.3)"),
    "walk-and-retrace": PathSpec(
        build=_walk_and_retrace, revisits=True, params=("start", "end", "sweep_deg"), draw=_draw_walk_and_retrace,
        recorded=("sweep_deg",),
        doc="walk from start to end (a quarter and three quarters along the box's diagonal) while the view turns "
            "sweep_deg (90), then retrace the same poses. Random: start anywhere in the box, end the farthest of 8 "
            "random points, a 45-120 degree sweep either way"),
    "round-trip": PathSpec(
        build=_round_trip, revisits=True, params=("start", "end", "start_yaw_deg", "look_deg"), draw=_draw_round_trip,
        recorded=("look_deg",),
        doc="look round by look_deg (60) at start, walk to end, turn round, walk back, face the first view again "
            "and look round as before. Random: start and end as walk-and-retrace, a 40-90 degree look, any first "
            "heading"),
    "look-around": PathSpec(
        build=_look_around, revisits=True, params=("position", "start_yaw_deg", "turns"), draw=_draw_look_around,
        recorded=("turns",),
        doc="turn in place at the box's centre by turns (1.5) full turns. Random: anywhere in the box, any first "
            "heading, 1.3-1.6 turns"),
    "arc-and-back": PathSpec(
        build=_arc_and_back, revisits=True, params=("arc_deg", "look"),
        doc="arc_deg (180) of the loop's circle (radius 0.7 x the box's smaller half side at its centre), looking "
            "forward (look: forward, outward, inward), then the same poses backwards (frame T-1-i = frame i)"),
    "turn-and-back": PathSpec(
        build=_turn_and_back, revisits=True, params=("turn_deg", "position", "start_yaw_deg"),
        doc="turn in place at position (the box's centre) by turn_deg (180) from start_yaw_deg (0), then turn back "
            "through the same poses (frame T-1-i = frame i)"),
    "keys": PathSpec(
        build=_keys, revisits=False, params=("keys", "step", "turn_deg"),
        doc="keys:WASD...: one key per frame after the first, from the box's centre facing +x (W/S forward/back, "
            "A/D strafe, J/L turn, I/K look up/down, . stay; trajectories.from_keys); num_frames = keys + 1"),
}
"""Path name -> :class:`PathSpec`. The keyboard path is named ``keys:<keys>`` (``keys:WWAADD``)."""

PATH_NAMES = tuple(name if name != "keys" else KEYS_PREFIX + "<WASDJLIK.>" for name in PATHS)
"""Every name as a user writes it."""
RANDOM_PATH_NAMES = ("walk-and-retrace", "loop", "round-trip", "look-around")
"""The families with free parameters, in the order curation's default ``synthetic_paths`` lists them (the order
is part of the seed -> clip mapping: a seed's draw picks an index into that list)."""
_COMMON = ("fov_deg", "pitch_deg")


def path_spec(name: str) -> tuple[PathSpec, dict]:
    """The entry for ``name`` and the parameters its name carries (``keys:WWAA`` -> ``{"keys": "WWAA"}``)."""
    if not isinstance(name, str):
        raise ValueError(f"trajectory: expected a path name, got {type(name).__name__}")
    if name.startswith(KEYS_PREFIX):
        return PATHS["keys"], {"keys": name[len(KEYS_PREFIX):]}
    spec = PATHS.get(name)
    if spec is None or name == "keys":
        raise ValueError(f"trajectory: unknown name {name!r} (expected one of {', '.join(PATH_NAMES)})")
    return spec, {}


def _as_box(box) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        b = torch.as_tensor(box, dtype=torch.float32) if not isinstance(box, torch.Tensor) else box.float()
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"box: expected (lo, hi), two 3-vectors, got {box!r}") from None
    if b.shape != (2, 3) or not bool(torch.isfinite(b).all()) or not bool((b[0] <= b[1]).all()):
        raise ValueError(f"box: expected (lo, hi) of shape (2, 3), finite, lo <= hi, got {b.tolist()}")
    return b[0].cpu(), b[1].cpu()


def draw_path_params(name: str, box, num_frames: int, rng: np.random.Generator) -> dict:
    """The free parameters of family ``name`` drawn from ``rng`` (json-able; always the same draws in the same
    order for one ``rng`` state). Raises ValueError for a path with no free parameters."""
    spec, _ = path_spec(name)
    return _draw(name, spec, *_as_box(box), num_frames, rng)


def _draw(name: str, spec: PathSpec, lo: torch.Tensor, hi: torch.Tensor, num_frames: int, rng) -> dict:
    if spec.draw is None:
        raise ValueError(f"trajectory {name!r}: has no random parameters (pass rng=None); the random families "
                         f"are {', '.join(RANDOM_PATH_NAMES)}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy.random.Generator or None, got {type(rng).__name__}")
    return spec.draw(rng, lo.double().numpy(), hi.double().numpy(), num_frames)


def make_path(name: str, box, num_frames: int, height: int, width: int, *, rng: np.random.Generator | None = None,
              **params) -> Cameras:
    """``num_frames`` cameras (``height`` x ``width`` images) along the registry path ``name`` inside ``box``.

    Args:
        name: a key of :data:`PATHS` or ``keys:<keys>``.
        box: the free box (lo, hi): a (2, 3) tensor such as ``scene.free_box`` or two 3-vectors.
        rng: None for the canonical path; a numpy Generator draws the family's free parameters first.
        params: the entry's parameters (``PATHS[name].params``), ``fov_deg`` and ``pitch_deg``; they override
            drawn values.

    Returns:
        Cameras with batch shape (num_frames,); ValueError names the bad argument.
    """
    spec, named = path_spec(name)
    unknown = sorted(set(params) - set(spec.params) - set(_COMMON))
    if unknown:
        raise ValueError(f"trajectory {name!r}: unknown parameter(s) {', '.join(unknown)}; expected some of "
                         f"{', '.join(spec.params + _COMMON)}")
    most = trajectories.MAX_PATH_FRAMES
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or not 2 <= num_frames <= most:
        raise ValueError(f"num_frames: expected an int in [2, {most}] (MAX_PATH_FRAMES), got {num_frames!r}")
    lo, hi = _as_box(box)
    drawn = _draw(name, spec, lo, hi, num_frames, rng) if rng is not None else {}
    return spec.build(lo, hi, num_frames, height, width, **{**drawn, **named, **params})


def continue_path(name: str, start: Cameras, num_frames: int, *, box=DEFAULT_BOX,
                  rng: np.random.Generator | None = None, **params) -> Cameras:
    """``num_frames`` cameras of path ``name`` that begin at the single camera ``start``.

    The path is built in ``box`` (default :data:`DEFAULT_BOX`, scene units) at ``start``'s image size and moved
    rigidly so that its first camera is ``start`` (up to rounding): the box and the +z-up world it is drawn in
    are placed in ``start``'s coordinates, so "forward" is ``start``'s viewing direction. Every camera gets
    ``start``'s intrinsics. For a video that continues past its last camera, drop the first frame.
    """
    if not isinstance(start, Cameras) or start.cam_from_world.numel() != 16:
        raise ValueError("start: expected one camera (Cameras with batch shape () or (1,))")
    path = make_path(name, box, num_frames, start.height, start.width, rng=rng, **params)
    moved = path.relative_to(path[0]).transform_world(start.world_from_cam.reshape(4, 4))
    K = start.K.reshape(1, 3, 3).expand(num_frames, 3, 3).to(moved.cam_from_world.dtype).clone()
    return Cameras(moved.cam_from_world, K, start.height, start.width)
