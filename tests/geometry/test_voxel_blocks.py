"""The two-level voxel index (worldmem.geometry.voxel_blocks) and the band voxel sets the TSDF builds with it."""

from __future__ import annotations

import pytest
import torch

from tests.geometry.tsdf_scenes import TRUNC_VOXELS, VOXEL, room_cams
from worldmem.geometry import tsdf_fusion
from worldmem.geometry.tsdf import SparseTSDF
from worldmem.geometry.voxel_blocks import VoxelBlockIndex, block_keys, local_index
from worldmem.geometry.voxel_keys import pack_coords

pytestmark = pytest.mark.usefixtures("one_thread")


def test_index_matches_a_dict():
    gen = torch.Generator().manual_seed(0)
    index = VoxelBlockIndex()
    reference: dict[int, int] = {}
    for _ in range(6):
        coords = torch.randint(-40, 40, (3000, 3), generator=gen)  # negative coordinates: blocks floor
        coords[:500] = coords[500:1000]  # duplicates inside a batch
        keys = pack_coords(coords)
        indices, new_keys = index.insert(keys)
        fresh = sorted({k for k in keys.tolist() if k not in reference})
        assert new_keys.tolist() == fresh  # ascending, numbered in that order
        for k in fresh:
            reference[k] = len(reference)
        assert indices.tolist() == [reference[k] for k in keys.tolist()]
    queries = pack_coords(torch.randint(-50, 50, (20000, 3), generator=gen))
    expected = torch.tensor([reference.get(k, -1) for k in queries.tolist()])
    assert torch.equal(index.lookup(queries), expected) and bool((expected == -1).any())
    assert torch.equal(index.keys, torch.tensor(list(reference)))
    rebuilt = VoxelBlockIndex.from_keys(index.keys)
    assert torch.equal(rebuilt.lookup(queries), expected)
    # Blocks: 80^3 coordinates in [-40, 40) span exactly 10^3 blocks of 8^3.
    assert index.num_blocks == 1000
    with pytest.raises(ValueError, match="keys: expected unique"):
        VoxelBlockIndex.from_keys(torch.cat([index.keys[:3], index.keys[:1]]))


def test_block_keys_and_box_lookup():
    coords = torch.tensor([[-1, -8, 7], [-9, 0, 15], [8, 8, -16]])
    keys = pack_coords(coords)
    assert torch.equal(block_keys(keys), pack_coords(torch.div(coords, 8, rounding_mode="floor") * 8))
    assert local_index(keys).tolist() == [7 * 64 + 0 * 8 + 7, 7 * 64 + 0 + 7, 0]
    index = VoxelBlockIndex()
    index.insert(keys)
    grid = index.box_blocks(torch.tensor([-2, -1, -2]), (3, 2, 4))  # blocks (-2..0, -1..0, -2..1)
    found = (grid >= 0).nonzero().tolist()
    # Box-relative block coordinates of the three voxels' blocks: (-1, -1, 0), (-2, 0, 1), (1, 1, -2) is outside.
    assert sorted(found) == [[0, 1, 3], [1, 0, 2]]
    assert index.voxels_in(grid[1, 0, 2].expand(1), local_index(keys[:1])).tolist() == [1]  # dense: key order


def test_band_voxels_bitmap_and_sorting_paths_agree(scene, monkeypatch):
    """The band's voxel set is deduplicated in a bitmap over its box, or by sorting when the box is large:
    the same voxels, keys, indices and allocations either way (and thus the same map)."""
    cams = room_cams(scene, 4, 24)
    rgb, depth = scene.render(cams)
    maps = {}
    for limit in (tsdf_fusion._BOX_CELLS_PER_SAMPLE, 0):  # 0: every box is too large, always sort
        monkeypatch.setattr(tsdf_fusion, "_BOX_CELLS_PER_SAMPLE", limit)
        tsdf = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS, carve_stride=1)
        tsdf.integrate(rgb[:2], depth[:2], cams[:2])
        index = VoxelBlockIndex.from_keys(tsdf.state_dict()["keys"])  # the map's voxels, in its dense order
        c = cams[1:2].to(dtype=torch.float32)  # seen already: most of its band is stored, not all
        d = depth[1, 0]
        coords, idx, allocate = tsdf_fusion.band_voxels(index, d, d > 0, c.centers[0], c.cam_from_world[0], c.K[0],
                                                        voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS)
        keys = pack_coords(coords)
        assert torch.equal(keys, torch.unique(keys))  # ascending, no duplicates
        assert torch.equal(idx, tsdf.lookup(keys)) and bool((idx >= 0).any()) and bool((idx < 0).any())
        fresh = allocate(idx < 0)
        assert torch.equal(fresh, torch.arange(tsdf.num_allocated, tsdf.num_allocated + fresh.numel()))
        assert torch.equal(index.lookup(keys[idx < 0]), fresh)
        tsdf.integrate(rgb[2:], depth[2:], cams[2:])
        maps[limit] = (keys, idx, fresh, tsdf.state_dict())
    (k1, i1, f1, s1), (k2, i2, f2, s2) = maps.values()
    assert torch.equal(k1, k2) and torch.equal(i1, i2) and torch.equal(f1, f2)
    for name, value in s1.items():
        assert torch.equal(value, s2[name]), name

