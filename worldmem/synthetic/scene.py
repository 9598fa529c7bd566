"""Seeded procedural worlds (a room or a courtyard with objects) and their exact RGB-D-id renderer.

World convention: right-handed, **+z is up** (gravity along -z), units are metres; the floor is the plane
z = 0 and the scene is centred on x = y = 0. Cameras are :class:`worldmem.geometry.Cameras` (OpenCV axes).

Object ids are ``0 .. n-1``, stable per scene: the floor is 0, the walls 1-4 (-x, +x, -y, +y), the ceiling 5
(rooms only), then the static objects, then the moving ones. Sky has id -1 and depth 0.

Colour is a deterministic, view-independent function of the surface point: a tiling texture sampled at metric
surface coordinates, times ambient + Lambert shading with a fixed light. Moving objects carry their texture
with them.

Seeds: ``SyntheticScene.random(seed)`` draws everything from ``numpy.random.default_rng(seed)``, in the order
room -> static objects -> sky -> moving objects, so one seed gives the same static world with or without the
moving objects, and the same world whether ``kind`` was passed or chosen by the seed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch

from worldmem.geometry.cameras import Cameras
from worldmem.synthetic.primitives import Box, Cylinder, Motion, Quad, ShapeSet, Sphere
from worldmem.synthetic.textures import TEXTURE_SIZE, TextureAtlas, random_texture, shade, sky_colour

__all__ = ["SyntheticScene", "SceneObject", "KINDS"]

KINDS = ("room", "courtyard")
FREE_Z = (1.2, 1.8)  # eye-height slab of the free box
_BAND = 1.9  # width of the ring along the walls where static objects stand
_CLEARANCE = 0.4  # static objects keep at least this much (in x/y) from the free box
_RAYS_PER_CHUNK = 1 << 16  # bounds the (rays x primitives) temporaries to a few tens of MB


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene: its id, a readable name, its shape, texture and (if it moves) motion."""

    id: int
    name: str
    shape: Quad | Box | Sphere | Cylinder
    texture: str
    texel_size: float  # metres per texel
    motion: Motion | None = None

    @property
    def dynamic(self) -> bool:
        return self.motion is not None


