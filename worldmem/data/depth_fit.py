"""The scale (and shift) of monocular depth, fitted to a clip's cameras.

A monocular depth model gives depth, or disparity, up to an unknown affine map, and an RGB-only clip's cameras
(RealEstate10K's SLAM cameras, say) have their own arbitrary scale. The cameras fix the map: where the camera
moves, a pixel's match in another frame lies on its epipolar line at a place set by its depth in the cameras'
units. :func:`fit_depth_affine`

1. picks reference frames and, for each, a near and a far partner frame with baseline (:func:`select_pairs`);
2. triangulates the references' textured pixels by a plane sweep along the epipolar lines, its range set by the
   near partner and its precision by the far one (:func:`triangulate`, :mod:`worldmem.data.plane_sweep`);
3. fits the map from the estimator's output to the triangulated inverse depth by robust least squares (rows
   beyond 3 robust standard deviations, such as occlusions and mismatches, are dropped and the fit repeated),
   with residuals in pixels of parallax, the unit in which matching errors are alike: ``depth = scale * output
   + shift`` for depth models, ``1 / depth = scale * output + shift`` for disparity models (Gauss-Newton steps
   for the former, which is not linear in inverse depth).

The output enters as its 5x5 median (the window the matching cost sums over), so that what is left of its
pixel noise shrinks the slope little (a noisy regressor shrinks a least-squares slope: ``docs/data.md`` shows
the remaining bias at 10 % noise); the triangulation's noise is in the residual, where it does not. Everything
is deterministic and takes under a second for a 24-frame 64x64 clip on one CPU thread.

A fit is *unreliable*, with a one-line reason, when the pairs show too little parallax (the camera only turns),
too few pixels triangulate, fitted and triangulated depth differ by more than ``max_residual`` (median relative
difference), the output explains the triangulated depth no better than a constant would (the residual is above
``max_residual_ratio`` times a constant depth's: an output unrelated to depth fits a scene of narrow depth range
that way) or the map makes more than ``max_nonpositive`` of the pixels non-positive whose output lies in the
range it was fitted on (beyond it, e.g. a disparity model's sky, non-positive depth is extrapolation: unknown).
The scale and the shift trade off against each other when the clip's depths span a narrow range: the depth is
then right to better than the scale is.

Conventions: cameras and depth as in :mod:`worldmem.geometry.cameras` (OpenCV axes, ``cam_from_world``, ``K``
in pixels, pixel centres at integer + 0.5, z-depth, 0 = unknown); a non-positive estimator output is unknown.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from worldmem.data.plane_sweep import FitSettings, Triangulation, select_pairs, triangulate, triangulate_clip, working_size
from worldmem.geometry.cameras import Cameras

__all__ = ["DepthFit", "FitSettings", "Triangulation", "fit_depth_affine", "select_pairs", "triangulate",
           "triangulate_clip"]  # the triangulation's names re-exported: one import for the whole fit

KINDS = ("depth", "disparity")


@dataclass(frozen=True)
class DepthFit:
    """The fitted map from an estimator's output to depth in the cameras' units.

    ``kind == "depth"``: ``depth = scale * output + shift``; ``"disparity"``: ``depth = 1 / (scale * output + shift)``.
    ``residual``: median relative difference of fitted and triangulated depth (``constant_residual``: the same
    for the best constant depth, what an output unrelated to depth achieves); ``pairs_used``: frame pairs that
    contributed; ``points``: triangulated pixels; ``parallax_px``: their median parallax; ``reliable`` is False
    with a one-line ``reason`` when the cameras do not determine the map (see the module docstring).
    """

    kind: str
    scale: float
    shift: float
    residual: float
    pairs_used: int
    points: int
    parallax_px: float
    reliable: bool
    reason: str | None = None
    constant_residual: float = float("nan")

    def apply(self, output: torch.Tensor) -> torch.Tensor:
        """Depth (same shape as ``output``, e.g. (T, 1, H, W)); unknown (<= 0) outputs and pixels the map
        makes non-positive are 0."""
        x = output.double()
        lin = self.scale * x + self.shift
        depth = lin if self.kind == "depth" else torch.where(lin > 0, 1.0 / lin.clamp(min=1e-300), lin)
        keep = (x > 0) & (lin > 0) & torch.isfinite(depth)
        return torch.where(keep, depth, torch.zeros_like(depth)).to(output.dtype)

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in asdict(self).items()}


def _check_inputs(output, frames, cameras, kind) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames: expected shape (T, 3, H, W), got {tuple(frames.shape)}")
    t, _, h, w = frames.shape
    if tuple(output.shape) != (t, 1, h, w):
        raise ValueError(f"output: expected shape {(t, 1, h, w)} (the frames'), got {tuple(output.shape)}")
    if tuple(cameras.batch_shape) != (t,) or (cameras.height, cameras.width) != (h, w):
        raise ValueError(f"cameras: expected {t} cameras for {h}x{w} images, got {tuple(cameras.batch_shape)} "
                         f"for {cameras.height}x{cameras.width}")


def _median5(output: torch.Tensor) -> torch.Tensor:
    """(T, 1, H, W) -> the 5x5 median of each pixel's window; 0 (unknown) where the window is not all known."""
    t, _, h, w = output.shape
    win = F.unfold(F.pad(output.double(), (2, 2, 2, 2)), 5).reshape(t, 25, h, w)
    med = win.median(1).values[:, None]
    return torch.where((win > 0).all(1, keepdim=True), med, torch.zeros_like(med))


