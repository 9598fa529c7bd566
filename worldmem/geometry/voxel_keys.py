"""An open-addressing hash table from integer voxel coordinates to dense indices, in vectorised torch.

Used by :class:`worldmem.geometry.tsdf.SparseTSDF` to keep per-voxel state in dense, growable arrays while
only voxels near observed surfaces exist.

Conventions:

- A voxel is an integer coordinate triple ``(i, j, k)`` with ``|i|, |j|, |k| <= COORD_LIMIT``; it is packed
  into one int64 key ``((i + B) << 42) | ((j + B) << 21) | (k + B)`` with ``B = 2**20``. Every packed key is
  in ``[0, 2**63 - 1)``, which leaves ``2**63 - 1`` free to mark an empty slot.
- Dense indices are ``0 .. size - 1`` in insertion order; within one :meth:`VoxelHashTable.insert` call the
  new keys are numbered in ascending key order, so the mapping depends only on the sequence of calls and is
  reproducible.
- Keys are never deleted (a voxel that becomes empty keeps its slot and index), so lookups need no
  tombstones.

Insert and lookup run a bounded number of linear-probing rounds, each one vectorised over all pending keys.
Write conflicts (several new keys wanting one empty slot in the same round) are resolved deterministically
with ``scatter_reduce('amin')``: the smallest key wins and the others probe on. The table doubles and
rehashes when its load factor would exceed 0.5.
"""

from __future__ import annotations

import torch

__all__ = ["VoxelHashTable", "pack_coords", "unpack_keys", "point_keys", "key_centers", "COORD_LIMIT", "EMPTY_KEY"]

_BITS = 21
_BIAS = 1 << (_BITS - 1)
_FIELD_MASK = (1 << _BITS) - 1
# One less than the bias on the positive side so that no packed key can equal EMPTY_KEY.
COORD_LIMIT = _BIAS - 2
EMPTY_KEY = torch.iinfo(torch.int64).max
_MAX_LOAD = 0.5
# Probing rounds allowed for one insert before the table is grown instead; at load <= 0.5 the longest probe
# sequence is normally far shorter, so hitting this means a pathological cluster that growing breaks up.
_MAX_PROBE_ROUNDS = 64


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


def _hash(keys: torch.Tensor) -> torch.Tensor:
    """Non-negative int64 hash of packed keys.

    Every intermediate product stays below 2**63: torch int64 overflow is undefined behaviour in C++, so the
    mixer multiplies only values masked to 32 bits by constants below 2**28.
    """
    i = (keys >> (2 * _BITS)) & _FIELD_MASK
    j = (keys >> _BITS) & _FIELD_MASK
    k = keys & _FIELD_MASK
    h = (i * 73856093) ^ (j * 19349669) ^ (k * 83492791)  # < 2**48
    h = h ^ (h >> 24)
    h = (h & 0xFFFFFFFF) * 0x045D9F3B  # < 2**59
    return h ^ (h >> 29)


