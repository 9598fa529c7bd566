"""A two-level voxel index: an index of 8 x 8 x 8 voxel blocks, each with a dense table of its voxels' indices.

:class:`VoxelBlockIndex` maps packed voxel keys (:mod:`worldmem.geometry.voxel_keys`) to dense indices, the
storage order of :class:`~worldmem.geometry.tsdf.SparseTSDF`'s per-voxel arrays (``lookup`` / ``insert`` /
``keys`` / ``size`` / ``from_keys``). Only blocks are indexed: a voxel is found by finding its block (a binary
search over the sorted block keys) and reading the block's 512-entry table. Surfaces fill blocks densely, so a frame touches
far fewer blocks than voxels; the TSDF's integration and carving look all the blocks of a box up at once
(:meth:`VoxelBlockIndex.box_voxels`) and then find every voxel with two gathers, and new voxels are added without
any probing (Open3D's voxel block grid and VoxelHashing use the same two levels).

Conventions:

- Block ``(I, J, K) = floor((i, j, k) / 8)``; its key is the packed key of its first voxel ``8 * (I, J, K)``
  (the key bias 2**20 is a multiple of 8, so that is the voxel key with the low 3 bits of each field cleared),
  and voxel ``(i, j, k)`` sits at ``local = (i % 8) * 64 + (j % 8) * 8 + k % 8`` in its block's table.
- Dense voxel indices are ``0 .. size - 1`` in insertion order; within one :meth:`VoxelBlockIndex.insert` call
  the new keys are numbered in ascending key order, so the numbering depends only on the sequence of calls.
- Block ids are dense indices in the order blocks were added (ascending key order within one call); they are
  internal and never leave this module's users. Blocks are few (one per 512 voxels at most), so their keys are
  kept sorted and found by binary search: a handful of vectorised ops per lookup, however the keys cluster.
"""

from __future__ import annotations

import torch

from worldmem.geometry.voxel_keys import pack_coords

__all__ = ["VoxelBlockIndex", "BLOCK", "block_keys", "local_index"]

BLOCK = 8
_BLOCK_VOXELS = BLOCK**3
_BLOCK_BITS = 9  # log2(_BLOCK_VOXELS): a voxel's slot is (block + 1) << _BLOCK_BITS | local
_FIELD = 21  # bits per packed coordinate (voxel_keys' packing)
_LOW = (7 << (2 * _FIELD)) | (7 << _FIELD) | 7


class _SortedKeys:
    """Packed key (int64) -> dense id (int64) by binary search over the sorted keys; ids in insertion order."""

    def __init__(self, device: torch.device) -> None:
        self._sorted = torch.empty(0, dtype=torch.int64, device=device)
        self._ids = torch.empty(0, dtype=torch.int64, device=device)  # the id of each sorted key

    @property
    def size(self) -> int:
        return self._sorted.numel()

    def lookup(self, keys: torch.Tensor) -> torch.Tensor:
        """Ids (N,) of ``keys`` (N,), -1 for keys not stored."""
        if self.size == 0:
            return torch.full_like(keys, -1)
        pos = torch.searchsorted(self._sorted, keys).clamp_(max=self.size - 1)
        return torch.where(self._sorted[pos] == keys, self._ids[pos], -1)

    def insert(self, keys: torch.Tensor) -> torch.Tensor:
        """Ids (N,) of ``keys`` (N,), adding the missing ones as ids ``size ..`` in ascending key order."""
        uniq, inverse = torch.unique(keys, sorted=True, return_inverse=True)
        ids = self.lookup(uniq)
        missing = ids < 0
        new = uniq[missing]
        if new.numel():
            ids[missing] = torch.arange(self.size, self.size + new.numel(), device=keys.device)
            merged, order = torch.sort(torch.cat([self._sorted, new]))
            self._ids = torch.cat([self._ids, ids[missing]])[order]
            self._sorted = merged
        return ids[inverse]


def block_keys(keys: torch.Tensor) -> torch.Tensor:
    """Packed keys (...) of the blocks holding voxels with packed ``keys`` (...)."""
    return keys & ~_LOW


def local_index(keys: torch.Tensor) -> torch.Tensor:
    """Position (...) in its block's table of each voxel with packed ``keys`` (...)."""
    return (((keys >> (2 * _FIELD)) & 7) << 6) | (((keys >> _FIELD) & 7) << 3) | (keys & 7)