def _lstsq2(rows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Least squares of (M, 2) ``rows`` against (M,) ``target`` by the 2x2 normal equations, in float64 sums:
    bit for bit the same wherever the tensors lie in memory (MKL's ``lstsq`` is not: its last bits follow the
    data's alignment, which would make curation's bytes differ between runs)."""
    a, b = rows[:, 0], rows[:, 1]
    saa, sab, sbb, sat, sbt = (a * a).sum(), (a * b).sum(), (b * b).sum(), (a * target).sum(), (b * target).sum()
    det = saa * sbb - sab * sab
    if not float(det.abs()) > 1e-300:
        return torch.full((2,), float("nan"), dtype=rows.dtype)
    return torch.stack([(sbb * sat - sab * sbt) / det, (saa * sbt - sab * sat) / det])


def _robust_lstsq(rows: torch.Tensor, target: torch.Tensor, iterations: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Least squares ``rows @ x = target`` refitted on the rows within 3 robust standard deviations
    (1.4826 x MAD) of the last fit; returns (x (2,), bool (M,) of the rows kept)."""
    keep = torch.ones_like(target, dtype=torch.bool)
    x = _lstsq2(rows, target)
    for _ in range(iterations):
        residual = rows[:, 0] * x[0] + rows[:, 1] * x[1] - target  # not a matmul: MKL's, too, varies
        mad = (residual - residual.median()).abs().median()
        keep = residual.abs() <= 3.0 * 1.4826 * mad.clamp(min=1e-12)
        if int(keep.sum()) < 8:
            break
        x = _lstsq2(rows[keep], target[keep])
    return x, keep


def _fit_map(y: torch.Tensor, rho: torch.Tensor, rho_px: torch.Tensor, kind: str) -> tuple[float, float, torch.Tensor]:
    """(scale, shift, bool (M,) of the rows the last fit kept) with the map's inverse depth closest to the
    triangulated ``rho`` in pixels of parallax (``rho / rho_px``, ``rho_px`` the inverse depth per pixel of
    parallax: the matching's own error scale), robustly. All inputs (M,).

    Disparity models are linear in inverse depth (one robust least squares); depth models, ``1 / (scale * y +
    shift)``, start from the linear fit of ``(scale * y + shift) * rho = 1`` and take Gauss-Newton steps,
    each on the rows within 3 robust standard deviations of the last fit.
    """
    w = 1.0 / rho_px
    ones = torch.ones_like(y)
    if kind == "disparity":
        (scale, shift), keep = _robust_lstsq(torch.stack([y, ones], 1) * w[:, None], rho * w)
        return float(scale), float(shift), keep
    params, keep = _robust_lstsq(torch.stack([y * rho, rho], 1) * w[:, None], w)
    for _ in range(8):
        lin = params[0] * y + params[1]
        if not bool((lin > 0).any()):
            break
        f = torch.where(lin > 0, 1.0 / lin.clamp(min=1e-300), torch.zeros_like(lin))
        residual = (rho - f) * w
        jac = -(f * f)[:, None] * torch.stack([y, ones], 1) * w[:, None]
        mad = (residual - residual.median()).abs().median()
        kept = (lin > 0) & (residual.abs() <= 3.0 * 1.4826 * mad.clamp(min=1e-12))
        if int(kept.sum()) < 8:
            break
        keep = kept
        params = params + _lstsq2(jac[keep], residual[keep])
    return float(params[0]), float(params[1]), keep


def fit_depth_affine(output: torch.Tensor, frames: torch.Tensor, cameras: Cameras, kind: str = "depth",
                     settings: FitSettings | None = None, triangulation: Triangulation | None = None) -> DepthFit:
    """Fits the map from a depth estimator's ``output`` to depth in the units of ``cameras`` (module docstring).

    Args:
        output: (T, 1, H, W) the estimator's depth (``kind="depth"``) or disparity (``"disparity"``), any
            scale and shift; values <= 0 are unknown.
        frames: (T, 3, H, W) in [0, 1], the frames the output was predicted from.
        cameras: (T,) cameras for H x W images.
        settings: :class:`FitSettings` (default: the defaults).
        triangulation: :func:`triangulate_clip` of these frames and cameras with these settings, when several
            outputs are fitted to one clip (computed here otherwise).
    Returns:
        :class:`DepthFit`; ``reliable`` False (with ``reason``) when the cameras do not determine the map.
    """
    _check_inputs(output, frames, cameras, kind)
    settings = FitSettings() if settings is None else settings

    def failed(reason, **kw) -> DepthFit:
        values = {"scale": float("nan"), "shift": float("nan"), "residual": float("nan"), "pairs_used": 0,
                  "points": 0, "parallax_px": 0.0} | kw
        return DepthFit(kind=kind, reliable=False, reason=reason, **values)

    if not bool(torch.isfinite(output).all()):
        return failed("the estimator's output has NaN or inf values")
    tri = triangulate_clip(frames, cameras, settings) if triangulation is None else triangulation
    pairs = tri.triples
    size = working_size(*output.shape[-2:], settings)
    small = output if size == tuple(output.shape[-2:]) else F.interpolate(output, size=size, mode="nearest-exact")
    refs = tri.frame.unique()  # only the reference frames' windows (a long clip's all would take much memory)
    y_all = (_median5(small[refs])[:, 0].flatten(1)[torch.searchsorted(refs, tri.frame), tri.pixel] if refs.numel()
             else torch.zeros(0, dtype=torch.float64))
    keep = y_all > 0
    if not pairs:
        return failed("too little parallax: the camera does not move (pure rotation or a still camera)")
    used = int((torch.bincount(tri.triple[keep], minlength=len(pairs)) >= max(1, settings.min_points // 4)).sum())
    rho, y, parallax, rho_px = tri.inv_depth[keep], y_all[keep], tri.parallax[keep], tri.rho_px[keep]
    points = int(rho.numel())
    stats = {"pairs_used": used, "points": points, "parallax_px": float(parallax.median()) if points else 0.0}
    if points < settings.min_points or used < settings.min_pairs:
        return failed(f"too little parallax or texture: {points} pixels triangulated in {used} of {len(pairs)} "
                      f"frame pairs (expected >= {settings.min_points} in >= {settings.min_pairs})", **stats)
    scale, shift, inliers = _fit_map(y, rho, rho_px, kind)
    fit = DepthFit(kind=kind, scale=float(scale), shift=float(shift), residual=float("nan"), reliable=True, **stats)
    if not fit.scale > 0:
        return DepthFit(**(asdict(fit) | {"reliable": False, "reason": (
            "no increasing affine map fits the estimator's output to the triangulated depth")}))
    residual = float(((fit.apply(y) * rho) - 1.0).abs().median())
    constant = float((rho / rho.median() - 1.0).abs().median())
    fit = DepthFit(**(asdict(fit) | {"residual": residual, "constant_residual": constant}))
    # Non-positive depth counts against the fit inside the range of outputs it was fitted on (its inliers'); beyond (a
    # disparity model's sky, farther than anything triangulated) it is extrapolation and becomes unknown.
    inside = (output >= y[inliers].min()) & (output <= y[inliers].max()) if bool(inliers.any()) else output > 0
    bad = float((fit.apply(output)[inside] <= 0).double().mean()) if bool(inside.any()) else 1.0
    if not residual <= settings.max_residual:
        return DepthFit(**(asdict(fit) | {"reliable": False, "reason": (
            f"fitted and triangulated depth disagree: median relative difference {residual:.3f} > "
            f"{settings.max_residual}")}))
    if not residual <= settings.max_residual_ratio * constant:
        return DepthFit(**(asdict(fit) | {"reliable": False, "reason": (
            f"the estimator's output explains the triangulated depth no better than a constant: median relative "
            f"difference {residual:.3f}, a constant depth's {constant:.3f}")}))
    if bad > settings.max_nonpositive:
        return DepthFit(**(asdict(fit) | {"reliable": False, "reason": (
            f"non-positive depth after the fit on {100 * bad:.1f} % of the pixels in the fitted range (> "
            f"{100 * settings.max_nonpositive:g} %)")}))
    return fit
