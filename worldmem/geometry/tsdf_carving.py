"""Space carving for :class:`~worldmem.geometry.tsdf.SparseTSDF` (conventions in that module): which live voxels a
frame sees through.

A voxel is carved by a frame when a pixel ray meets it in front of ``D - trunc`` and this frame confirms it in front
of the surface by more than ``trunc``: along z against the nearest depth of the 3x3 pixels it projects to, and
perpendicular to the surface seen there. :func:`carved_voxels` finds those voxels; the TSDF takes the weight off.

The helpers here work on the TSDF's storage given as explicit arguments (its
:class:`~worldmem.geometry.voxel_blocks.VoxelBlockIndex` and per-voxel weights), never on the TSDF object.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from worldmem.geometry.transforms import project_points
from worldmem.geometry.tsdf_surface import depth_slant
from worldmem.geometry.voxel_blocks import BLOCK, VoxelBlockIndex
from worldmem.geometry.voxel_keys import key_centers, point_keys

__all__ = ["carved_voxels", "project_to_depth"]

# Samples per chunk when marching carving rays: bounds peak memory for far depths and big frames.
_CARVE_CHUNK = 1 << 21
# Samples per batch when carving rays are deduplicated in a bitmap (a batch stays within a few MB, in cache).
_CARVE_BATCH = 1 << 17


def _met_in_box(index: VoxelBlockIndex, voxel_size: float, points, batches: list[range], n_steps: torch.Tensor,
                dirs: torch.Tensor, center: torch.Tensor) -> torch.Tensor | None:
    """Sorted dense indices of the voxels stored in ``index`` that carving's samples fall in, deduplicated in a
    bitmap over their bounding box as :func:`~worldmem.geometry.tsdf_fusion.band_voxels` does; None when that box
    has 2**24 cells or more, or more than 8 per sample. ``points(steps)``: the samples (3, M) (world points) of a
    run of steps, for each of ``batches``; rays ``dirs`` (3, N) from ``center`` (3, 1), ray i taking
    ``n_steps[i]`` steps of ``voxel_size`` in z."""
    vs = voxel_size
    # Along a ray every coordinate is monotone in the step, so its first and last samples bound it; the last one
    # is recomputed here in another rounding, so the box gets a voxel's margin.
    ends = torch.cat([torch.floor(points(range(1, 2)) / vs), torch.floor((center + dirs * (n_steps * vs)) / vs)],
                     dim=1)
    lo = [(int(b) - 1) // BLOCK * BLOCK for b in ends.amin(1)]
    shape = [int(b) + 2 - f for b, f in zip(ends.amax(1), lo, strict=True)]
    cells = shape[0] * shape[1] * shape[2]
    if cells >= 1 << 24 or cells > 8 * int(n_steps.sum()):
        return None
    seen = torch.zeros(shape, dtype=torch.bool)
    flat = seen.view(-1)
    # Box-relative voxel coordinates and the cell index are integers below 2**24: exact in float32.
    offset = torch.tensor(lo, dtype=torch.float32)[:, None]
    strides = torch.tensor([[float(shape[1] * shape[2]), float(shape[2]), 1.0]])
    for steps in batches:
        rel = torch.floor(points(steps) / vs).sub_(offset)  # floored as point_keys floors
        flat.scatter_(0, (strides @ rel)[0].to(torch.int64), torch.ones(1, dtype=torch.bool).expand(rel.shape[1]))
    _, _, _, indices = index.box_voxels(seen.nonzero(), lo, shape)
    return torch.sort(indices[indices >= 0]).values  # distinct voxels: distinct indices


def carved_voxels(index: VoxelBlockIndex, weight: torch.Tensor, depth: torch.Tensor, rays_cam: torch.Tensor,
                  rays_world: torch.Tensor, center: torch.Tensor, cam_from_world: torch.Tensor, k: torch.Tensor, *,
                  voxel_size: float, trunc: float, stride: int | None) -> torch.Tensor:
    """Dense indices of the live voxels that one frame sees through, by the module's rule.

    Args:
        index: the map's voxel index (dense index ``n`` holds ``index.keys[n]``).
        weight: (N,) the map's weight per dense index (a voxel with weight <= 0 is dead: never carved).
        depth: (H, W) the frame's z-depth, 0 = unknown.
        rays_cam: (H, W, 3) its camera rays with z = 1; rays_world: (H, W, 3) their world directions.
        center: (3,) its camera centre; cam_from_world: (4, 4); k: (3, 3) intrinsics.
        voxel_size: the map's voxel side; trunc: its truncation distance (scene units).
        stride: carve along every ``stride``-th pixel ray per image direction; None picks the largest stride whose
            rays are at most one voxel apart at the frame's median depth.

    Returns:
        (C,) int64 sorted dense indices of the voxels to carve.
    """
    none = torch.zeros(0, dtype=torch.int64)
    if not bool((depth > 0).any()):
        return none
    s = stride
    if s is None:
        # Rays s pixels apart are s * d / f apart at depth d; sparser than a voxel, they would skip
        # voxels and moved objects would take more frames to disappear.
        focal = float(torch.minimum(k[0, 0], k[1, 1]))
        s = max(1, int(voxel_size * focal / float(depth[depth > 0].median())))
    d = depth[::s, ::s].reshape(-1)
    dirs = rays_world[::s, ::s].reshape(-1, 3)
    keep = d > trunc + voxel_size
    d, dirs = d[keep], dirs[keep]
    if d.numel() == 0:
        return none
    # March from one voxel in front of the camera to d - trunc in voxel steps along z. Rays are sorted
    # by length so each step's live rays are a prefix, which keeps the marching vectorised.
    n_steps = ((d - trunc) / voxel_size).floor().long()  # steps k = 1 .. n_steps
    n_steps, order = torch.sort(n_steps, descending=True)
    d, dirs = d[order], dirs[order]
    max_steps = int(n_steps[0])
    live_rays = torch.bincount(n_steps, minlength=max_steps + 1).flip(0).cumsum(0).flip(0)  # n_steps >= k
    # (3, M) rows x, y, z per step: the same values as (M, 3) points, with every row contiguous. Steps are made
    # a batch at a time, so memory stays bounded for far depths and big frames.
    dirs_t, center_t, live = dirs.T.contiguous(), center[:, None], live_rays.tolist()

    def points(steps: range) -> torch.Tensor:  # (3, M) world points of the rays still marching at these steps
        return torch.cat([center_t + dirs_t[:, :live[k]] * (k * voxel_size) for k in steps], dim=1)

    def batches(samples: int) -> list[range]:  # runs of steps with about this many samples each
        per = max(1, samples // len(d))
        return [range(k, min(k + per, max_steps + 1)) for k in range(1, max_steps + 1, per)]

    idx = _met_in_box(index, voxel_size, points, batches(_CARVE_BATCH), n_steps, dirs_t, center_t)
    if idx is None:  # a box too large for a bitmap: deduplicate by sorting keys
        hits = []
        for steps in batches(_CARVE_CHUNK):
            # Neighbouring rays cross the same voxels many times near the camera: deduplicating first
            # is cheaper than looking every sample up.
            # The samples lie within the range integrate() checked up front: no per-sample range check.
            found = index.lookup(torch.unique(point_keys(points(steps).T, voxel_size, check=False)))
            hits.append(found[found >= 0])
        idx = torch.unique(torch.cat(hits))
    idx = idx[weight[idx] > 0]
    if idx.numel() == 0:
        return none
    # Projective check in this frame: a voxel met by a ray may project onto a nearer surface (depth
    # edges, voxel centres off the ray); only carve it where it is clearly in front of what this frame
    # sees there. The nearest depth over the 3x3 pixels around its projection is used because at
    # grazing angles depth changes by more than trunc from one pixel to the next. A surface seen at a
    # grazing angle is also far along the ray even from voxels right on it, so the distance must exceed
    # trunc perpendicular to that surface too, or oblique views would erode walls and floors.
    pix, zv, dv = project_to_depth(key_centers(index.keys[idx], voxel_size), cam_from_world, k, depth)
    unknown = torch.full_like(depth, -math.inf)
    nearest = -F.max_pool2d(torch.where(depth > 0, -depth, unknown)[None], 3, stride=1, padding=1)[0]
    d_near = nearest.reshape(-1)[pix]
    perpendicular = (d_near - zv) * depth_slant(depth, rays_cam).reshape(-1)[pix]
    return idx[(dv > 0) & (zv < d_near - trunc) & (perpendicular > trunc)]


def project_to_depth(points: torch.Tensor, cam_from_world: torch.Tensor, k: torch.Tensor,
                     depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Projects world points (N, 3) into one frame with depth (H, W).

    Returns the flat pixel index (N,) (0 where outside), the voxel z (N,) and the observed depth D there
    (N,) (0 outside the image, behind the camera or unknown).
    """
    h, w = depth.shape
    uv, z = project_points(points, cam_from_world, k)
    u, v = uv[:, 0], uv[:, 1]
    inside = (z > 1e-6) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    col = torch.where(inside, u, torch.zeros_like(u)).long().clamp_(0, w - 1)
    row = torch.where(inside, v, torch.zeros_like(v)).long().clamp_(0, h - 1)
    pix = row * w + col
    d = torch.where(inside, depth.reshape(-1)[pix], torch.zeros_like(z))
    return pix, z, d
