"""Per-frame image, depth and camera-following metrics for the revisit benchmark.

Conventions (as everywhere in worldmem, see docs/conventions.md):

- frames are ``(T, 3, H, W)`` float in [0, 1]; every metric is computed per frame and returned as a ``(T,)``
  float tensor (``(T - 1,)`` for :func:`warp_consistency`), so callers can average over revisit frames,
  plot drift or aggregate over scenes as they need;
- depth is z-depth ``(T, 1, H, W)`` in scene units, 0 = unknown;
- masks are ``(T, 1, H, W)`` bool (or 0/1), True = pixel counts;
- a frame with no pixel to score (empty mask, no valid depth) gets NaN, never a made-up number; aggregate
  with ``torch.nanmean``.

PSNR is the library's (:func:`worldmem.metrics.psnr`, re-exported here with :data:`PSNR_MAX_DB`): per
frame, data range 1, capped at 100 dB. SSIM is torchmetrics' SSIM map (gaussian window 11, sigma 1.5,
``k1 = 0.01``, ``k2 = 0.03``, data range 1) averaged without its 5-pixel border, which agrees with
``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1, channel_axis=0)``.
torchmetrics' image metrics used here need no torchvision; only its LPIPS does (see :mod:`eval.lpips` instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from worldmem.geometry import Cameras, render_points
from worldmem.metrics import PSNR_MAX_DB, as_frames, psnr
from worldmem.utils.checks import as_float_tensor, check_finite, check_mask, check_shape

__all__ = ["PSNR_MAX_DB", "psnr", "ssim", "depth_abs_rel", "sample_at_pixels", "warp_consistency", "drift_curve"]


def ssim(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Structural similarity per frame (torchmetrics: gaussian window 11, sigma 1.5, data range 1).

    SSIM is averaged over channels and over the pixels whose 11 x 11 window lies inside the image (a 5-pixel
    border is dropped, as scikit-image does; torchmetrics' own mean would include it), so frames must be at
    least 11 x 11.

    Args:
        pred: (T, 3, H, W) float in [0, 1].
        target: (T, 3, H, W) float in [0, 1].

    Returns:
        (T,) float32 SSIM in [-1, 1] (1 = identical).
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    p = as_frames("pred", pred)
    t = as_frames("target", target, like=p)
    if min(p.shape[-2:]) < 11:
        raise ValueError(f"pred: expected frames of at least 11 x 11 pixels for SSIM, got {tuple(p.shape[-2:])}")
    if p.shape[0] == 0:
        return torch.zeros(0)
    _, ssim_map = structural_similarity_index_measure(
        p.double(), t.double(), gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=1.0,
        k1=0.01, k2=0.03, reduction="none", return_full_image=True,
    )
    # torchmetrics averages over the whole (reflect-padded) image; drop the border as skimage and the original
    # SSIM code do, so only windows fully inside the image count.
    border = 5
    return ssim_map[..., border:-border, border:-border].mean(dim=(1, 2, 3)).float()


def depth_abs_rel(pred_depth: torch.Tensor, gt_depth: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute relative depth error per frame, ``mean(|pred - gt| / gt)``.

    Args:
        pred_depth: (T, 1, H, W) predicted z-depth (the generated depth).
        gt_depth: (T, 1, H, W) ground-truth z-depth, 0 = unknown (such pixels never count).
        valid: optional (T, 1, H, W) bool restricting the pixels further (e.g. static pixels only).

    Returns:
        (T,) float32 AbsRel; NaN for a frame with no valid pixel.
    """
    p = as_float_tensor("pred_depth", pred_depth)
    check_shape("pred_depth", p, ("T", 1, "H", "W"))
    check_finite("pred_depth", p)
    g = as_float_tensor("gt_depth", gt_depth)
    check_shape("gt_depth", g, tuple(p.shape))
    check_finite("gt_depth", g)
    ok = g > 0
    if valid is not None:
        ok = ok & check_mask("valid", valid, p.shape[0], p.shape[2], p.shape[3])
    rel = torch.where(ok, (p.double() - g.double()).abs() / g.double().clamp_min(1e-12), torch.zeros((), dtype=torch.float64))
    return (rel.flatten(1).sum(1) / ok.flatten(1).sum(1)).float()


def sample_at_pixels(image: torch.Tensor, uv: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``image`` (1, C, H, W) sampled bilinearly at the pixel coordinates ``uv`` (..., height * width, 2), given
    in ``image``'s pixels (centres at +0.5, as ``Cameras.project`` returns them); (1, C, height, width).
    Coordinates outside the image take the border's colour (callers mask them)."""
    h, w = image.shape[-2:]
    # grid_sample with align_corners=False puts pixel centres at +0.5, as our convention does.
    grid = torch.stack([uv[..., 0] / w * 2.0 - 1.0, uv[..., 1] / h * 2.0 - 1.0], dim=-1).reshape(1, height, width, 2)
    return torch.nn.functional.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="border",
                                           align_corners=False)


