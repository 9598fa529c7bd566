"""The rays a frame casts into a :class:`~worldmem.geometry.tsdf.SparseTSDF` (conventions in that module).

- :func:`band_rays`: the rays along which the truncation band around the frame's surface is sampled (fusion);
- :func:`carved_voxels`: which live voxels the frame sees through (space carving): a voxel met by a pixel ray in
  front of ``D - trunc`` and confirmed in front of the surface by more than ``trunc`` in this frame (along z
  against the nearest depth of the 3x3 pixels it projects to, and perpendicular to the surface seen there).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from worldmem.geometry.transforms import pixel_centers
from worldmem.geometry.tsdf_surface import depth_slant
from worldmem.geometry.voxel_blocks import BLOCK

__all__ = ["band_rays", "carved_voxels"]

# Samples per chunk when marching carving rays: bounds peak memory for far depths and big frames.
_CARVE_CHUNK = 1 << 21
# Samples per batch when carving rays are deduplicated in a bitmap (a batch stays within a few MB, in cache).
_CARVE_BATCH = 1 << 17
# Most sub-pixel rays per image axis when a pixel's footprint spans several voxels (bounds the work for far
# depths; beyond it, distant surfaces may keep small holes).
_MAX_SUBRAYS = 4


def band_rays(depth: torch.Tensor, valid: torch.Tensor, cam_from_world: torch.Tensor, k: torch.Tensor,
              voxel_size: float):
    """Yields (world ray directions (3, P) with camera z = 1, z-depth (P,)) to sample the band along.

    A pixel whose footprint ``d / f`` exceeds a voxel would leave voxels of the band between its ray and
    its neighbours' unvisited (holes in the map of low-resolution or distant views), so such pixels are
    split into s x s sub-pixel rays (s <= _MAX_SUBRAYS), each carrying the pixel's depth; s = 1 gives
    the ray through the pixel centre. Groups come in ascending s; directions are ``R^T (K^-1 [u, v, 1]^T)``,
    one (3, P) product per step so that every row is contiguous.
    """
    h, w = depth.shape
    d = depth.reshape(-1)
    grid = _pixel_grid(h, w, depth.device)  # (3, H * W): u, v, 1 at pixel centres
    if not bool(valid.all()):  # else every pixel casts rays, in place
        flat = valid.reshape(-1).nonzero()[:, 0]
        d, grid = d[flat], grid.index_select(1, flat)
    focal = float(torch.minimum(k[0, 0], k[1, 1]))
    k_inv = torch.linalg.inv(k)

    def splits(x):  # sub-rays per axis for depths x
        return torch.ceil(x / (focal * voxel_size)).clamp_(1, _MAX_SUBRAYS).to(torch.int64)

    # Monotone in depth: the extreme depths give the extreme splits, and one split needs no per-pixel one.
    lo, hi = (int(splits(x)) for x in torch.aminmax(d))
    split = None if lo == hi else splits(d)
    for s in range(lo, hi + 1):
        sel = None if split is None else (split == s).nonzero()[:, 0]
        if sel is not None and sel.numel() == 0:
            continue
        if s == 1:  # the pixel centres themselves
            pix = grid if sel is None else grid.index_select(1, sel)
        else:
            within = (torch.arange(s, dtype=torch.float32) + 0.5) / s  # sub-pixel centres in [0, 1)
            c, r = (grid[0], grid[1]) if sel is None else (grid[0, sel], grid[1, sel])
            u = ((c - 0.5)[:, None, None] + within[None, None, :]).expand(-1, s, s).reshape(-1)
            v = ((r - 0.5)[:, None, None] + within[None, :, None]).expand(-1, s, s).reshape(-1)
            pix = torch.stack([u, v, torch.ones_like(u)])
        dirs = cam_from_world[:3, :3].T @ (k_inv @ pix)  # camera rays (z = 1), rotated to the world
        ds = d if sel is None else d[sel]
        yield dirs, ds if s == 1 else ds.repeat_interleave(s * s)


def _pixel_grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    """(3, H * W) float32 rows u, v, 1 at every pixel centre (row-major pixels); never written to. Kept for a
    few image sizes up to a megapixel (12 MB each), made afresh for larger ones."""
    return _cached_pixel_grid(h, w, device) if h * w <= 1 << 20 else _make_pixel_grid(h, w, device)


def _make_pixel_grid(h: int, w: int, device: torch.device) -> torch.Tensor:
    uv = pixel_centers(h, w, torch.float32, device).reshape(-1, 2).T
    return torch.cat([uv, torch.ones_like(uv[:1])])


_cached_pixel_grid = functools.lru_cache(maxsize=4)(_make_pixel_grid)


def _met_in_box(tsdf, points, batches: list[range], n_steps: torch.Tensor, dirs: torch.Tensor, center: torch.Tensor):
    """Sorted dense indices of the stored voxels that carving's samples fall in, deduplicated in a bitmap over their
    bounding box as :func:`~worldmem.geometry.tsdf_fusion.band_voxels` does; None when that box has 2**24 cells or
    more, or more than 8 per sample. ``points(steps)``: the samples (3, M) (world points) of a run of steps, for
    each of ``batches``; rays ``dirs`` (3, N) from ``center`` (3, 1), ray i taking ``n_steps[i]`` steps."""
    vs = tsdf.voxel_size
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
    _, _, _, indices = tsdf._table.box_voxels(seen.nonzero(), lo, shape)
    return torch.sort(indices[indices >= 0]).values  # distinct voxels: distinct indices


def carved_voxels(tsdf, depth: torch.Tensor, rays_cam: torch.Tensor, rays_world: torch.Tensor, center: torch.Tensor,
                  cam_from_world: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Dense indices of the live voxels of ``tsdf`` (a :class:`~worldmem.geometry.tsdf.SparseTSDF`) that this
    frame (depth (H, W), camera rays (H, W, 3) with z = 1 and their world directions, centre, cam_from_world,
    K) sees through, by the module's rule."""
    none = torch.zeros(0, dtype=torch.int64)
    if not bool((depth > 0).any()):
        return none
    s = tsdf.carve_stride
    if s is None:
        # Rays s pixels apart are s * d / f apart at depth d; sparser than a voxel, they would skip
        # voxels and moved objects would take more frames to disappear.
        focal = float(torch.minimum(k[0, 0], k[1, 1]))
        s = max(1, int(tsdf.voxel_size * focal / float(depth[depth > 0].median())))
    d = depth[::s, ::s].reshape(-1)
    dirs = rays_world[::s, ::s].reshape(-1, 3)
    keep = d > tsdf.trunc + tsdf.voxel_size
    d, dirs = d[keep], dirs[keep]
    if d.numel() == 0:
        return none
    # March from one voxel in front of the camera to d - trunc in voxel steps along z. Rays are sorted
    # by length so each step's live rays are a prefix, which keeps the marching vectorised.
    n_steps = ((d - tsdf.trunc) / tsdf.voxel_size).floor().long()  # steps k = 1 .. n_steps
    n_steps, order = torch.sort(n_steps, descending=True)
    d, dirs = d[order], dirs[order]
    max_steps = int(n_steps[0])
    live_rays = torch.bincount(n_steps, minlength=max_steps + 1).flip(0).cumsum(0).flip(0)  # n_steps >= k
    # (3, M) rows x, y, z per step: the same values as (M, 3) points, with every row contiguous. Steps are made
    # a batch at a time, so memory stays bounded for far depths and big frames.
    dirs_t, center_t, live = dirs.T.contiguous(), center[:, None], live_rays.tolist()

    def points(steps: range) -> torch.Tensor:  # (3, M) world points of the rays still marching at these steps
        return torch.cat([center_t + dirs_t[:, :live[k]] * (k * tsdf.voxel_size) for k in steps], dim=1)

    def batches(samples: int) -> list[range]:  # runs of steps with about this many samples each
        per = max(1, samples // len(d))
        return [range(k, min(k + per, max_steps + 1)) for k in range(1, max_steps + 1, per)]

    idx = _met_in_box(tsdf, points, batches(_CARVE_BATCH), n_steps, dirs_t, center_t)
    if idx is None:  # a box too large for a bitmap: deduplicate by sorting keys
        hits = []
        for steps in batches(_CARVE_CHUNK):
            # Neighbouring rays cross the same voxels many times near the camera: deduplicating first
            # is cheaper than looking every sample up.
            found = tsdf._table.lookup(torch.unique(tsdf._keys_of(points(steps).T)))
            hits.append(found[found >= 0])
        idx = torch.unique(torch.cat(hits))
    idx = idx[tsdf._weight[idx] > 0]
    if idx.numel() == 0:
        return none
    # Projective check in this frame: a voxel met by a ray may project onto a nearer surface (depth
    # edges, voxel centres off the ray); only carve it where it is clearly in front of what this frame
    # sees there. The nearest depth over the 3x3 pixels around its projection is used because at
    # grazing angles depth changes by more than trunc from one pixel to the next. A surface seen at a
    # grazing angle is also far along the ray even from voxels right on it, so the distance must exceed
    # trunc perpendicular to that surface too, or oblique views would erode walls and floors.
    pix, zv, dv = tsdf._project(tsdf.voxel_centers(idx), cam_from_world, k, depth)
    unknown = torch.full_like(depth, -math.inf)
    nearest = -F.max_pool2d(torch.where(depth > 0, -depth, unknown)[None], 3, stride=1, padding=1)[0]
    d_near = nearest.reshape(-1)[pix]
    perpendicular = (d_near - zv) * depth_slant(depth, rays_cam).reshape(-1)[pix]
    return idx[(dv > 0) & (zv < d_near - tsdf.trunc) & (perpendicular > tsdf.trunc)]
