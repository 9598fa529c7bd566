"""Analytic ray casting against the synthetic world's primitives, vectorised over rays x primitives.

World convention: right-handed, **+z is up** (gravity along -z), units are metres; the floor is z = 0.

Rays are cast in groups that share one origin (one camera frame): ``origins`` (B, 3), ``dirs`` (B, N, 3).
Directions need not have unit length: a hit at ``origin + t * dir`` reports ``t``, so rays scaled to
camera-space z = 1 (``Cameras.ray_directions``) give ``t`` = z-depth directly. Each ``_intersect_*`` returns
t (B, N, P), +inf where the ray misses primitive P. Only hits at t > ``EPS`` count; solids are hit from the
outside only.

Surface coordinates ``uv`` are in metres along the surface: a face's two in-plane axes, a sphere's
longitude/latitude times its radius, a cylinder's arc length and height (caps: x, y). Normals point out of the
solid (into the room for the room's faces) and never depend on the viewer, so shading is view independent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Quad", "Box", "Sphere", "Cylinder", "Motion", "Hits", "ShapeSet", "EPS"]

EPS = 1e-4  # nearest accepted hit distance; also keeps a surface from re-hitting itself
_TOL = 1e-4  # slack on quad borders so the room's edges have no cracks
Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Quad:
    """An axis-aligned rectangle from corner ``lo`` to ``hi`` (equal along the normal's axis), lit side
    towards ``normal``."""

    lo: Vec3
    hi: Vec3
    normal: Vec3

    @property
    def axis(self) -> int:
        return max(range(3), key=lambda k: abs(self.normal[k]))


@dataclass(frozen=True)
class Box:
    """A box with half extents ``half`` in its own frame, turned by ``yaw`` radians about +z at ``center``."""

    center: Vec3
    half: Vec3
    yaw: float = 0.0


@dataclass(frozen=True)
class Sphere:
    """A sphere; longitude runs over ``arc_length`` metres (None: the circumference 2 pi r)."""

    center: Vec3
    radius: float
    arc_length: float | None = None


@dataclass(frozen=True)
class Cylinder:
    """A vertical capped cylinder: axis through ``(x, y)``, from height ``z0`` to ``z1``."""

    x: float
    y: float
    z0: float
    z1: float
    radius: float
    arc_length: float | None = None


@dataclass(frozen=True)
class Motion:
    """How a solid's centre moves with scene time t: ``center(t) = center(0) + offset(t) - offset(0)``.

    ``offset(t) = line * (1 - cos a) / 2 + radius * (cos a, sin a, 0)`` with ``a = omega * t + phase``: a
    smooth back-and-forth along ``line`` (end to end in pi / omega time units), or a horizontal circle.
    """

    line: Vec3 = (0.0, 0.0, 0.0)
    radius: float = 0.0
    omega: float = 0.0
    phase: float = 0.0


@dataclass
class Hits:
    """Nearest hits of (B, N) rays: depth t (0: miss), ids (-1: miss), normal (B, N, 3), uv (B, N, 2) in m."""

    depth: torch.Tensor
    ids: torch.Tensor
    normal: torch.Tensor
    uv: torch.Tensor


# For a face whose normal is along axis k, the two in-plane axes used as (u, v): vertical faces get v = z.
_OTHER_AXES = ((1, 2), (0, 2), (0, 1))


# Rays parallel to a plane divide by zero on purpose: IEEE +-inf makes the slab / plane tests come out right,
# and the measure-zero 0/0 = NaN case (origin exactly on the plane) fails every comparison, i.e. a miss.
#
# Bit-exact repeatability: a pixel must not depend on the other pixels or frames in its batch (a moving
# object elsewhere changes how hits are packed), so casting and shading use only exactly rounded element-wise
# ops (no matmul kernels, whose rounding may depend on the layout); the transcendental ones (atan2, asin),
# whose vectorised and scalar code paths may differ in the last bit, run in float64, rounded to float32.


def _dot3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot product over a last axis of size 3 as explicit element-wise ops (no layout-dependent kernels)."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def _intersect_quads(o, d, lo, hi, axis, other):
    """o (B, 3), d (B, N, 3); lo, hi (Q, 3); axis (Q,), other (Q, 2) long -> t (B, N, Q)."""
    pos = lo.gather(1, axis[:, None])[:, 0]
    t = (pos - o[:, axis][:, None, :]) / d[..., axis]
    p = o[:, other][:, None] + t[..., None] * d[..., other]  # (B, N, Q, 2) in-plane coordinates of the hit
    lo_o, hi_o = lo.gather(1, other), hi.gather(1, other)
    inside = ((p >= lo_o - _TOL) & (p <= hi_o + _TOL)).all(-1)
    return torch.where(inside & (t > EPS), t, torch.full_like(t, math.inf))


def _intersect_boxes(o, d, center, half, cos, sin):
    """Slab test in each box's frame. o (B, 3), d (B, N, 3); center (B, P, 3), half (P, 3), cos/sin (P,)."""
    rel = o[:, None, :] - center
    o_local = (cos * rel[..., 0] + sin * rel[..., 1], -sin * rel[..., 0] + cos * rel[..., 1], rel[..., 2])
    dx, dy, dz = d[..., 0:1], d[..., 1:2], d[..., 2:3]
    d_local = (dx * cos + dy * sin, -dx * sin + dy * cos, dz)
    t_near = t_far = None
    for k in range(3):
        inv = 1.0 / d_local[k]
        ok = o_local[k][:, None, :]
        t1 = (-half[:, k] - ok) * inv
        t2 = (half[:, k] - ok) * inv
        lo_k, hi_k = torch.minimum(t1, t2), torch.maximum(t1, t2)
        t_near = lo_k if t_near is None else torch.maximum(t_near, lo_k)
        t_far = hi_k if t_far is None else torch.minimum(t_far, hi_k)
    hit = (t_near <= t_far) & (t_near > EPS)
    return torch.where(hit, t_near, torch.full_like(t_near, math.inf))


def _intersect_spheres(o, d, center, radius):
    """o (B, 3), d (B, N, 3); center (B, P, 3), radius (P,) -> t (B, N, P)."""
    oc = o[:, None, :] - center
    b = _dot3(d[:, :, None, :], oc[:, None, :, :])
    c = _dot3(oc, oc)[:, None, :] - radius * radius
    a = _dot3(d, d)[..., None]
    disc = b * b - a * c
    t = (-b - disc.clamp(min=0.0).sqrt()) / a
    return torch.where((disc > 0) & (t > EPS), t, torch.full_like(t, math.inf))


def _intersect_cylinders(o, d, xy, z0, z1, radius):
    """Side (2-D quadratic) and the one cap a ray can enter it through.

    o (B, 3), d (B, N, 3); xy (P, 2), z0, z1, radius (P,) -> t (B, N, P).
    """
    ox, oy, oz = (o[:, 0:1] - xy[:, 0])[:, None], (o[:, 1:2] - xy[:, 1])[:, None], o[:, None, 2:3]
    dx, dy, dz = d[..., 0:1], d[..., 1:2], d[..., 2:3]
    a = dx * dx + dy * dy
    b = dx * ox + dy * oy
    c = ox * ox + oy * oy - radius * radius
    disc = b * b - a * c
    t_side = (-b - disc.clamp(min=0.0).sqrt()) / a.clamp(min=1e-12)
    z = oz + t_side * dz
    side_ok = (disc > 0) & (t_side > EPS) & (z >= z0) & (z <= z1)
    z_cap = torch.where(dz < 0, z1, z0)
    t_cap = (z_cap - oz) / dz
    hx, hy = ox + t_cap * dx, oy + t_cap * dy
    cap_ok = (t_cap > EPS) & (hx * hx + hy * hy <= radius * radius)
    inf = torch.full_like(t_side, math.inf)
    return torch.minimum(torch.where(side_ok, t_side, inf), torch.where(cap_ok, t_cap, inf))


def _box_surface(p, center, half, cos, sin):
    """Outward normals and face uv of M hit points. p, center, half (M, 3); cos, sin (M,)."""
    rel = p - center
    x, y = rel[:, 0], rel[:, 1]
    local = torch.stack([cos * x + sin * y, -sin * x + cos * y, rel[:, 2]], -1)
    face = (local.abs() / half).argmax(-1)  # the axis whose slab the point lies on
    sign = torch.where(local.gather(1, face[:, None]) < 0, -1.0, 1.0)
    n = torch.zeros_like(local).scatter(1, face[:, None], sign)
    normal = torch.stack([cos * n[:, 0] - sin * n[:, 1], sin * n[:, 0] + cos * n[:, 1], n[:, 2]], -1)
    other = torch.tensor(_OTHER_AXES, device=p.device)[face]
    uv = local.gather(1, other)
    # Offset each of the six faces so opposite faces do not show the same patch of texture.
    uv[:, 0] += (2 * face + (sign[:, 0] > 0)).to(uv.dtype) * 0.731
    return normal, uv


def _sphere_surface(p, center, radius, arc):
    rel = p - center
    n = rel / _dot3(rel, rel).sqrt().clamp(min=1e-12)[:, None]
    lon = torch.atan2(n[:, 1].double(), n[:, 0].double()).float()
    lat = torch.asin(n[:, 2].double().clamp(-1.0, 1.0)).float()
    return n, torch.stack([lon * (arc / (2 * math.pi)), lat * radius], -1)


def _cylinder_surface(p, xy, z0, z1, radius, arc):
    lx, ly, z = p[:, 0] - xy[:, 0], p[:, 1] - xy[:, 1], p[:, 2]
    rho = torch.sqrt(lx * lx + ly * ly).clamp(min=1e-12)
    to_cap = torch.minimum((z - z0).abs(), (z - z1).abs())
    on_cap = to_cap < (rho - radius).abs()
    zeros = torch.zeros_like(z)
    cap_n = torch.stack([zeros, zeros, torch.where((z - z1).abs() < (z - z0).abs(), 1.0, -1.0)], -1)
    side_n = torch.stack([lx / rho, ly / rho, zeros], -1)
    normal = torch.where(on_cap[:, None], cap_n, side_n)
    angle = torch.atan2(ly.double(), lx.double()).float()
    side_uv = torch.stack([angle * (arc / (2 * math.pi)), z], -1)
    uv = torch.where(on_cap[:, None], torch.stack([lx, ly], -1), side_uv)
    return normal, uv


def _arc(shape) -> float:
    return shape.arc_length if shape.arc_length is not None else 2 * math.pi * shape.radius


class ShapeSet:
    """The shapes of one scene packed per kind into tensors, cast against in one vectorised pass.

    Args:
        shapes: one ``Quad`` / ``Box`` / ``Sphere`` / ``Cylinder`` per object; ``ids`` gives its object id.
        motions: per shape, a ``Motion`` (boxes and spheres only) or None for a static shape.
    """

    _KINDS = (Quad, Box, Sphere, Cylinder)

    def __init__(self, shapes: Sequence, ids: Sequence[int], motions: Sequence[Motion | None]):
        if not len(shapes) == len(ids) == len(motions):
            raise ValueError(f"shapes, ids, motions: expected equal lengths, got {len(shapes)}, {len(ids)}, "
                             f"{len(motions)}")
        entries = list(zip(shapes, ids, motions, strict=True))
        self._groups = {kind: [e for e in entries if type(e[0]) is kind] for kind in self._KINDS}
        for s, _, m in entries:
            if type(s) not in self._KINDS:
                raise ValueError(f"shapes: expected Quad, Box, Sphere or Cylinder, got {type(s).__name__}")
            if m is not None and not isinstance(s, (Box, Sphere)):
                raise ValueError(f"motions: only boxes and spheres can move, got a moving {type(s).__name__}")
        f = torch.float32
        q, b, s, c = (self._groups[k] for k in self._KINDS)
        self.t = {
            "quad_lo": torch.tensor([x.lo for x, _, _ in q], dtype=f).reshape(-1, 3),
            "quad_hi": torch.tensor([x.hi for x, _, _ in q], dtype=f).reshape(-1, 3),
            "quad_normal": torch.tensor([x.normal for x, _, _ in q], dtype=f).reshape(-1, 3),
            "quad_axis": torch.tensor([x.axis for x, _, _ in q], dtype=torch.long),
            "box_half": torch.tensor([x.half for x, _, _ in b], dtype=f).reshape(-1, 3),
            "box_cos": torch.tensor([math.cos(x.yaw) for x, _, _ in b], dtype=f),
            "box_sin": torch.tensor([math.sin(x.yaw) for x, _, _ in b], dtype=f),
            "sphere_radius": torch.tensor([x.radius for x, _, _ in s], dtype=f),
            "sphere_arc": torch.tensor([_arc(x) for x, _, _ in s], dtype=f),
            "cyl_xy": torch.tensor([(x.x, x.y) for x, _, _ in c], dtype=f).reshape(-1, 2),
            "cyl_z0": torch.tensor([x.z0 for x, _, _ in c], dtype=f),
            "cyl_z1": torch.tensor([x.z1 for x, _, _ in c], dtype=f),
            "cyl_radius": torch.tensor([x.radius for x, _, _ in c], dtype=f),
            "cyl_arc": torch.tensor([_arc(x) for x, _, _ in c], dtype=f),
            # Column order of the t matrix: quads, boxes, spheres, cylinders.
            "col_ids": torch.tensor([e[1] for k in self._KINDS for e in self._groups[k]], dtype=torch.long),
        }
        self.t["quad_other"] = torch.tensor(_OTHER_AXES, dtype=torch.long)[self.t["quad_axis"]].reshape(-1, 2)
        for name, group in (("box", b), ("sphere", s)):
            rest = [m or Motion() for _, _, m in group]
            self.t[f"{name}_c0"] = torch.tensor([x.center for x, _, _ in group], dtype=f).reshape(-1, 3)
            self.t[f"{name}_line"] = torch.tensor([m.line for m in rest], dtype=f).reshape(-1, 3)
            self.t[f"{name}_circle"] = torch.tensor([m.radius for m in rest], dtype=f)
            self.t[f"{name}_omega"] = torch.tensor([m.omega for m in rest], dtype=f)
            self.t[f"{name}_phase"] = torch.tensor([m.phase for m in rest], dtype=f)
        self.counts = [len(self._groups[k]) for k in self._KINDS]

    def to(self, device) -> ShapeSet:
        out = object.__new__(ShapeSet)
        out._groups, out.counts = self._groups, self.counts
        out.t = {k: v.to(device) for k, v in self.t.items()}
        return out

    def centers(self, name: str, times: torch.Tensor) -> torch.Tensor:
        """(B, P, 3) centres of the ``"box"`` or ``"sphere"`` group at scene ``times`` (B,)."""
        t = self.t

        def offset(a):  # a: (B, P) motion angle
            ring = torch.stack([torch.cos(a), torch.sin(a), torch.zeros_like(a)], -1)
            swing = ((1 - torch.cos(a)) / 2)[..., None]
            return t[f"{name}_line"] * swing + t[f"{name}_circle"][:, None] * ring

        a = times[:, None] * t[f"{name}_omega"] + t[f"{name}_phase"]
        return t[f"{name}_c0"] + offset(a) - offset(t[f"{name}_phase"].expand_as(a))

    def cast(self, origins: torch.Tensor, dirs: torch.Tensor, times: torch.Tensor) -> Hits:
        """Nearest hits of rays ``origins`` (B, 3) + t ``dirs`` (B, N, 3) at scene ``times`` (B,)."""
        t, (nq, nb, ns, nc) = self.t, self.counts
        B, N = dirs.shape[:2]
        cols, box_c, sph_c = [], None, None
        o, d = origins, dirs
        if nq:
            cols.append(_intersect_quads(o, d, t["quad_lo"], t["quad_hi"], t["quad_axis"], t["quad_other"]))
        if nb:
            box_c = self.centers("box", times)
            cols.append(_intersect_boxes(origins, dirs, box_c, t["box_half"], t["box_cos"], t["box_sin"]))
        if ns:
            sph_c = self.centers("sphere", times)
            cols.append(_intersect_spheres(origins, dirs, sph_c, t["sphere_radius"]))
        if nc:
            cols.append(_intersect_cylinders(o, d, t["cyl_xy"], t["cyl_z0"], t["cyl_z1"], t["cyl_radius"]))
        normal = dirs.new_zeros(B, N, 3)
        uv = dirs.new_zeros(B, N, 2)
        if not cols:
            return Hits(dirs.new_zeros(B, N), torch.full((B, N), -1, dtype=torch.long, device=dirs.device),
                        normal, uv)
        depth, col = torch.cat(cols, -1).min(-1)
        hit = torch.isfinite(depth)
        depth = torch.where(hit, depth, torch.zeros_like(depth))
        ids = torch.where(hit, t["col_ids"][col], -1)
        points = origins[:, None, :] + depth[..., None] * dirs
        frame = torch.arange(B, device=dirs.device)[:, None].expand(B, N)

        start = 0
        for kind, count in zip(self._KINDS, self.counts, strict=True):
            m = hit & (col >= start) & (col < start + count)
            if count and bool(m.any()):
                j, p, b = col[m] - start, points[m], frame[m]
                if kind is Quad:
                    n_, uv_ = t["quad_normal"][j], p.gather(1, t["quad_other"][j])
                elif kind is Box:
                    n_, uv_ = _box_surface(p, box_c[b, j], t["box_half"][j], t["box_cos"][j], t["box_sin"][j])
                elif kind is Sphere:
                    n_, uv_ = _sphere_surface(p, sph_c[b, j], t["sphere_radius"][j], t["sphere_arc"][j])
                else:
                    n_, uv_ = _cylinder_surface(p, t["cyl_xy"][j], t["cyl_z0"][j], t["cyl_z1"][j],
                                                t["cyl_radius"][j], t["cyl_arc"][j])
                normal[m], uv[m] = n_, uv_
            start += count
        return Hits(depth, ids, normal, uv)
