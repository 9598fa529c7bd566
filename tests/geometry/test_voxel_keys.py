"""The voxel hash table and the one voxel-key packing (worldmem.geometry.voxel_hash)."""

from __future__ import annotations

import math

import pytest
import torch

from worldmem.geometry import voxel_hash
from worldmem.geometry.tsdf import SparseTSDF
from worldmem.geometry.voxel_hash import VoxelHashTable, pack_coords, unpack_keys

VOXEL = 0.05


def test_hash_table_matches_a_dict_through_growth(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    table = VoxelHashTable(capacity=16)
    reference: dict[int, int] = {}
    for batch in range(6):
        coords = torch.randint(-40, 40, (3000, 3), generator=gen)
        coords[:500] = coords[500:1000]  # duplicates inside a batch
        keys = pack_coords(coords)
        capacity_before = table.capacity
        indices, new_keys = table.insert(keys)
        fresh = sorted({k for k in keys.tolist() if k not in reference})
        assert new_keys.tolist() == fresh  # ascending, numbered in that order
        for k, i in zip(fresh, range(len(reference), len(reference) + len(fresh)), strict=True):
            reference[k] = i
        assert indices.tolist() == [reference[k] for k in keys.tolist()]
        assert table.size == len(reference) and table.size <= 0.5 * table.capacity
        if batch == 0:
            assert table.capacity > capacity_before  # grew and rehashed
    queries = pack_coords(torch.randint(-50, 50, (20000, 3), generator=gen))
    expected = [reference.get(k, -1) for k in queries.tolist()]
    assert table.lookup(queries).tolist() == expected
    assert torch.equal(table.keys, torch.tensor(list(reference)))
    assert (table.lookup(queries) == -1).any()
    # A tight probe-round limit makes inserts overflow and take the grow-and-rehash path even though the load
    # factor alone would not require growing.
    monkeypatch.setattr(voxel_hash, "_MAX_PROBE_ROUNDS", 6)
    more = pack_coords(torch.randint(-60, 60, (5000, 3), generator=gen))
    indices, _ = table.insert(more)
    load_capacity = 1 << math.ceil(math.log2(2 * table.size))  # what the load factor alone requires
    assert table.capacity > load_capacity
    for k, i in zip(more.tolist(), indices.tolist(), strict=True):
        assert reference.setdefault(k, i) == i
    assert table.lookup(queries).tolist() == [reference.get(k, -1) for k in queries.tolist()]
    rebuilt = VoxelHashTable.from_keys(table.keys)
    assert torch.equal(rebuilt.lookup(queries), table.lookup(queries))


def test_pack_unpack_round_trip():
    lim = voxel_hash.COORD_LIMIT
    coords = torch.tensor([[0, 0, 0], [-lim, lim, -1], [lim, -lim, 7], [-3, 5, lim]])
    keys = pack_coords(coords)
    assert (keys >= 0).all() and (keys < voxel_hash.EMPTY_KEY).all()
    assert torch.equal(unpack_keys(keys), coords)


def test_point_keys_are_the_tsdf_keys_and_check_their_range():
    g = torch.Generator().manual_seed(0)
    points = (torch.rand(500, 3, generator=g) - 0.5) * 20
    keys = voxel_hash.point_keys(points, VOXEL)
    # The one packing: visibility sets (worldmem.geometry.points) and the TSDF get the same keys.
    assert torch.equal(keys, SparseTSDF(voxel_size=VOXEL).voxel_keys(points))
    assert torch.equal(unpack_keys(keys), torch.floor(points / VOXEL).to(torch.int64))
    centers = voxel_hash.key_centers(keys, VOXEL)
    assert torch.equal(centers, (torch.floor(points / VOXEL) + 0.5) * VOXEL)
    assert float((centers - points).abs().max()) <= VOXEL / 2 + 1e-6
    lim = voxel_hash.COORD_LIMIT
    assert torch.equal(voxel_hash.point_keys(torch.tensor([[lim + 0.5, -lim + 0.5, 0.0]]), 1.0),
                       pack_coords(torch.tensor([[lim, -lim, 0]])))
    with pytest.raises(ValueError, match="voxel key range"):
        voxel_hash.point_keys(torch.tensor([[lim + 1.5, 0.0, 0.0]]), 1.0)