class VoxelBlockIndex:
    """Packed voxel key (int64) -> dense index (int64) through indexed 8^3 blocks.

    Attributes:
        size: number of stored voxels (dense indices are ``0 .. size - 1``).
        keys: (size,) the stored keys in dense-index order.
        num_blocks: number of allocated blocks.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._blocks = _SortedKeys(self.device)
        # ((block capacity + 1) * 512,) dense voxel index per block slot, -1 where empty; int32 halves its memory.
        # Block b's table starts at (b + 1) * 512: the first 512 stay -1 and serve every absent block (id -1),
        # so lookups need no masking.
        self._slots = torch.full((_BLOCK_VOXELS,), -1, dtype=torch.int32, device=self.device)
        self._keys = torch.empty(1024, dtype=torch.int64, device=self.device)
        self.size = 0

    @property
    def keys(self) -> torch.Tensor:
        return self._keys[: self.size]

    @property
    def num_blocks(self) -> int:
        return self._blocks.size

    def lookup(self, keys: torch.Tensor) -> torch.Tensor:
        """Dense indices (N,) int64 of ``keys`` (N,), -1 for keys not stored."""
        keys = keys.to(device=self.device, dtype=torch.int64).reshape(-1)
        if keys.numel() == 0 or self.size == 0:
            return torch.full_like(keys, -1)
        return self.voxels_in(self._blocks.lookup(block_keys(keys)), local_index(keys))

    def voxels_in(self, block_ids: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """Dense indices (N,) int64 of the voxels at ``local`` (N,) in blocks ``block_ids`` (N,) (-1: no block),
        -1 where no voxel is stored."""
        return self._slots.take(((block_ids + 1) << _BLOCK_BITS) | local).to(torch.int64)

    def box_blocks(self, first: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        """Block ids (X, Y, Z) (-1 where absent) of the box of ``shape`` blocks starting at block coordinates
        ``first`` (3,) int64."""
        axes = [torch.arange(n, dtype=torch.int64, device=self.device) + int(f) for n, f in zip(shape, first.tolist(),
                                                                                               strict=True)]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1) * BLOCK
        return self._blocks.lookup(pack_coords(grid).reshape(-1)).view(shape)

    def box_voxels(self, rel: torch.Tensor, lo: list[int], shape: list[int]):
        """Looks up voxels given by box-relative coordinates ``rel`` (U, 3) int64 (as ``nonzero`` returns them)
        in a box of ``shape`` voxels whose block-aligned corner is voxel ``lo``.

        Returns ``(grid, block, local, indices)``: the block ids (-1: absent) of the box's blocks (X, Y, Z), each
        voxel's block as a flat index into ``grid`` and its place in that block (U,), and its dense index (U,)
        (-1: not stored). Every block of the box is looked up at once; per axis, a table gives a coordinate's
        share of (block in the box) * 512 + (place in the block), so each voxel costs two gathers.
        """
        nb = [-(-n // BLOCK) for n in shape]
        grid = self.box_blocks(torch.tensor(lo) // BLOCK, tuple(nb))
        code = None
        for a, (n, stride) in enumerate(zip(shape, (nb[1] * nb[2], nb[2], 1), strict=True)):
            axis = torch.arange(n)
            share = ((axis >> 3) * (stride << 9) + ((axis & 7) << (3 * (2 - a)))).index_select(0, rel[:, a])
            code = share if code is None else code.add_(share)
        block, local = code >> 9, code & 511
        return grid, block, local, self.voxels_in(grid.reshape(-1).index_select(0, block), local)

    def insert(self, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inserts ``keys`` (N,) (duplicates and already-present keys allowed).

        Returns:
            indices: (N,) dense index of every key,
            new_keys: (M,) the keys that were not present before, ascending; they received the dense indices
            ``size_before .. size_before + M - 1`` in that order.
        """
        keys = keys.to(device=self.device, dtype=torch.int64).reshape(-1)
        uniq, inverse = torch.unique(keys, sorted=True, return_inverse=True)
        idx = self.lookup(uniq)
        missing = idx < 0
        new_keys = uniq[missing]
        if new_keys.numel():
            idx[missing] = self.append(new_keys)
        return idx[inverse], new_keys

    def add_blocks(self, keys: torch.Tensor) -> torch.Tensor:
        """Block ids (N,) of the blocks with packed block ``keys`` (N,), allocating the missing ones."""
        ids = self._blocks.insert(keys)
        need = (self._blocks.size + 1) * _BLOCK_VOXELS
        if need > self._slots.numel():
            grown = torch.full((max(need, 2 * self._slots.numel()),), -1, dtype=torch.int32, device=self.device)
            grown[: self._slots.numel()] = self._slots
            self._slots = grown
        return ids

    def append(self, keys: torch.Tensor, block_ids: torch.Tensor | None = None,
               local: torch.Tensor | None = None) -> torch.Tensor:
        """Stores ``keys`` (M,), unique and not yet stored, as dense indices ``size .. size + M - 1`` in the
        given order, and returns those indices. ``block_ids`` (M,): each key's (allocated) block, and ``local``
        (M,) its :func:`local_index`, when the caller knows them."""
        m = keys.numel()
        if block_ids is None:
            bk = block_keys(keys)
            block_ids = self._blocks.lookup(bk)
            missing = block_ids < 0
            if bool(missing.any()):
                block_ids[missing] = self.add_blocks(bk[missing])
        if self.size + m >= 1 << 31:
            raise ValueError(f"keys: at most {(1 << 31) - 1} voxels, got {self.size + m}")
        values = torch.arange(self.size, self.size + m, dtype=torch.int64, device=self.device)
        local = local_index(keys) if local is None else local
        self._slots[((block_ids + 1) << _BLOCK_BITS) | local] = values.to(torch.int32)
        if self.size + m > self._keys.numel():
            grown = torch.empty(max(self.size + m, 2 * self._keys.numel()), dtype=torch.int64, device=self.device)
            grown[: self.size] = self._keys[: self.size]
            self._keys = grown
        self._keys[self.size : self.size + m] = keys
        self.size += m
        return values

    @staticmethod
    def from_keys(keys: torch.Tensor) -> VoxelBlockIndex:
        """Rebuilds an index whose dense index ``n`` holds ``keys[n]`` (keys (N,) unique int64)."""
        keys = keys.to(torch.int64).reshape(-1)
        if keys.numel() and torch.unique(keys).numel() != keys.numel():
            raise ValueError("keys: expected unique voxel keys")
        index = VoxelBlockIndex(device=keys.device)
        if keys.numel():
            index.append(keys)
        return index
