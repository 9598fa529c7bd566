"""Multi-view triangulation by plane sweep along known cameras, for the depth scale fit (:mod:`.depth_fit`).

:func:`select_pairs` picks, for up to ``max_pairs`` reference frames spread over a clip, two partners within
``max_gap`` frames whose view turns by at most ``max_angle_deg``: the farthest, and the nearest of those at least a
tenth as far. :func:`triangulate` sweeps the reference against the near partner (``num_hypotheses`` inverse depths
spaced so that the match moves by equal pixel steps up to ``max_parallax`` of the image size, a 5x5 mean absolute
colour difference per hypothesis; the best kept where it is unique by a ratio test and inside the range, to
sub-hypothesis precision), then refines each match against the far partner at its half-pixel steps within the
near match's uncertainty: the near partner keeps the true match inside the sweep's range when the camera moves
fast, the far one's longer baseline makes it precise. :func:`triangulate_clip` does it for a clip, at most
``max_size`` pixels wide. Deterministic (fixed hypotheses, no sampling).

Conventions: :mod:`worldmem.geometry.cameras` (OpenCV axes, ``cam_from_world``, ``K`` in pixels, pixel centres at
integer + 0.5); inverse depth is 1 / z-depth in the cameras' units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.transforms import pixel_centers

__all__ = ["FitSettings", "Triangulation", "select_pairs", "triangulate", "triangulate_clip", "working_size"]


@dataclass(frozen=True)
class FitSettings:
    """Settings of the triangulation and of :func:`~worldmem.data.depth_fit.fit_depth_affine` (one
    place for both; the defaults suit 32-256 pixel frames)."""

    max_pairs: int = 16
    """At most this many frame pairs are triangulated (spread evenly over the clip)."""
    max_gap: int = 8
    """A frame's partner is at most this many frames away."""
    max_angle_deg: float = 40.0
    """... and its viewing direction differs by at most this angle."""
    num_hypotheses: int = 48
    """Inverse-depth hypotheses of the plane sweep."""
    max_parallax: float = 0.4
    """The sweep's largest parallax, as a fraction of the larger image side."""
    min_parallax_px: float = 1.5
    """Triangulated pixels need at least this parallax (pixels) to be used."""
    uniqueness: float = 0.6
    """A match is kept when its cost is below this fraction of the best cost elsewhere on its epipolar line."""
    min_texture: float = 0.01
    """A pixel is matched only when the grey values around it (5x5) have at least this standard deviation."""
    min_points: int = 200
    """Fewer triangulated pixels in all pairs together: unreliable."""
    min_pairs: int = 2
    """Fewer pairs with at least ``min_points // 4`` triangulated pixels: unreliable."""
    max_residual: float = 0.15
    """Median relative disagreement of fitted and triangulated depth above this: unreliable."""
    max_residual_ratio: float = 0.5
    """The residual above this fraction of the best constant depth's (median relative difference): unreliable."""
    max_nonpositive: float = 0.01
    """More than this fraction of the pixels within the fitted range of outputs non-positive after the fit:
    unreliable (beyond the range non-positive depth is extrapolation, e.g. the sky: unknown)."""
    max_size: int = 128
    """Larger frames are triangulated at this size (longer side; frames by area, the output by nearest pixel):
    the cost stays that of a small clip, the map is the same."""

    def __post_init__(self) -> None:
        for name in ("max_pairs", "max_gap", "num_hypotheses", "min_points", "min_pairs", "max_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {getattr(self, name)}")
        if self.num_hypotheses < 8:
            raise ValueError(f"num_hypotheses: expected >= 8, got {self.num_hypotheses}")
        for name in ("max_parallax", "uniqueness", "max_residual", "max_residual_ratio", "max_nonpositive"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}: expected a value in (0, 1], got {getattr(self, name)}")


def select_pairs(cameras: Cameras, settings: FitSettings = FitSettings()) -> list[tuple[int, int, int]]:
    """Frame triples (reference, near, far) to triangulate. ``cameras``: (T,).

    Partners are within ``max_gap`` frames of the reference, with a view turned by at most ``max_angle_deg`` and
    a camera centre elsewhere; ``far`` is the farthest from the reference, ``near`` the closest of those at least
    a tenth as far (the sweep's range is set by ``near``, so that the true match lies in it; ``far``'s longer
    baseline then refines it). At most ``max_pairs`` references, spread evenly over the clip; none when the
    camera does not move.
    """
    centers, forward = cameras.centers.double(), cameras.forward.double()
    t = centers.shape[0]
    cos_max = math.cos(math.radians(settings.max_angle_deg))
    triples = []
    for i in range(t):
        partners = [(float((centers[i] - centers[j]).norm()), j)
                    for j in range(max(0, i - settings.max_gap), min(t, i + settings.max_gap + 1))
                    if j != i and float(forward[i] @ forward[j]) >= cos_max]
        partners = [(dist, j) for dist, j in partners if dist > 0]
        if partners:
            far_dist, far = max(partners)
            near = min((dist, j) for dist, j in partners if dist >= 0.1 * far_dist)[1]
            triples.append((i, near, far))
    if len(triples) <= settings.max_pairs:
        return triples
    picks = torch.linspace(0, len(triples) - 1, settings.max_pairs).round().long().unique().tolist()
    return [triples[k] for k in picks]


