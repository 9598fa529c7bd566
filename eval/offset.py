"""The ``offset`` protocol: the way back is a parallel path, shifted sideways and turned, scored by reprojection.

Path (:func:`offset_return`): a retracing path (frame ``T - 1 - i`` has frame ``i``'s camera) whose return half
(frames ``t >= (T + 1) // 2``) is moved sideways by :data:`OFFSET_SHIFT` scene units (horizontally, at right
angles to the way out; clamped into the scene's free box) and turned by :data:`OFFSET_TURN_DEG` degrees of yaw
about world +z. Both ramp in linearly over the first :data:`OFFSET_RAMP` return frames (no camera jump), so no
return camera equals an outward one.

Pairs (:func:`offset_pairs`): each generated return frame j is paired with the outward frame i that sees most
of it (``argmax_i S[i, j]``, S the ground truth's covisibility matrix) among the generated outward frames
(``C <= i < (T + 1) // 2``) at least ``min_gap`` frames earlier (``j - i >= min_gap``); pairs with
``S[i, j] < min_covisibility`` are dropped.

Score (:func:`reprojection_psnr`): frame i warped into camera j and compared with frame j by PSNR on the valid
pixels. The warp goes through a depth map pair (the scene's true depth, or a model's own): every pixel of j
with depth ``D_j > 0`` is lifted with camera j, projected into camera i and frame i is sampled there
(bilinear). A pixel is valid when it lands inside image i in front of the camera and passes the **occlusion
test**: its depth in camera i agrees with ``D_i`` read there (nearest pixel) within :data:`OCCLUSION_REL_TOL`
relative (a surface hidden from i, or one that j sees and i sees something nearer in front of, fails).
"""

from __future__ import annotations

import math

import torch

from eval.metrics import sample_at_pixels
from worldmem.geometry.cameras import Cameras
from worldmem.metrics import finite_mean, psnr

__all__ = ["OFFSET_SHIFT", "OFFSET_TURN_DEG", "OFFSET_RAMP", "OCCLUSION_REL_TOL", "offset_return", "offset_pairs",
           "warp_into", "reprojection_psnr", "score_offset", "gap_closed"]

OFFSET_SHIFT = 0.4
"""Sideways shift of the way back, scene units (the synthetic scenes' free boxes are 4-9 units across)."""
OFFSET_TURN_DEG = 20.0
"""Yaw of the way back relative to the way out, degrees (about world +z)."""
OFFSET_RAMP = 4
"""The shift and turn grow linearly over this many return frames."""
OCCLUSION_REL_TOL = 0.03
"""A warped pixel is visible in the outward view when its depth there is within this fraction of that view's depth."""


def _rot_z(deg: float, dtype) -> torch.Tensor:
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]],
                        dtype=dtype)


def offset_return(cameras: Cameras, box=None, shift: float = OFFSET_SHIFT, turn_deg: float = OFFSET_TURN_DEG,
                  ramp: int = OFFSET_RAMP) -> Cameras:
    """``cameras`` (T,) with the return half moved sideways by ``shift`` and turned by ``turn_deg`` (module doc).

    The sideways direction is horizontal and at right angles to the way out (first camera to the turning
    point); for a path that does not move, at right angles to the first camera's view. ``box`` (2, 3): the
    free box the moved centres are clamped into (None: not clamped).
    """
    num = len(cameras)
    half = (num + 1) // 2
    wfc = cameras.world_from_cam.clone()
    centers = wfc[:, :3, 3]
    way = centers[half - 1] - centers[0]
    way[2] = 0
    if float(way.norm()) < 1e-6:
        way = wfc[0, :3, 2].clone()  # the first camera's optical axis (OpenCV +z)
        way[2] = 0
    way = way / way.norm().clamp_min(1e-12)
    side = torch.stack([-way[1], way[0], torch.zeros_like(way[0])])
    for t in range(half, num):
        w = min(1.0, (t - half + 1) / max(1, ramp))
        wfc[t, :3, :3] = _rot_z(w * turn_deg, wfc.dtype) @ wfc[t, :3, :3]
        c = wfc[t, :3, 3] + w * shift * side
        if box is not None:
            lo, hi = torch.as_tensor(box, dtype=wfc.dtype)
            c = torch.minimum(torch.maximum(c, lo), hi)
        wfc[t, :3, 3] = c
    cfw = cameras.cam_from_world.clone()  # the way out keeps its exact matrices
    r = wfc[half:, :3, :3].transpose(-1, -2)
    cfw[half:, :3, :3] = r
    cfw[half:, :3, 3] = -(r @ wfc[half:, :3, 3:])[..., 0]
    return Cameras(cfw, cameras.K.clone(), cameras.height, cameras.width)


