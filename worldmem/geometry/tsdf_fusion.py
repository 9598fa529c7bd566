"""Fusion of one frame into a :class:`~worldmem.geometry.tsdf.SparseTSDF` (conventions in that module): which
voxels its truncation band samples, and where they project.

- :func:`band_rays`: the rays along which the truncation band around the frame's surface is sampled;
- :func:`band_voxels`: the voxels the band samples along :func:`band_rays`, sorted by key, with their dense
  indices, found without sorting or per-voxel hashing: the samples are deduplicated in a bitmap over their
  bounding box and every block of the box is looked up at once;
- :func:`project_voxels`: voxel centres projected into the frame, bit for bit as
  :func:`~worldmem.geometry.transforms.project_points` on (N, 3) centres, computed on contiguous (3, N) rows.

The helpers work on the TSDF's storage given as explicit arguments (its
:class:`~worldmem.geometry.voxel_blocks.VoxelBlockIndex`, voxel size and truncation), never on the TSDF object;
the weighted running averages themselves are :meth:`SparseTSDF.integrate`'s.
"""

from __future__ import annotations

import functools
import math

import torch

from worldmem.geometry.transforms import pixel_centers
from worldmem.geometry.voxel_blocks import BLOCK, VoxelBlockIndex
from worldmem.geometry.voxel_keys import pack_coords, unpack_keys

__all__ = ["band_rays", "band_voxels", "pad_image", "project_voxels"]

# Most sub-pixel rays per image axis when a pixel's footprint spans several voxels (bounds the work for far
# depths; beyond it, distant surfaces may keep small holes).
_MAX_SUBRAYS = 4

# The band's voxels are deduplicated in a dense bitmap over their bounding box when it has at most this many
# cells per sample (else, or beyond 2**24 cells, by sorting their keys; both give the same sorted set).
_BOX_CELLS_PER_SAMPLE = 8


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


def band_voxels(table: VoxelBlockIndex, depth: torch.Tensor, valid: torch.Tensor, center: torch.Tensor,
                cam_from_world: torch.Tensor, k: torch.Tensor, *, voxel_size: float, trunc_voxels: float):
    """The voxels that one frame's truncation band samples: every ``trunc / ceil(trunc_voxels)`` (at most a
    voxel) in z over ``[d - trunc, d + trunc]`` along each of :func:`band_rays`, ``trunc = trunc_voxels *
    voxel_size``.

    Args:
        table: the map's voxel index; the band's voxels are looked up in it, and ``allocate`` adds to it.
        depth: (H, W) z-depth; valid: (H, W) bool, the pixels that cast rays.
        center: (3,) the camera centre; cam_from_world: (4, 4); k: (3, 3) intrinsics.
        voxel_size: the map's voxel side; trunc_voxels: its truncation distance in voxels.

    Returns ``(coords (U, 3) int64 in ascending key order, indices (U,) dense or -1, allocate)``;
    ``allocate(sel)`` stores the voxels of the (U,) bool mask ``sel`` (none stored yet) in ``table`` in ascending
    key order and returns their new dense indices.
    """
    n_side = math.ceil(trunc_voxels)
    vs = voxel_size
    # Per ray and axis, the sample at offset j in [-n_side, n_side] (spaced trunc / n_side in z) lies at voxel
    # coordinate floor(base + j * step), base = (centre + dir * d) / voxel_size, step = dir * spacing / voxel_size:
    # one add and one floor per sample and axis.
    spacing = trunc_voxels * voxel_size / n_side  # = SparseTSDF.trunc / n_side
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
    (N,) (0 outside the image, behind the camera or unknown), as
    :func:`~worldmem.geometry.tsdf_carving.project_to_depth` of their centres (the pixel agrees where D > 0).
    Projections off the image are clamped onto the zero border, so no bounds tests.
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