def warp_consistency(frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras, radius_px: float = 0.5) -> torch.Tensor:
    """Camera-following consistency: PSNR of frame t warped into camera t + 1, on the pixels it covers.

    How frame t is warped (forward visibility, backward colour, so the colours are sampled with sub-pixel
    accuracy):

    1. every pixel of frame t with depth > 0 is unprojected with camera t and splatted into camera t + 1 with
       :func:`worldmem.geometry.render_points` (z-buffered: the nearest point wins, so occluded surfaces do
       not show); this gives the covered pixels and their warped depth;
    2. each covered pixel of t + 1 is lifted with that depth, projected into camera t, and frame t is sampled
       there bilinearly;
    3. the warped image is compared with frame t + 1 by :func:`psnr` on the covered pixels.

    A generator that follows the commanded cameras (and predicts sensible depth) scores high; one that ignores
    them scores low, because its frame t + 1 does not show what camera t + 1 should see of frame t.

    The score of the ground-truth frames is the ceiling to compare against: frames with aliased high-frequency
    texture (the built-in synthetic world at 32 px) reach only ~20-30 dB even with exact depth and cameras,
    because sub-pixel motion changes what each pixel samples; smooth content reaches > 30 dB. Frames from the
    wrong cameras score ~15 dB on the built-in world.

    Args:
        frames: (T, 3, H, W) float in [0, 1], e.g. the generated frames.
        depth: (T, 1, H, W) z-depth for ``frames`` (e.g. the generated depth); 0 = unknown, not warped.
        cameras: :class:`Cameras` with batch shape (T,) at the frames' size (the commanded cameras).
        radius_px: each point is splatted as a disc of ``radius_px`` source pixels (in world units
            ``radius_px * depth / f``). Larger values close the pinholes of magnified surfaces but fatten
            foreground silhouettes; uncovered pixels are simply not scored.

    Returns:
        (T - 1,) float32 PSNR in dB; entry t scores the pair (t, t + 1); NaN where nothing is covered.
    """
    f = as_frames("frames", frames)
    num, _, h, w = f.shape
    d = as_float_tensor("depth", depth)
    check_shape("depth", d, (num, 1, h, w))
    check_finite("depth", d)
    if not isinstance(cameras, Cameras) or tuple(cameras.batch_shape) != (num,) or (cameras.height, cameras.width) != (h, w):
        if isinstance(cameras, Cameras):
            got = f"batch shape {tuple(cameras.batch_shape)}, size {(cameras.height, cameras.width)}"
        else:
            got = type(cameras).__name__
        raise ValueError(f"cameras: expected Cameras with batch shape ({num},) and size {(h, w)}, got {got}")
    if num < 2:
        return torch.zeros(0)
    points = cameras.unproject(d)  # (T, H, W, 3)
    focal = 0.5 * (cameras.K[:, 0, 0] + cameras.K[:, 1, 1])
    out = torch.empty(num - 1)
    for t in range(num - 1):
        keep = d[t, 0] > 0
        if not bool(keep.any()):
            out[t] = math.nan
            continue
        src, dst = cameras[t : t + 1], cameras[t + 1 : t + 2]
        z = d[t, 0][keep]
        splat = render_points(points[t][keep], z[:, None], dst, radius=radius_px * z / focal[t])
        lifted = dst.unproject(splat.depth)  # (1, H, W, 3); uncovered pixels lift to the centre, masked below
        uv, _ = src.project(lifted.reshape(1, h * w, 3))
        warped = sample_at_pixels(f[t : t + 1], uv, h, w)
        out[t] = psnr(warped.clamp(0.0, 1.0), f[t + 1 : t + 2], mask=splat.mask)[0]
    return out


def drift_curve(curves: Sequence[Sequence[float] | torch.Tensor]) -> torch.Tensor:
    """Mean of per-frame curves at each frame index: PSNR as a function of time, averaged over runs.

    For one video the drift curve is simply ``psnr(pred, target)``; this averages several such curves (one per
    scene or seed) that may differ in length, ignoring NaN and ``None`` entries.

    Args:
        curves: a sequence of 1-D per-frame values (e.g. ``psnr_per_frame`` lists from results.json).

    Returns:
        (L,) float32, L the longest curve; entry t is the mean of the curves that have a finite value at t
        (NaN if none has).
    """
    rows = []
    for k, c in enumerate(curves):
        if isinstance(c, torch.Tensor):
            if c.dim() != 1:
                raise ValueError(f"curves[{k}]: expected a 1-D sequence, got shape {tuple(c.shape)}")
            c = c.tolist()
        vals = [math.nan if v is None else float(v) for v in c]
        rows.append(torch.tensor(vals, dtype=torch.float64))
    if not rows:
        raise ValueError("curves: expected at least one per-frame curve")
    length = max(len(r) for r in rows)
    table = torch.full((len(rows), length), math.nan, dtype=torch.float64)
    for k, r in enumerate(rows):
        table[k, : len(r)] = r
    table = torch.where(torch.isfinite(table), table, torch.full_like(table, math.nan))
    return torch.nanmean(table, dim=0).float()