def offset_pairs(matrix: torch.Tensor, context: int, min_gap: int, min_covisibility: float) -> list[tuple[int, int]]:
    """The scored ``(i, j)``: each generated return frame j with its most co-visible generated outward frame i
    at least ``min_gap`` earlier (module doc); ``matrix`` (T, T) with ``S[i, j]`` = how much of j frame i sees."""
    num = int(matrix.shape[0])
    half = (num + 1) // 2
    pairs = []
    for j in range(max(half, context), num):
        candidates = [i for i in range(context, half) if j - i >= min_gap]
        if not candidates:
            continue
        i = max(candidates, key=lambda k: (float(matrix[k, j]), -k))
        if float(matrix[i, j]) >= min_covisibility:
            pairs.append((i, j))
    return pairs


def warp_into(frame: torch.Tensor, depth_src: torch.Tensor, depth_dst: torch.Tensor, src: Cameras, dst: Cameras,
              rel_tol: float = OCCLUSION_REL_TOL) -> tuple[torch.Tensor, torch.Tensor]:
    """``frame`` (3, H, W) of camera ``src`` (one camera, batch shape () or (1,)) warped into camera ``dst``:
    ``(image (3, H, W), valid (H, W) bool)`` through ``depth_dst`` / ``depth_src`` ((1, H, W) z-depth,
    0 = unknown) with the occlusion test of the module doc."""
    h, w = dst.height, dst.width
    d_dst = depth_dst.reshape(h, w).to(torch.float64)
    d_src = depth_src.reshape(h, w).to(torch.float64)
    s64, t64 = src.to(dtype=torch.float64), dst.to(dtype=torch.float64)
    points = t64.unproject(d_dst.reshape(*t64.batch_shape, h, w)).reshape(h * w, 3)
    uv, z = s64.project(points)
    uv, z = uv.reshape(h * w, 2), z.reshape(h * w)
    col = torch.floor(uv[:, 0]).long()
    row = torch.floor(uv[:, 1]).long()
    inside = (z > 1e-9) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    seen = torch.zeros(h * w, dtype=torch.float64)
    seen[inside] = d_src[row[inside], col[inside]]
    valid = inside & (d_dst.reshape(-1) > 0) & (seen > 0) & ((z - seen).abs() <= rel_tol * seen)
    warped = sample_at_pixels(frame[None].double(), uv, h, w)[0]
    return warped.clamp(0, 1).float(), valid.reshape(h, w)


def reprojection_psnr(frames: torch.Tensor, depth: torch.Tensor, cameras: Cameras,
                      pairs: list[tuple[int, int]]) -> tuple[float | None, float | None]:
    """``(mean PSNR, mean valid fraction)`` over ``pairs`` of frame i warped into camera j (through ``depth``)
    against frame j on the valid pixels; a pair with no valid pixel is left out; None where none counts."""
    scores, fractions = [], []
    for i, j in pairs:
        warped, valid = warp_into(frames[i].float(), depth[i], depth[j], cameras[i], cameras[j])
        fractions.append(float(valid.float().mean()))
        if bool(valid.any()):
            scores.append(float(psnr(warped[None], frames[j : j + 1].float(), mask=valid[None, None])[0]))
    return finite_mean(scores), finite_mean(fractions)


def score_offset(pairs: list[tuple[int, int]], frames: torch.Tensor, target: torch.Tensor, gt_depth: torch.Tensor,
                 cameras: Cameras, depth: torch.Tensor | None = None) -> dict:
    """A variant's offset metrics: ``offset_psnr`` (its frames warped through the true depth),
    ``offset_psnr_truth`` (the ground truth warped the same way: the ceiling), ``offset_valid_fraction``,
    ``offset_pairs`` and ``offset_psnr_own_depth`` (through the variant's own ``depth``; None without one)."""
    model, valid = reprojection_psnr(frames, gt_depth, cameras, pairs)
    truth, _ = reprojection_psnr(target, gt_depth, cameras, pairs)
    own = None
    if depth is not None and bool((depth > 0).any()):
        own, _ = reprojection_psnr(frames, depth, cameras, pairs)
    return {"offset_psnr": model, "offset_psnr_truth": truth, "offset_valid_fraction": valid,
            "offset_pairs": len(pairs), "offset_psnr_own_depth": own}


def gap_closed(model: float | None, no_memory: float | None, ceiling: float | None) -> float | None:
    """The fraction of the ``ceiling - no_memory`` gap a model closes: ``(model - no_memory) / (ceiling -
    no_memory)``; None when a value is missing or the gap is not positive (the ceiling no better than no memory)."""
    if model is None or no_memory is None or ceiling is None or ceiling - no_memory <= 0:
        return None
    return (model - no_memory) / (ceiling - no_memory)
