"""The TSDF's storage: growth with the surface, exact state round trips, freed dead voxels, the voxel budget."""

from __future__ import annotations

import pytest
import torch

from tests.geometry.tsdf_scenes import TRUNC_VOXELS, VOXEL, make_cams, room_cams
from worldmem.geometry.cameras import Cameras
from worldmem.geometry.tsdf import SparseTSDF

pytestmark = pytest.mark.usefixtures("one_thread")


def test_storage_grows_with_surface_not_frames(scene):
    cam = make_cams([(0.0, 0.0, 1.5)], [(3.5, 0.3, 0.6)], 64)
    rgb, depth = scene.render(cam)
    twice = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS)
    twice.integrate(rgb.expand(2, -1, -1, -1), depth.expand(2, -1, -1, -1), Cameras.cat([cam, cam]))
    many = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS)
    for _ in range(10):
        many.integrate(rgb.expand(2, -1, -1, -1), depth.expand(2, -1, -1, -1), Cameras.cat([cam, cam]))
    assert many.num_allocated == twice.num_allocated and many.num_voxels == twice.num_voxels
    # A slowly moving camera keeps adding only the sliver of surface it newly sees.
    eyes = [(0.0, 0.01 * i, 1.5 + 0.005 * i) for i in range(20)]
    jittered = make_cams(eyes, [(3.5, 0.3, 0.6)] * 20, 64)
    walk = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS)
    rgb, depth = scene.render(jittered)
    walk.integrate(rgb, depth, jittered)
    assert walk.num_allocated < 1.15 * twice.num_allocated


def test_state_dict_round_trip_is_exact(scene):
    cams = room_cams(scene, 6, 48)
    rgb, depth = scene.render(cams)
    tsdf = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS, max_weight=2.5, carve_stride=1)
    for _ in range(3):
        tsdf.integrate(rgb[:4], depth[:4], cams[:4])
    assert float(tsdf.weights().max()) == 2.5  # the cap is reached
    loaded = SparseTSDF.from_state_dict({k: v.clone() for k, v in tsdf.state_dict().items()}, tsdf.config())
    for a, b in zip(tsdf.extract_points(), loaded.extract_points(), strict=True):
        assert torch.equal(a, b)
    assert loaded.num_voxels == tsdf.num_voxels and loaded.config() == tsdf.config()
    for t in (tsdf, loaded):
        t.integrate(rgb[4:], depth[4:], cams[4:])
        t.integrate(rgb[:2], depth[:2], cams[:2])  # revisits: carving and the weight cap act
    for key, value in tsdf.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    # Determinism: the same input gives the same map, bit for bit.
    again = SparseTSDF(**tsdf.config())
    for _ in range(3):
        again.integrate(rgb[:4], depth[:4], cams[:4])
    again.integrate(rgb[4:], depth[4:], cams[4:])
    again.integrate(rgb[:2], depth[:2], cams[:2])
    for key, value in tsdf.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def test_dead_voxels_are_freed_and_the_surface_stays(scene):
    cams = room_cams(scene, 6, 32)
    rgb, depth = scene.render(cams)
    tsdf = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS, carve_stride=1)
    tsdf.integrate(rgb, depth, cams)
    before = tsdf.extract_points()
    # Kill a third of the voxels by hand, as carving would: pruning frees exactly those, keeps the rest in order.
    n = tsdf.num_allocated
    dead = torch.arange(n) % 3 == 0
    keys_alive = tsdf.state_dict()["keys"][~dead]
    state = tsdf.state_dict()
    state["weight"][dead] = 0.0
    tsdf.load_state_dict(state)
    assert tsdf.prune() == int(dead.sum())
    assert tsdf.num_allocated == tsdf.num_voxels == n - int(dead.sum())
    assert torch.equal(tsdf.state_dict()["keys"], keys_alive)
    assert torch.equal(tsdf.lookup(keys_alive), torch.arange(keys_alive.numel()))
    assert tsdf.prune() == 0
    fresh = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS, carve_stride=1)
    fresh.integrate(rgb, depth, cams)
    assert before[0].shape == fresh.extract_points()[0].shape


def test_voxel_budget_evicts_the_least_recently_used(scene):
    cams = room_cams(scene, 8, 32)
    rgb, depth = scene.render(cams)
    full = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS)
    full.integrate(rgb, depth, cams)
    budget = full.num_voxels // 2
    tsdf = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS, max_voxels=budget)
    tsdf.integrate(rgb[:4], depth[:4], cams[:4])
    first_view = tsdf.state_dict()["keys"].clone()
    for i in range(4, 8):
        tsdf.integrate(rgb[i:i + 1], depth[i:i + 1], cams[i:i + 1])
        assert tsdf.num_voxels <= budget and tsdf.num_allocated <= budget
    # The newest frame's voxels survive; the places only the first frames saw went first.
    newest = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS)
    newest.integrate(rgb[7:], depth[7:], cams[7:])
    kept = tsdf.state_dict()["keys"]
    assert float(torch.isin(newest.state_dict()["keys"], kept).float().mean()) > 0.95
    only_first = first_view[~torch.isin(first_view, full.state_dict()["keys"][full.state_dict()["used"] > 4])]
    assert only_first.numel() and float(torch.isin(only_first, kept).float().mean()) < 0.5
    # The clock counts integrated frames (and touches, as renders under a budget make).
    state = tsdf.state_dict()
    assert int(state["clock"]) == 8 and int(state["used"].max()) == 8
    with pytest.raises(ValueError, match="max_voxels: expected None or an int >= 1"):
        SparseTSDF(max_voxels=0)


def test_state_must_hold_every_tensor(scene):
    """A state without the use clock (written before use tracking) is refused in one line naming the keys."""
    cams = room_cams(scene, 2, 16)
    rgb, depth = scene.render(cams)
    tsdf = SparseTSDF(voxel_size=VOXEL)
    tsdf.integrate(rgb, depth, cams)
    old = {k: v for k, v in tsdf.state_dict().items() if k not in ("used", "clock")}
    with pytest.raises(ValueError, match=r"^state: expected keys \['clock', 'color', 'keys', 'tsdf', 'used', 'weight'\], got "
                                         r"\['color', 'keys', 'tsdf', 'weight'\]$"):
        SparseTSDF.from_state_dict(old, tsdf.config())
    loaded = SparseTSDF.from_state_dict(tsdf.state_dict(), tsdf.config())
    assert torch.equal(loaded.extract_points()[0], tsdf.extract_points()[0])
    assert int(loaded.state_dict()["clock"]) == int(tsdf.state_dict()["clock"]) == 2