class VoxelHashTable:
    """Packed voxel key (int64) -> dense index (int64), open addressing with linear probing.

    Attributes:
        size: number of stored keys (dense indices are ``0 .. size - 1``).
        capacity: number of slots (a power of two, load factor kept <= 0.5).
        keys: (size,) the stored keys in dense-index order.
    """

    def __init__(self, capacity: int = 1024, device: torch.device | str = "cpu") -> None:
        if capacity < 2 or capacity & (capacity - 1):
            raise ValueError(f"capacity: expected a power of two >= 2, got {capacity}")
        self.device = torch.device(device)
        self._slot_keys = torch.full((capacity,), EMPTY_KEY, dtype=torch.int64, device=self.device)
        self._slot_vals = torch.full((capacity,), -1, dtype=torch.int64, device=self.device)
        self._keys = torch.empty(max(capacity // 2, 1), dtype=torch.int64, device=self.device)
        self.size = 0
        # The longest probe distance of any stored key: lookups never need more rounds than this + 1.
        self._max_probe = 0

    @property
    def capacity(self) -> int:
        return self._slot_keys.numel()

    @property
    def keys(self) -> torch.Tensor:
        return self._keys[: self.size]

    def lookup(self, keys: torch.Tensor) -> torch.Tensor:
        """Dense indices (N,) int64 of ``keys`` (N,), -1 for keys not in the table."""
        keys = keys.to(device=self.device, dtype=torch.int64).reshape(-1)
        if keys.numel() == 0 or self.size == 0:
            return torch.full_like(keys, -1)
        mask = self.capacity - 1
        home = _hash(keys)
        # Round 0 runs on the full arrays (most keys end there), later rounds on the shrinking remainder.
        slot = home & mask
        found_key = self._slot_keys[slot]
        hit = found_key == keys
        out = torch.where(hit, self._slot_vals[slot], -1)
        # A key absent from the table ends at the first empty slot of its probe sequence.
        active = (~hit & (found_key != EMPTY_KEY)).nonzero()[:, 0]
        for r in range(1, self._max_probe + 1):
            if active.numel() == 0:
                break
            slot = (home[active] + r) & mask
            found_key = self._slot_keys[slot]
            hit = found_key == keys[active]
            out[active[hit]] = self._slot_vals[slot[hit]]
            active = active[~hit & (found_key != EMPTY_KEY)]
        return out

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
        m = new_keys.numel()
        if m:
            self._reserve(self.size + m)
            new_vals = torch.arange(self.size, self.size + m, device=self.device)
            self._keys[self.size : self.size + m] = new_keys
            self.size += m
            if not self._place(new_keys, new_vals):
                # A probe sequence exceeded the round limit: grow and rebuild from self._keys, which already
                # holds the new keys.
                self._rehash(self.capacity * 2)
            idx[missing] = new_vals
        return idx[inverse], new_keys

    def _reserve(self, n: int) -> None:
        """Grows the slot table (load <= 0.5) and the dense key array (amortised doubling) for n keys."""
        if n > self._keys.numel():
            cap = self._keys.numel()
            while cap < n:
                cap *= 2
            grown = torch.empty(cap, dtype=torch.int64, device=self.device)
            grown[: self.size] = self._keys[: self.size]
            self._keys = grown
        cap = self.capacity
        while n > _MAX_LOAD * cap:
            cap *= 2
        if cap != self.capacity:
            self._rehash(cap)

    def _rehash(self, capacity: int) -> None:
        """Rebuilds the slots at ``capacity`` (doubling further if needed) from the stored keys."""
        while True:
            self._slot_keys = torch.full((capacity,), EMPTY_KEY, dtype=torch.int64, device=self.device)
            self._slot_vals = torch.full((capacity,), -1, dtype=torch.int64, device=self.device)
            self._max_probe = 0
            # Placed in dense-index order, so the slot layout depends only on the stored keys.
            if self._place(self._keys[: self.size], torch.arange(self.size, device=self.device)):
                return
            capacity *= 2

    def _place(self, keys: torch.Tensor, vals: torch.Tensor) -> bool:
        """Writes unique keys that are absent from the slots; False if the probe-round limit was reached.

        On False some keys may already be placed; the caller rehashes, which rebuilds the slots from
        ``self._keys`` (which already holds every key), so no partial state survives.
        """
        mask = self.capacity - 1
        home = _hash(keys)
        offset = torch.zeros_like(keys)
        pending = torch.arange(keys.numel(), device=self.device)
        for _ in range(_MAX_PROBE_ROUNDS):
            if pending.numel() == 0:
                return True
            slot = (home[pending] + offset[pending]) & mask
            free = self._slot_keys[slot] == EMPTY_KEY
            cand, cand_slot = pending[free], slot[free]
            # Deterministic conflict resolution: every empty slot takes the smallest key aimed at it
            # (EMPTY_KEY is the int64 maximum, so 'amin' with include_self only ever fills empty slots).
            self._slot_keys.scatter_reduce_(0, cand_slot, keys[cand], reduce="amin", include_self=True)
            won = self._slot_keys[cand_slot] == keys[cand]
            self._slot_vals[cand_slot[won]] = vals[cand[won]]
            if bool(won.any()):
                self._max_probe = max(self._max_probe, int(offset[cand[won]].max()))
            placed = torch.zeros(pending.numel(), dtype=torch.bool, device=self.device)
            placed[free.nonzero()[:, 0][won]] = True
            pending = pending[~placed]
            offset[pending] += 1
        return pending.numel() == 0

    @staticmethod
    def from_keys(keys: torch.Tensor) -> VoxelHashTable:
        """Rebuilds a table whose dense index ``n`` holds ``keys[n]`` (keys (N,) unique int64)."""
        keys = keys.to(torch.int64).reshape(-1)
        n = keys.numel()
        if n and torch.unique(keys).numel() != n:
            raise ValueError("keys: expected unique voxel keys")
        table = VoxelHashTable(capacity=1024, device=keys.device)
        table._reserve(n)
        table._keys[:n] = keys
        table.size = n
        table._rehash(table.capacity)
        return table