class SyntheticScene:
    """A static room/courtyard with objects, optionally with moving objects; renders exact RGB, depth and ids.

    Build one with :meth:`random`. Attributes (all float32 tensors in world coordinates):
        bounds: (2, 3) min and max corner of the scene.
        free_box: (2, 3) an axis-aligned box where cameras can travel: no object comes within ~0.3 of it.
        start: (3,) a suggested camera start, the centre of ``free_box``.
        objects: tuple of :class:`SceneObject`, ``objects[i].id == i``.
    """

    def __init__(self, kind: str, objects, textures: torch.Tensor, sky: torch.Tensor, bounds, free_box,
                 seed: int | None = None):
        self.kind = kind
        self.seed = seed
        self.objects = tuple(objects)
        if [o.id for o in self.objects] != list(range(len(self.objects))):
            raise ValueError("objects: expected ids 0 .. n-1 in order")
        self.bounds = torch.as_tensor(bounds, dtype=torch.float32).reshape(2, 3)
        self.free_box = torch.as_tensor(free_box, dtype=torch.float32).reshape(2, 3)
        self._atlas = TextureAtlas(textures)
        self._sky = torch.as_tensor(sky, dtype=torch.float32).reshape(2, 3)  # horizon, zenith
        self._texel = torch.tensor([o.texel_size for o in self.objects], dtype=torch.float32)
        self._shapes = ShapeSet([o.shape for o in self.objects], [o.id for o in self.objects],
                                [o.motion for o in self.objects])
        self._on_device: dict = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(cls, seed: int = 0, dynamic: bool = False, kind: str | None = None) -> SyntheticScene:
        """A seeded scene: ``kind`` "room" (closed box), "courtyard" (no ceiling: sky) or None (by seed).

        With ``dynamic=True`` 1-3 boxes or spheres move (on average 0.06-0.15 m per time unit) near the floor
        below the free box; the static part is identical to ``dynamic=False`` with the same seed.
        """
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS} or None, got {kind!r}")
        rng = np.random.default_rng(seed)
        drawn = KINDS[int(rng.integers(2))]  # always drawn, so passing kind does not shift later draws
        kind = kind or drawn
        builder = _Builder(rng, kind)
        builder.add_room()
        builder.add_static_objects()
        sky = np.stack([[0.78, 0.86, 0.95] + rng.uniform(-0.08, 0.04, 3),
                        [0.22, 0.42, 0.82] + rng.uniform(-0.1, 0.1, 3)])
        if dynamic:
            builder.add_moving_objects()
        textures = torch.from_numpy(np.stack(builder.textures))
        return cls(kind, builder.objects, textures, torch.from_numpy(sky.astype(np.float32)), builder.bounds,
                   builder.free_box, seed=seed)

    # ------------------------------------------------------------------ properties
    @property
    def dynamic_ids(self) -> tuple[int, ...]:
        return tuple(o.id for o in self.objects if o.dynamic)

    @property
    def start(self) -> torch.Tensor:
        return self.free_box.mean(0)

    def object_at(self, object_id: int) -> SceneObject | None:
        """The object with this id, or None for -1 (sky)."""
        object_id = int(object_id)
        if object_id == -1:
            return None
        if not 0 <= object_id < len(self.objects):
            raise ValueError(f"object_id: expected -1 or 0..{len(self.objects) - 1}, got {object_id}")
        return self.objects[object_id]

    def dynamic_mask(self, ids: torch.Tensor) -> torch.Tensor:
        """Boolean mask, same shape as ``ids``, of pixels that show a moving object."""
        moving = torch.tensor(self.dynamic_ids, dtype=torch.long, device=ids.device)
        return torch.isin(ids, moving)

    def describe(self) -> str:
        size = (self.bounds[1] - self.bounds[0]).tolist()
        lines = [f"{self.kind} {size[0]:.1f} x {size[1]:.1f} x {size[2]:.1f} m (seed {self.seed}): "
                 f"{len(self.objects)} objects, moving ids {list(self.dynamic_ids)}"]
        def short(x):  # dataclass repr with numbers rounded to centimetres
            return re.sub(r"-?\d+\.\d+(e-?\d+)?", lambda m: f"{float(m.group()):.2f}", repr(x))

        for o in self.objects:
            moving = f" moving {short(o.motion)}" if o.dynamic else ""
            lines.append(f"  {o.id:2d} {o.name:<9} {o.texture:<8} {short(o.shape)}{moving}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"SyntheticScene(kind={self.kind!r}, seed={self.seed}, objects={len(self.objects)}, "
                f"dynamic_ids={self.dynamic_ids})")

    # ------------------------------------------------------------------ rendering
    def render(self, cams: Cameras, times=None, return_ids: bool = False):
        """Ray-casts the scene exactly through every pixel centre.

        Args:
            cams: Cameras with batch shape (T,).
            times: (T,) scene times, or None for 0, 1, ..., T-1 (the frame index).
            return_ids: also return the object id per pixel.

        Returns:
            frames (T, 3, H, W) float32 in [0, 1]; depth (T, 1, H, W) float32 z-depth, 0 where nothing is hit
            (sky); and with ``return_ids`` ids (T, 1, H, W) int64, -1 for sky.
        """
        if not isinstance(cams, Cameras):
            raise ValueError(f"cams: expected Cameras with batch shape (T,), got {type(cams).__name__}")
        if len(cams.batch_shape) != 1:
            raise ValueError(f"cams: expected Cameras with batch shape (T,), got Cameras with batch shape "
                             f"{tuple(cams.batch_shape)}")
        T, H, W = len(cams), cams.height, cams.width
        device = cams.device
        if times is None:
            times = torch.arange(T, dtype=torch.float32, device=device)
        else:
            try:
                times = torch.as_tensor(times, dtype=torch.float32, device=device)
            except (TypeError, ValueError, RuntimeError) as err:
                raise ValueError(f"times: expected floats of shape (T,) = ({T},), got {times!r}") from err
            if times.shape != (T,):
                raise ValueError(f"times: expected shape (T,) = ({T},), got {tuple(times.shape)}")
            if not bool(torch.isfinite(times).all()):
                raise ValueError("times: expected finite values")
        shapes, atlas, texel, sky = self._resources(device)
        cams = cams.to(dtype=torch.float32)
        # Camera rays with z = 1, turned into the world: the hit distance along them is the z-depth.
        rays = cams.ray_directions().reshape(T, H * W, 3)
        rot = cams.world_from_cam[:, None, :3, :3]  # (T, 1, 3, 3); column k is camera axis k in the world
        # Element-wise rather than a matmul, so a frame's rays do not depend on the rest of the batch.
        dirs = rays[..., 0:1] * rot[..., 0] + rays[..., 1:2] * rot[..., 1] + rays[..., 2:3] * rot[..., 2]
        origins = cams.centers

        frames = torch.empty(T, H * W, 3, device=device)
        depth = torch.empty(T, H * W, device=device)
        ids = torch.empty(T, H * W, dtype=torch.long, device=device)
        frames_per_chunk = max(1, _RAYS_PER_CHUNK // (H * W))
        rays_per_chunk = min(H * W, _RAYS_PER_CHUNK)
        for f0 in range(0, T, frames_per_chunk):
            fs = slice(f0, min(T, f0 + frames_per_chunk))
            for r0 in range(0, H * W, rays_per_chunk):
                rs = slice(r0, min(H * W, r0 + rays_per_chunk))
                d = dirs[fs, rs]
                hits = shapes.cast(origins[fs], d, times[fs])
                hit = hits.ids >= 0
                colour = torch.empty_like(d)
                colour[~hit] = sky_colour(d[~hit], sky[0], sky[1])
                obj = hits.ids[hit]
                albedo = atlas.sample(obj, hits.uv[hit] / texel[obj][:, None])
                colour[hit] = shade(albedo, hits.normal[hit])
                frames[fs, rs], depth[fs, rs], ids[fs, rs] = colour, hits.depth, hits.ids
        frames = frames.clamp(0.0, 1.0).reshape(T, H, W, 3).permute(0, 3, 1, 2).contiguous()
        depth = depth.reshape(T, 1, H, W)
        if return_ids:
            return frames, depth, ids.reshape(T, 1, H, W)
        return frames, depth

    def _resources(self, device):
        key = str(device)
        if key not in self._on_device:
            self._on_device[key] = (self._shapes.to(device), self._atlas.to(device), self._texel.to(device),
                                    self._sky.to(device))
        return self._on_device[key]


class _Builder:
    """Draws a scene's layout from ``rng``: room faces, static objects along the walls, moving objects."""

    def __init__(self, rng: np.random.Generator, kind: str):
        self.rng, self.kind = rng, kind
        self.objects: list[SceneObject] = []
        self.textures: list[np.ndarray] = []
        self.footprints: list[tuple[float, float, float]] = []  # (x, y, radius) of placed static objects
        if kind == "room":
            sx, sy, h = rng.uniform(7.5, 10.0), rng.uniform(7.5, 10.0), rng.uniform(2.8, 3.2)
        else:
            sx, sy, h = rng.uniform(9.0, 13.0), rng.uniform(9.0, 13.0), rng.uniform(2.5, 4.0)
        self.half_x, self.half_y, self.height = sx / 2, sy / 2, h
        self.bounds = [[-sx / 2, -sy / 2, 0.0], [sx / 2, sy / 2, h]]
        self.fx, self.fy = sx / 2 - _BAND, sy / 2 - _BAND  # free box half extents in x and y
        self.free_box = [[-self.fx, -self.fy, FREE_Z[0]], [self.fx, self.fy, FREE_Z[1]]]

    def _add(self, name, shape, texel_range, motion=None):
        image, pattern = random_texture(self.rng)
        texel = float(self.rng.uniform(*texel_range))
        tile = texel * TEXTURE_SIZE
        if isinstance(shape, (Sphere, Cylinder)):
            # Round the circumference to whole texture tiles so the longitude seam is invisible.
            arc = max(1, round(2 * math.pi * shape.radius / tile)) * tile
            shape = type(shape)(**{**shape.__dict__, "arc_length": arc})
        self.objects.append(SceneObject(len(self.objects), name, shape, pattern, texel, motion))
        self.textures.append(image)

    def add_room(self):
        x, y, h = self.half_x, self.half_y, self.height
        faces = [
            ("floor", Quad((-x, -y, 0.0), (x, y, 0.0), (0.0, 0.0, 1.0))),
            ("wall_-x", Quad((-x, -y, 0.0), (-x, y, h), (1.0, 0.0, 0.0))),
            ("wall_+x", Quad((x, -y, 0.0), (x, y, h), (-1.0, 0.0, 0.0))),
            ("wall_-y", Quad((-x, -y, 0.0), (x, -y, h), (0.0, 1.0, 0.0))),
            ("wall_+y", Quad((-x, y, 0.0), (x, y, h), (0.0, -1.0, 0.0))),
        ]
        if self.kind == "room":
            faces.append(("ceiling", Quad((-x, -y, h), (x, y, h), (0.0, 0.0, -1.0))))
        for name, quad in faces:
            self._add(name, quad, (0.022, 0.04))

    def _place(self, radius: float) -> tuple[float, float] | None:
        """A random (x, y) inside the walls, clear of the free box and of other objects; None if none fits."""
        for _ in range(200):
            x = self.rng.uniform(-self.half_x + radius + 0.02, self.half_x - radius - 0.02)
            y = self.rng.uniform(-self.half_y + radius + 0.02, self.half_y - radius - 0.02)
            to_free = math.hypot(max(abs(x) - self.fx, 0.0), max(abs(y) - self.fy, 0.0))
            if to_free < radius + _CLEARANCE:
                continue
            if all(math.hypot(x - ox, y - oy) >= radius + r + 0.08 for ox, oy, r in self.footprints):
                self.footprints.append((x, y, radius))
                return x, y
        return None

    def add_static_objects(self):
        rng, h = self.rng, self.height
        first, target = len(self.objects), int(rng.integers(6, 13))
        for _ in range(3 * target):  # a few spare attempts for objects that find no room
            if len(self.objects) - first >= target:
                break
            kind = rng.choice(["box", "sphere", "cylinder"], p=[0.45, 0.25, 0.3])
            if kind == "box":
                half = (rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.5), rng.uniform(0.15, min(1.0, h / 2)))
                yaw = 0.0 if rng.random() < 0.4 else rng.uniform(0, math.pi / 2)
                at = self._place(math.hypot(half[0], half[1]))
                if at is None:
                    continue
                self._add("box", Box((at[0], at[1], half[2]), half, yaw), (0.01, 0.022))
                room_left = len(self.objects) - first < target
                if half[2] < 0.7 and rng.random() < 0.4 and room_left:  # a ball resting on top
                    r = min(half[0], half[1]) * rng.uniform(0.5, 0.9)
                    self._add("sphere", Sphere((at[0], at[1], 2 * half[2] + r), r), (0.01, 0.022))
            elif kind == "sphere":
                r = rng.uniform(0.2, 0.6)
                at = self._place(r)
                if at is not None:
                    self._add("sphere", Sphere((at[0], at[1], r), r), (0.01, 0.022))
            else:
                r = rng.uniform(0.12, 0.45)
                top = h if rng.random() < 0.3 else rng.uniform(0.4, min(2.0, h))  # pillars reach the top
                at = self._place(r)
                if at is not None:
                    self._add("cylinder", Cylinder(at[0], at[1], 0.0, top, r), (0.01, 0.022))

    def add_moving_objects(self):
        """1-3 movers near the floor whose whole path stays inside the free box's x/y footprint (so they never
        meet a static object) and whose top stays 0.35 below it."""
        rng = self.rng
        for _ in range(int(rng.integers(1, 4))):
            is_sphere = rng.random() < 0.5
            size = rng.uniform(0.15, 0.35) if is_sphere else rng.uniform(0.12, 0.3)
            z = rng.uniform(size, FREE_Z[0] - 0.35 - size)  # on the floor or hovering below the free box
            lim_x, lim_y = self.fx - size * math.sqrt(2), self.fy - size * math.sqrt(2)
            speed = rng.uniform(0.06, 0.15)
            if rng.random() < 0.5:  # back and forth along a segment
                for _ in range(100):
                    length, angle = rng.uniform(1.5, 3.0), rng.uniform(0, 2 * math.pi)
                    x0, y0 = rng.uniform(-lim_x, lim_x), rng.uniform(-lim_y, lim_y)
                    x1, y1 = x0 + length * math.cos(angle), y0 + length * math.sin(angle)
                    if abs(x1) <= lim_x and abs(y1) <= lim_y:
                        break
                else:  # fall back to a segment through the centre
                    x0, y0, x1, y1 = -lim_x * 0.8, 0.0, lim_x * 0.8, 0.0
                    length = 1.6 * lim_x
                center = (x0, y0, z)
                motion = Motion(line=(x1 - x0, y1 - y0, 0.0), omega=math.pi * speed / length)
            else:  # a horizontal circle
                radius = rng.uniform(0.6, min(1.5, lim_x, lim_y))
                cx = rng.uniform(-lim_x + radius, lim_x - radius)
                cy = rng.uniform(-lim_y + radius, lim_y - radius)
                phase = rng.uniform(0, 2 * math.pi)
                center = (cx + radius * math.cos(phase), cy + radius * math.sin(phase), z)
                sense = 1.0 if rng.random() < 0.5 else -1.0
                motion = Motion(radius=radius, omega=sense * speed / radius, phase=phase)
            if is_sphere:
                self._add("sphere", Sphere(center, size), (0.008, 0.016), motion)
            else:
                half = (size, size * rng.uniform(0.6, 1.0), size * rng.uniform(0.6, 1.0))
                self._add("box", Box(center, half, rng.uniform(0, math.pi / 2)), (0.008, 0.016), motion)
