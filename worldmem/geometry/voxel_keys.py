"""The one packing of integer voxel coordinates into int64 keys, and the voxels of world points.

The TSDF's voxel index (:class:`~worldmem.geometry.voxel_blocks.VoxelBlockIndex`), its surface extraction and the
visibility sets of keyframe retrieval (:mod:`worldmem.geometry.points`) all use these keys.

Conventions:

- A voxel is an integer coordinate triple ``(i, j, k)`` with ``|i|, |j|, |k| <= COORD_LIMIT``; it is packed
  into one int64 key ``((i + B) << 42) | ((j + B) << 21) | (k + B)`` with ``B = 2**20``. Every packed key is
  in ``[0, 2**63 - 1)``: non-negative, so keys sort as their coordinates do (lexicographically by i, j, k).
- Voxel ``(i, j, k)`` of side ``voxel_size`` covers ``[i, i+1) x [j, j+1) x [k, k+1)`` times ``voxel_size``:
  a point's voxel is ``floor(p / voxel_size)``, its centre ``(c + 0.5) * voxel_size``.
"""

from __future__ import annotations

import torch

__all__ = ["pack_coords", "unpack_keys", "point_keys", "key_centers", "COORD_LIMIT"]

_BITS = 21
_BIAS = 1 << (_BITS - 1)
_FIELD_MASK = (1 << _BITS) - 1
# One less than the bias on the positive side, so that no packed key reaches 2**63 - 1.
COORD_LIMIT = _BIAS - 2


def pack_coords(coords: torch.Tensor) -> torch.Tensor:
    """Packs integer voxel coordinates (..., 3) (|c| <= COORD_LIMIT) into int64 keys (...)."""
    c = coords.to(torch.int64) + _BIAS
    return (c[..., 0] << (2 * _BITS)) | (c[..., 1] << _BITS) | c[..., 2]


def unpack_keys(keys: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_coords`: int64 keys (...) -> int64 coordinates (..., 3)."""
    return torch.stack(
        [(keys >> (2 * _BITS)) & _FIELD_MASK, (keys >> _BITS) & _FIELD_MASK, keys & _FIELD_MASK], dim=-1
    ) - _BIAS


def point_keys(points: torch.Tensor, voxel_size: float, check: bool = True) -> torch.Tensor:
    """World points (..., 3) -> int64 keys (...) of the voxels ``floor(p / voxel_size)`` containing them.

    ``check=False`` skips the range check, for callers that have bounded the points already.
    """
    coords = torch.floor(points / voxel_size).to(torch.int64)
    if check and coords.numel() and int(coords.abs().max()) > COORD_LIMIT:
        raise ValueError(f"points: coordinates exceed the voxel key range (+-{COORD_LIMIT} voxels of {voxel_size})")
    return pack_coords(coords)


def key_centers(keys: torch.Tensor, voxel_size: float) -> torch.Tensor:
    """int64 keys (...) -> float32 centres (..., 3) ``(c + 0.5) * voxel_size`` of their voxels."""
    return (unpack_keys(keys).to(torch.float32) + 0.5) * voxel_size