def _box(x: torch.Tensor) -> torch.Tensor:
    """5x5 mean of (N, 1, H, W) over the window's part inside the image, by running sums (several times faster
    on one thread than ``avg_pool2d`` without padded counts or a convolution)."""
    def sums(t):
        c = F.pad(t, (3, 2, 3, 2)).cumsum(-1)
        c = (c[..., 5:] - c[..., :-5]).cumsum(-2)
        return c[..., 5:, :] - c[..., :-5, :]

    return sums(x) / sums(torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype))


def _epipolar(cameras: Cameras, h: int, w: int):
    """Frame i's pixel p at inverse depth rho lands in frame j at pi(a_p + rho * b): (a (3, HW), b (3,), the
    median parallax in pixels per unit inverse depth (0 when the centres coincide))."""
    rel = cameras.cam_from_world[1].double() @ cameras.world_from_cam[0].double()  # j_from_i
    k_i, k_j = cameras.K[0].double(), cameras.K[1].double()
    uv = pixel_centers(h, w, torch.float64, "cpu").reshape(-1, 2)
    rays = torch.linalg.inv(k_i) @ torch.cat([uv, torch.ones(h * w, 1, dtype=torch.float64)], 1).T  # (3, HW), z = 1
    a, b = k_j @ rel[:3, :3] @ rays, k_j @ rel[:3, 3]
    front = a[2] > 1e-9
    rate = ((b[:2, None] * a[2] - a[:2] * b[2]) / a[2].clamp(min=1e-9) ** 2).norm(dim=0)  # d pi / d rho at rho = 0
    rate_med = float(rate[front].median()) if bool(front.any()) else 0.0
    return a, b, (rate_med if math.isfinite(rate_med) else 0.0)


def _costs(image_i: torch.Tensor, image_j: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
           rho: torch.Tensor) -> torch.Tensor:
    """Plane-sweep cost volume (N, H, W) for inverse depths ``rho`` (N,): the 5x5 mean absolute colour difference
    of frame i and frame j warped to it; inf where the window leaves frame j."""
    n, (h, w) = rho.shape[0], image_i.shape[-2:]
    hom = a.float()[None] + rho.float()[:, None, None] * b.float()[None, :, None]  # (N, 3, HW)
    z = hom[:, 2]
    q = hom[:, :2] / z.clamp(min=1e-12)[:, None]
    grid = torch.stack([2 * q[:, 0] / w - 1, 2 * q[:, 1] / h - 1], -1).reshape(n, h, w, 2)
    inside = ((z > 1e-9) & (grid.abs() <= 1).all(-1).reshape(n, -1)).reshape(n, 1, h, w).float()
    warped = F.grid_sample(image_j.float()[None].expand(n, -1, -1, -1), grid, mode="bilinear",
                           padding_mode="border", align_corners=False)
    diff = (warped - image_i.float()[None]).abs().mean(1, keepdim=True)
    sums = _box(torch.cat([inside, diff * inside]))
    cover, total = sums[:n], sums[n:]
    cost = torch.where(cover > 0.999, total / cover.clamp(min=1e-6), torch.full_like(cover, float("inf")))
    return cost[:, 0]


