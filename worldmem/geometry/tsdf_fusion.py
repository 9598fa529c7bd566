"""Fusion of one frame into a :class:`~worldmem.geometry.tsdf.SparseTSDF` (conventions in that module): which
voxels its truncation band samples, and where they project.

- :func:`band_voxels`: the voxels the band samples along :func:`~worldmem.geometry.tsdf_rays.band_rays`, sorted by
  key, with their dense indices, found without sorting or per-voxel hashing: the samples are deduplicated in a
  bitmap over their bounding box and every block of the box is looked up at once;
- :func:`project_voxels`: voxel centres projected into the frame, bit for bit as
  :func:`~worldmem.geometry.transforms.project_points` on (N, 3) centres, computed on contiguous (3, N) rows.
"""

from __future__ import annotations

import math

import torch

from worldmem.geometry.tsdf_rays import band_rays
from worldmem.geometry.voxel_blocks import BLOCK
from worldmem.geometry.voxel_hash import pack_coords, unpack_keys

__all__ = ["band_voxels", "project_voxels"]

# The band's voxels are deduplicated in a dense bitmap over their bounding box when it has at most this many
# cells per sample (else, or beyond 2**24 cells, by sorting their keys; both give the same sorted set).
_BOX_CELLS_PER_SAMPLE = 8


def band_voxels(tsdf, depth: torch.Tensor, valid: torch.Tensor, center: torch.Tensor, cam_from_world: torch.Tensor,
                k: torch.Tensor):
    """The voxels of ``tsdf`` (a :class:`~worldmem.geometry.tsdf.SparseTSDF`) that this frame's truncation band
    samples: every ``voxel_size`` in z over ``[d - trunc, d + trunc]`` along each of :func:`band_rays`.

    Returns ``(keys (U,) ascending, coords (U, 3) int64, indices (U,) dense or -1, allocate)``;
    ``allocate(sel)`` stores the voxels of the (U,) bool mask ``sel`` (none stored yet) in ascending key order
    and returns their new dense indices.
    """
    n_side = math.ceil(tsdf.trunc_voxels)
    offsets = torch.arange(-n_side, n_side + 1, dtype=torch.float32) * (tsdf.trunc / n_side)
    axes = ([], [], [])
    for dirs, d in band_rays(depth, valid, cam_from_world, k, tsdf.voxel_size):
        z = d[None, :] + offsets[:, None]  # (S, P): one row per offset keeps every pass below contiguous
        for a in range(3):  # floor((centre + dir * z) / voxel_size), the voxel coordinates, as exact floats
            axes[a].append((dirs[a] * z).add_(center[a]).div_(tsdf.voxel_size).floor_().reshape(-1))
    x, y, z = (torch.cat(a) if len(a) > 1 else a[0] for a in axes)
    bounds = [torch.aminmax(c) for c in (x, y, z)]
    lo = [math.floor(float(b.min) / BLOCK) * BLOCK for b in bounds]  # block-aligned corner of the box
    shape = [int(b.max) - f + 1 for b, f in zip(bounds, lo, strict=True)]
    cells = shape[0] * shape[1] * shape[2]
    table = tsdf._table
    if cells >= 1 << 24 or cells > _BOX_CELLS_PER_SAMPLE * x.numel():
        keys = torch.unique(pack_coords(torch.stack([x, y, z], dim=-1).to(torch.int64)))
        return keys, unpack_keys(keys), table.lookup(keys), lambda sel: table.append(keys[sel])
    # Box-relative coordinates and the cell index stay exact integers below 2**24 in float32.
    ny, nz = float(shape[1]), float(shape[2])
    cell = torch.addcmul(torch.addcmul(z.sub_(lo[2]), y.sub_(lo[1]), torch.tensor(nz)), x.sub_(lo[0]),
                         torch.tensor(ny * nz))
    seen = torch.zeros(cells, dtype=torch.bool)
    seen[cell.to(torch.int64)] = True
    cell = seen.nonzero()[:, 0]  # ascending cell index = ascending (i, j, k) = ascending key
    ri = cell // (shape[1] * shape[2])
    rest = cell - ri * (shape[1] * shape[2])
    rj = rest // shape[2]
    rk = rest - rj * shape[2]
    coords = torch.stack([ri + lo[0], rj + lo[1], rk + lo[2]], dim=-1)
    keys = pack_coords(coords)
    # Every block of the box is looked up at once; each voxel then takes its block's id from the box grid.
    nb = [-(-n // BLOCK) for n in shape]
    grid = table.box_blocks(torch.tensor(lo) // BLOCK, tuple(nb)).reshape(-1)
    block = ((ri >> 3) * nb[1] + (rj >> 3)) * nb[2] + (rk >> 3)
    local = ((ri & 7) << 6) | ((rj & 7) << 3) | (rk & 7)
    indices = table.voxels_in(grid[block], local)

    def allocate(sel: torch.Tensor) -> torch.Tensor:
        wanted = block[sel]
        if bool((grid[wanted] < 0).any()):
            mark = torch.zeros(grid.numel(), dtype=torch.bool)
            mark[wanted] = True
            need = (mark & (grid < 0)).nonzero()[:, 0]
            bi = need // (nb[1] * nb[2])
            bj = (need // nb[2]) % nb[1]
            bk = need % nb[2]
            first = torch.stack([bi * BLOCK + lo[0], bj * BLOCK + lo[1], bk * BLOCK + lo[2]], dim=-1)
            grid[need] = table.add_blocks(pack_coords(first))
        return table.append(keys[sel], grid[wanted])

    return keys, coords, indices, allocate


def project_voxels(coords: torch.Tensor, voxel_size: float, cam_from_world: torch.Tensor, k: torch.Tensor,
                   depth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Projects the centres of voxels ``coords`` (N, 3) int64 into one frame (depth (H, W)).

    Returns the flat pixel index (N,) (0 where outside), the voxel z (N,) and the observed depth D there (N,)
    (0 outside the image, behind the camera or unknown), as ``SparseTSDF._project`` of their centres.
    """
    h, w = depth.shape
    centers = torch.empty(coords.shape[::-1], dtype=torch.float32).copy_(coords.T).add_(0.5).mul_(voxel_size)
    x, y, z = cam_from_world[:3, :3] @ centers + cam_from_world[:3, 3:]  # = centers @ R^T + t, row by row
    safe_z = torch.where(z.abs() < 1e-12, torch.full_like(z, 1e-12), z)
    u = (k[0, 0] * x + k[0, 1] * y) / safe_z + k[0, 2]
    v = k[1, 1] * y / safe_z + k[1, 2]
    inside = (z > 1e-6) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    col = torch.where(inside, u, torch.zeros_like(u)).long().clamp_(0, w - 1)
    row = torch.where(inside, v, torch.zeros_like(v)).long().clamp_(0, h - 1)
    pix = row * w + col
    d = torch.where(inside, depth.reshape(-1)[pix], torch.zeros_like(z))
    return pix, z, d
