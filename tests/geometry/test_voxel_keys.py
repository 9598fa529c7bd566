"""The voxel hash table and the one voxel-key packing (worldmem.geometry.voxel_keys)."""

from __future__ import annotations

import pytest
import torch

from worldmem.geometry import voxel_keys
from worldmem.geometry.tsdf import SparseTSDF
from worldmem.geometry.voxel_keys import pack_coords, unpack_keys

VOXEL = 0.05


def test_pack_unpack_round_trip():
    lim = voxel_keys.COORD_LIMIT
    coords = torch.tensor([[0, 0, 0], [-lim, lim, -1], [lim, -lim, 7], [-3, 5, lim]])
    keys = pack_coords(coords)
    assert (keys >= 0).all() and (keys < torch.iinfo(torch.int64).max).all()
    assert torch.equal(unpack_keys(keys), coords)
    # Keys sort as their coordinates do, lexicographically by (i, j, k) (the TSDF's band voxels rely on it).
    g = torch.Generator().manual_seed(0)
    many = torch.cat([coords, torch.randint(-lim, lim + 1, (2000, 3), generator=g),
                      torch.randint(-3, 4, (2000, 3), generator=g)])
    by_key = unpack_keys(torch.sort(pack_coords(many)).values).tolist()
    assert by_key == sorted(many.tolist())


def test_point_keys_are_the_tsdf_keys_and_check_their_range():
    g = torch.Generator().manual_seed(0)
    points = (torch.rand(500, 3, generator=g) - 0.5) * 20
    keys = voxel_keys.point_keys(points, VOXEL)
    # The one packing: visibility sets (worldmem.geometry.points) and the TSDF get the same keys.
    assert torch.equal(keys, SparseTSDF(voxel_size=VOXEL).voxel_keys(points))
    assert torch.equal(unpack_keys(keys), torch.floor(points / VOXEL).to(torch.int64))
    centers = voxel_keys.key_centers(keys, VOXEL)
    assert torch.equal(centers, (torch.floor(points / VOXEL) + 0.5) * VOXEL)
    assert float((centers - points).abs().max()) <= VOXEL / 2 + 1e-6
    lim = voxel_keys.COORD_LIMIT
    assert torch.equal(voxel_keys.point_keys(torch.tensor([[lim + 0.5, -lim + 0.5, 0.0]]), 1.0),
                       pack_coords(torch.tensor([[lim, -lim, 0]])))
    with pytest.raises(ValueError, match="voxel key range"):
        voxel_keys.point_keys(torch.tensor([[lim + 1.5, 0.0, 0.0]]), 1.0)