def _best(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per pixel of a cost volume (N, H, W): (sub-hypothesis index (H, W) float64, best cost, whether the minimum
    is inside the range with finite neighbours), by equiangular (V-shaped) interpolation, which suits a sum of
    absolute differences better than a parabola (less pull towards whole hypotheses)."""
    n = cost.shape[0]
    best, k = cost.min(0)
    kc = k.clamp(1, n - 2)
    cm, cp = cost.gather(0, (kc - 1)[None])[0], cost.gather(0, (kc + 1)[None])[0]
    inner = (k > 0) & (k < n - 1) & torch.isfinite(best) & torch.isfinite(cm) & torch.isfinite(cp)
    rise = torch.maximum(cm, cp) - best
    delta = torch.where(inner & (rise > 1e-12), 0.5 * (cm - cp) / rise.clamp(min=1e-12), torch.zeros_like(rise))
    return kc.double() + delta.double().clamp(-0.5, 0.5), best, inner


def triangulate(frames: torch.Tensor, cameras: Cameras, i: int, near: int, far: int,
                settings: FitSettings = FitSettings()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inverse depth of frame i's textured pixels from frames ``near`` and ``far`` (see :func:`select_pairs`).

    The sweep against ``near`` covers parallax 0 to ``max_parallax`` of the image; its matches (unique by the
    ratio test, inside the range) are refined against ``far`` within their own uncertainty, at half-pixel steps
    of ``far``'s parallax.

    Args:
        frames: (T, 3, H, W) in [0, 1]; cameras: (T,).
    Returns:
        inverse depth (H, W) in the cameras' units, parallax (H, W) in pixels, inverse depth per pixel of
        parallax (H, W) (the measurement's error scale) and the bool (H, W) mask of triangulated pixels (>=
        ``min_parallax_px``); all 0 elsewhere.
    """
    h, w = frames.shape[-2:]
    zeros = torch.zeros(h, w, dtype=torch.float64)
    a1, b1, rate1 = _epipolar(cameras[[i, near]], h, w)
    if not rate1 > 0:
        return zeros, zeros, zeros, zeros.bool()
    n = settings.num_hypotheses
    step_px = settings.max_parallax * max(h, w) / (n - 1)
    cost = _costs(frames[i], frames[near], a1, b1, torch.arange(n, dtype=torch.float64) * (step_px / rate1))
    kf, best, ok = _best(cost)
    ks = torch.arange(n)[:, None, None]
    others = torch.where((ks - kf.round().long()[None]).abs() > 2, cost, torch.full_like(cost, float("inf"))).amin(0)
    grey = frames[i].float().mean(0, keepdim=True)[None]
    texture = (_box(grey ** 2) - _box(grey) ** 2).clamp(min=0).sqrt()[0, 0]
    ok &= (texture >= settings.min_texture) & (best < settings.uniqueness * others)
    rho, parallax, rho_px = kf * (step_px / rate1), kf * step_px, torch.full_like(zeros, 1.0 / rate1)
    a2, b2, rate2 = _epipolar(cameras[[i, far]], h, w)
    if far != near and rate2 > rate1 and bool(ok.any()):
        margin = 1.5 * step_px / rate1
        lo, hi = max(0.0, float(rho[ok].min()) - margin), float(rho[ok].max()) + margin
        count = min(256, math.ceil((hi - lo) * rate2 / 0.5) + 1)
        hyp = torch.linspace(lo, hi, count, dtype=torch.float64)
        spacing = float(hyp[1] - hyp[0])
        window = (hyp[:, None, None] - rho[None]).abs() <= margin + 2 * spacing
        cost2 = torch.where(window, _costs(frames[i], frames[far], a2, b2, hyp), torch.full_like(window, float("inf"),
                                                                                                  dtype=torch.float32))
        kf2, _, ok2 = _best(cost2)
        ok2 &= ok
        rho = torch.where(ok2, lo + kf2 * spacing, rho)
        parallax = torch.where(ok2, rho * rate2, parallax)
        rho_px = torch.where(ok2, 1.0 / rate2, rho_px)
    ok &= parallax >= settings.min_parallax_px
    return (torch.where(ok, rho, zeros), torch.where(ok, parallax, zeros), torch.where(ok, rho_px, zeros), ok)


@dataclass(frozen=True)
class Triangulation:
    """The triangulated pixels of a clip (:func:`triangulate_clip`), M of them, independent of any estimator.

    ``frame`` (M,) int64 reference frame, ``pixel`` (M,) int64 flat pixel index (row * W + column), ``triple``
    (M,) int64 which of the ``triples`` (from :func:`select_pairs`) it comes from, ``inv_depth`` (M,) in the
    cameras' units, ``parallax`` (M,) pixels, ``rho_px`` (M,) inverse depth per pixel of parallax.
    """

    triples: list
    frame: torch.Tensor
    pixel: torch.Tensor
    triple: torch.Tensor
    inv_depth: torch.Tensor
    parallax: torch.Tensor
    rho_px: torch.Tensor


def working_size(h: int, w: int, settings: FitSettings) -> tuple[int, int]:
    """The (height, width) a clip of h x w frames is triangulated at (longer side at most ``max_size``)."""
    s = min(1.0, settings.max_size / max(h, w))
    return max(8, round(h * s)), max(8, round(w * s))


def triangulate_clip(frames: torch.Tensor, cameras: Cameras, settings: FitSettings = FitSettings()) -> Triangulation:
    """:func:`triangulate` for every triple of :func:`select_pairs`. ``frames`` (T, 3, H, W), ``cameras`` (T,);
    frames larger than ``max_size`` are triangulated at that size (``pixel`` indexes the smaller image)."""
    size = working_size(*frames.shape[-2:], settings)
    if size != tuple(frames.shape[-2:]):
        frames = F.interpolate(frames.float(), size=size, mode="area")
        cameras = cameras.resize(*size)
    triples = select_pairs(cameras, settings)
    parts = []
    for k, (i, near, far) in enumerate(triples):
        rho, parallax, rho_px, ok = triangulate(frames, cameras, i, near, far, settings)
        pixel = ok.flatten().nonzero()[:, 0]
        parts.append((torch.full_like(pixel, i), pixel, torch.full_like(pixel, k), rho.flatten()[pixel],
                      parallax.flatten()[pixel], rho_px.flatten()[pixel]))
    if not parts:
        empty = torch.zeros(0, dtype=torch.long)
        return Triangulation(triples, empty, empty, empty, *[torch.zeros(0, dtype=torch.float64)] * 3)
    return Triangulation(triples, *[torch.cat(column) for column in zip(*parts, strict=True)])
