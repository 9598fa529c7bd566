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

__all__ = ["band_voxels", "pad_image", "project_voxels"]

# The band's voxels are deduplicated in a dense bitmap over their bounding box when it has at most this many
# cells per sample (else, or beyond 2**24 cells, by sorting their keys; both give the same sorted set).
_BOX_CELLS_PER_SAMPLE = 8


def band_voxels(tsdf, depth: torch.Tensor, valid: torch.Tensor, center: torch.Tensor, cam_from_world: torch.Tensor,
                k: torch.Tensor):
    """The voxels of ``tsdf`` (a :class:`~worldmem.geometry.tsdf.SparseTSDF`) that this frame's truncation band
    samples: every ``voxel_size`` in z over ``[d - trunc, d + trunc]`` along each of :func:`band_rays`.

    Returns ``(coords (U, 3) int64 in ascending key order, indices (U,) dense or -1, allocate)``;
    ``allocate(sel)`` stores the voxels of the (U,) bool mask ``sel`` (none stored yet) in ascending key order
    and returns their new dense indices.
    """
    n_side = math.ceil(tsdf.trunc_voxels)
    vs, table = tsdf.voxel_size, tsdf._table
    # Per ray and axis, the sample at offset j in [-n_side, n_side] (spaced trunc / n_side in z) lies at voxel
    # coordinate floor(base + j * step), base = (centre + dir * d) / voxel_size, step = dir * spacing / voxel_size:
    # one add and one floor per sample and axis.
    spacing = tsdf.trunc / n_side
    rays = [((dirs * d).add_(center[:, None]).div_(vs), dirs * (spacing / vs))  # (3, P) rows x, y, z
            for dirs, d in band_rays(depth, valid, cam_from_world, k, vs)]
    js = range(-n_side, n_side + 1)

    def sample(base, step, j):  # (3, P) voxel coordinates as exact floats
        return torch.add(base, step, alpha=j).floor_()

    # Along a ray every coordinate is monotone in j (rounding is monotone), so the end samples bound the box. It
    # gets a voxel's margin on each side: the box-relative sums below round at another magnitude, so a sample
    # within rounding of a voxel boundary may floor one voxel off there.
    ends = [[torch.aminmax(row) for row in sample(base, step, j)] for base, step in rays for j in (js[0], js[-1])]
    lo = [math.floor((min(float(e[a][0]) for e in ends) - 1) / BLOCK) * BLOCK for a in range(3)]  # block-aligned
    shape = [int(max(float(e[a][1]) for e in ends)) + 2 - lo[a] for a in range(3)]
    cells = shape[0] * shape[1] * shape[2]
    n_samples = len(js) * sum(base.shape[1] for base, _ in rays)
    if cells >= 1 << 24 or cells > _BOX_CELLS_PER_SAMPLE * n_samples:
        keys = torch.unique(torch.cat([pack_coords(sample(base, step, j).T.to(torch.int64))
                                       for base, step in rays for j in js]))
        return unpack_keys(keys), table.lookup(keys), lambda sel: table.append(keys[sel])
    # Box-relative coordinates and the cell index stay exact integers below 2**24 in float32. One offset at a
    # time keeps every intermediate in cache.
    seen = torch.zeros(shape, dtype=torch.bool)
    flat = seen.view(-1)
    # The cell index x * Y * Z + y * Z + z as a (1, 3) x (3, P) product: every product and partial sum is an
    # integer below 2**24, so exact in any order.
    strides = torch.tensor([[float(shape[1] * shape[2]), float(shape[2]), 1.0]])
    for base, step in rays:
        base = base - torch.tensor(lo, dtype=base.dtype)[:, None]
        true = torch.ones(1, dtype=torch.bool).expand(base.shape[1])
        for j in js:
            flat.scatter_(0, (strides @ sample(base, step, j))[0].to(torch.int64), true)
    rel = seen.nonzero()  # (U, 3), row-major order = ascending (i, j, k) = ascending key
    coords = rel + torch.tensor(lo)
    grid, block, local, indices = table.box_voxels(rel, lo, shape)
    nb = list(grid.shape)
    grid = grid.reshape(-1)

    def allocate(sel: torch.Tensor) -> torch.Tensor:
        chosen = sel.nonzero()[:, 0]
        wanted = block.index_select(0, chosen)
        ids = grid.index_select(0, wanted)
        if bool((ids < 0).any()):
            mark = torch.zeros(grid.numel(), dtype=torch.bool)
            mark[wanted] = True
            need = (mark.view(nb) & (grid.view(nb) < 0)).nonzero()  # (B, 3) block coordinates in the box
            first = need * BLOCK + torch.tensor(lo)
            grid.view(nb)[need.unbind(1)] = table.add_blocks(pack_coords(first))
            ids = grid.index_select(0, wanted)
        # coords is column-major (as nonzero returns it): its columns are gathered, not its rows.
        return table.append(pack_coords(coords.T.index_select(1, chosen).T), ids, local.index_select(0, chosen))

    return coords, indices, allocate


def pad_image(image: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., H + 2, W + 2) with a border of zeros (for :func:`project_voxels`)."""
    return torch.nn.functional.pad(image, (1, 1, 1, 1))


def project_voxels(coords: torch.Tensor, voxel_size: float, cam_from_world: torch.Tensor, k: torch.Tensor,
                   depth_padded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Projects the centres of voxels ``coords`` (N, 3) int64 into one frame, given its :func:`pad_image` depth
    (H + 2, W + 2).

    Returns the flat index (N,) of the pixel in the padded image, the voxel z (N,) and the observed depth D there
    (N,) (0 outside the image, behind the camera or unknown), as ``SparseTSDF._project`` of their centres (the
    pixel agrees where D > 0). Projections off the image are clamped onto the zero border, so no bounds tests.
    """
    hp, wp = depth_padded.shape
    centers = torch.empty(coords.shape[::-1], dtype=torch.float32).copy_(coords.T).add_(0.5).mul_(voxel_size)
    x, y, z = cam_from_world[:3, :3] @ centers + cam_from_world[:3, 3:]  # = centers @ R^T + t, row by row
    # Voxels at z <= 1e-6 see no depth (D = 0 below), so their pixel only needs to be finite.
    safe_z = z.clamp(min=1e-6)
    u = k[0, 0] * x
    if float(k[0, 1]):  # a zero skew adds +-0: the same u
        u += k[0, 1] * y
    u = u.div_(safe_z).add_(k[0, 2])
    v = (k[1, 1] * y).div_(safe_z).add_(k[1, 2])
    exact = torch.float32 if hp * wp < 1 << 24 else torch.float64  # the flat index is an exact integer
    col = u.floor_().clamp_(-1.0, wp - 2.0).to(exact).add_(1.0)
    row = v.floor_().clamp_(-1.0, hp - 2.0).to(exact)
    pix = torch.addcmul(col, row, torch.tensor(float(wp), dtype=exact)).add_(float(wp)).to(torch.int64)
    d = torch.where(z > 1e-6, depth_padded.take(pix), 0.0)
    return pix, z, d
