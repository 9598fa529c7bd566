"""Surface geometry for :class:`~worldmem.geometry.tsdf.SparseTSDF` (conventions in that module).

- :func:`depth_slant`: how obliquely each pixel of a depth map sees its surface (space carving uses it);
- :func:`zero_crossings`: points and colours on the fused field's zero level set, from the TSDF's voxel index
  and dense per-voxel arrays (:meth:`SparseTSDF.extract_points` is the public entry);
- :func:`update_crossings`: the same brought up to date after some voxels changed (:meth:`SparseTSDF.surface`).
"""

from __future__ import annotations

import torch

from worldmem.geometry.voxel_blocks import VoxelBlockIndex
from worldmem.geometry.voxel_keys import COORD_LIMIT, key_centers, pack_coords, unpack_keys

__all__ = ["depth_slant", "zero_crossings", "update_crossings"]


def _shifted(x: torch.Tensor, dim: int, step: int) -> torch.Tensor:
    """``x[i + step]`` along ``dim`` (step +-1), zero past the border (= unknown depth)."""
    out = torch.roll(x, -step, dims=dim)
    out.narrow(dim, x.shape[dim] - 1 if step > 0 else 0, 1).zero_()
    return out


def depth_slant(depth: torch.Tensor, rays_cam: torch.Tensor) -> torch.Tensor:
    """|n . r| per pixel (H, W): turns a z-distance in front of the surface into a perpendicular one.

    ``n`` is the unit surface normal from the depth map (H, W) and ``r`` the pixel's ray (H, W, 3) with z = 1.
    Each tangent uses the neighbour (next or previous) with the smaller depth jump, so normals stay sound
    next to depth edges; pixels without a valid normal get 0 (nothing is carved through them).
    """
    points = rays_cam * depth[..., None]
    tangents, ok = [], depth > 0
    for dim in (1, 0):  # along columns, then rows
        d_next, d_prev = _shifted(depth, dim, 1), _shifted(depth, dim, -1)
        use_next = (d_next > 0) & ((d_prev <= 0) | ((d_next - depth).abs() <= (depth - d_prev).abs()))
        tangents.append(torch.where(use_next[..., None], _shifted(points, dim, 1) - points,
                                    points - _shifted(points, dim, -1)))
        ok &= (d_next > 0) | (d_prev > 0)
    normal = torch.linalg.cross(tangents[0], tangents[1], dim=-1)
    length = normal.norm(dim=-1)
    return torch.where(ok & (length > 0), (normal * rays_cam).sum(-1).abs() / length.clamp_min(1e-20), 0.0)


def zero_crossings(table: VoxelBlockIndex, tsdf: torch.Tensor, weight: torch.Tensor, color: torch.Tensor,
                   voxel_size: float, min_weight: float, sources: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero crossings between neighbouring voxels.

    Args:
        table: the voxels' :class:`~worldmem.geometry.voxel_blocks.VoxelBlockIndex` (dense index ``n`` holds
            ``table.keys[n]``).
        tsdf, weight: (N,) normalised tsdf and weight per dense index; color: (N, 3) in [0, 1].
        voxel_size: edge length of a voxel; min_weight: the least weight a voxel needs to take part.
        sources: optional sorted dense indices (K,): only crossings that start from these voxels.

    Returns:
        points (M, 3) and colours (M, 3) in [0, 1], as :meth:`SparseTSDF.extract_points` describes, the dense
        index (M,) of the voxel each crossing starts from and its axis (M,) (0, 1, 2 for x, y, z).
    """
    ok = (weight >= min_weight) & (tsdf.abs() < 1.0)
    src = ok.nonzero()[:, 0] if sources is None else sources[ok[sources]]
    keys = table.keys[src]
    coords = unpack_keys(keys)
    points, colors, voxels, axes = [], [], [], []
    for axis in range(3):
        nb_coords = coords.clone()
        nb_coords[:, axis] += 1
        inside = nb_coords[:, axis] <= COORD_LIMIT
        nb = torch.full_like(src, -1)
        nb[inside] = table.lookup(pack_coords(nb_coords[inside]))
        pair = nb >= 0
        pair[pair.clone()] = ok[nb[pair]]
        a, b = src[pair], nb[pair]
        ta, tb = tsdf[a], tsdf[b]
        cross = (ta >= 0) != (tb >= 0)
        a, b, ta, tb = a[cross], b[cross], ta[cross], tb[cross]
        frac = ta / (ta - tb)  # in [0, 1]: signs differ
        p = key_centers(keys[pair][cross], voxel_size)
        p[:, axis] += frac * voxel_size
        points.append(p)
        colors.append(color[a] + frac[:, None] * (color[b] - color[a]))
        voxels.append(a)
        axes.append(torch.full_like(a, axis))
    return torch.cat(points), torch.cat(colors).clamp(0.0, 1.0), torch.cat(voxels), torch.cat(axes)


def update_crossings(table: VoxelBlockIndex, tsdf: torch.Tensor, weight: torch.Tensor, color: torch.Tensor,
                     voxel_size: float, min_weight: float, previous: tuple[torch.Tensor, ...], changed: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`zero_crossings` from its earlier result ``previous`` after the voxels at dense indices ``changed``
    changed (the dense indices themselves unchanged): a crossing depends on its source voxel and the source's
    +axis neighbour, so only the crossings from a changed voxel or from its -x, -y, -z neighbours are
    recomputed. Equal to a fresh :func:`zero_crossings`, in the same order (by axis, then by source voxel)."""
    n = table.size
    changed = torch.unique(changed)
    coords = unpack_keys(table.keys[changed])
    affected = [changed]
    for axis in range(3):
        c = coords.clone()
        c[:, axis] -= 1
        affected.append(table.lookup(pack_coords(c[c[:, axis] >= -COORD_LIMIT])))
    affected = torch.unique(torch.cat(affected))
    affected = affected[affected >= 0]
    stale = torch.zeros(n, dtype=torch.bool)
    stale[affected] = True
    keep = ~stale[previous[2]]
    fresh = zero_crossings(table, tsdf, weight, color, voxel_size, min_weight, sources=affected)
    merged = [torch.cat([old[keep], new]) for old, new in zip(previous, fresh, strict=True)]
    order = torch.argsort(merged[3] * n + merged[2])
    return tuple(m[order] for m in merged)
