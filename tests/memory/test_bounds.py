"""The memory's bounds: the default voxel budget under a noisy write stream, the sizes a saved memory may claim,
and the documented numeric edges (depth that is all unknown, identical cameras)."""

from __future__ import annotations

import pytest
import torch

from worldmem.geometry import trajectories
from worldmem.memory import MemoryConfig, WorldMemory
from worldmem.memory.config import DEFAULT_MAX_VOXELS, SpatialConfig
from worldmem.memory.spatial import SpatialMemory


def test_the_map_has_a_default_budget_and_zero_still_opts_out():
    assert SpatialConfig().max_voxels == DEFAULT_MAX_VOXELS
    assert SpatialMemory().tsdf.max_voxels == DEFAULT_MAX_VOXELS
    assert SpatialMemory(SpatialConfig(max_voxels=0)).tsdf.max_voxels is None
    # A config saved before the budget existed (no max_voxels key, as the shipped model's) gets the default.
    assert MemoryConfig.from_dict({"spatial": {"voxel_size": 0.02}}).spatial.max_voxels == DEFAULT_MAX_VOXELS


def _noisy_stream(memory: SpatialMemory, frames: int, seed: int = 0):
    """What a random model writes back: random colours and random depth (0.2 .. 3.2) along a loop, 4 at a time;
    yields the live voxel count after each write (and a read, which marks what it renders as used)."""
    g = torch.Generator().manual_seed(seed)
    cams = trajectories.loop(frames, radius=0.5, height=32, width=32)
    for start in range(0, frames, 4):
        c = cams[start:start + 4]
        memory.write(torch.rand(len(c), 3, 32, 32, generator=g), 0.2 + 3 * torch.rand(len(c), 1, 32, 32, generator=g), c)
        memory.render(c)
        yield memory.num_voxels


@pytest.mark.slow
def test_a_noisy_write_stream_stays_within_the_budget():
    budget = 8_000
    bounded = SpatialMemory(SpatialConfig(voxel_size=0.05, max_voxels=budget))
    counts = list(_noisy_stream(bounded, 32))
    assert max(counts) <= budget and counts[-1] >= 0.5 * budget, counts  # full, never over
    unbounded = SpatialMemory(SpatialConfig(voxel_size=0.05, max_voxels=0))
    grown = list(_noisy_stream(unbounded, 32))
    assert grown[-1] > 3 * budget, grown  # the same stream without a budget keeps growing


def test_the_default_budget_holds_the_shipped_maps():
    # The largest map a shipped configuration reaches is the tiny model's loop, 246-259 k voxels (docs/memory.md);
    # 572 k with an ablated gate. The default leaves room for several times that, so none of them evicts.
    assert DEFAULT_MAX_VOXELS >= 3 * 572_000


@pytest.mark.parametrize("spatial, key", [({"sky_resolution": 10**5}, "sky_resolution"),
                                          ({"render_supersample": 9}, "render_supersample"),
                                          ({"max_splat_px": 40, "render_supersample": 2}, "max_splat_px")])
def test_config_sizes_are_bounded(spatial, key):
    with pytest.raises(ValueError, match=key):
        MemoryConfig.from_dict({"spatial": spatial})


def _scene():
    from tests.synthetic.scene_paths import out_and_back_in_scene
    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=3, kind="room")
    cams = out_and_back_in_scene(scene, 4, 32)
    frames, depth = scene.render(cams)
    return frames, depth, cams


def test_all_unknown_depth_after_the_first_write_fuses_nothing_but_counts_the_frames():
    frames, depth, cams = _scene()
    mem = WorldMemory()
    mem.write(frames[:2], depth[:2], cams[:2])
    voxels = mem.spatial.tsdf.state_dict()
    mem.write(frames[2:], torch.zeros_like(depth[2:]), cams[2:])
    assert mem.num_frames == 4 and len(mem.working) == 4
    after = mem.spatial.tsdf.state_dict()
    assert all(torch.equal(voxels[k], after[k]) for k in ("keys", "tsdf", "weight", "color"))


def test_the_first_write_needs_known_depth_in_range():
    frames, depth, cams = _scene()
    for bad, match in ((torch.zeros_like(depth), "some positive"), (torch.full_like(depth, 1e30), "scene scale"),
                       (torch.full_like(depth, 1e-40), "scene scale")):
        mem = WorldMemory()
        with pytest.raises(ValueError, match=f"depth: .*{match}"):
            mem.write(frames, bad, cams)
        assert mem.scene_scale is None and mem.num_frames == 0  # nothing fixed by the refused write


def test_identical_cameras_are_a_static_camera():
    frames, depth, cams = _scene()
    same = cams[:1][[0] * 200]
    mem = WorldMemory()
    mem.write(frames[:1].expand(200, -1, -1, -1), depth[:1].expand(200, -1, -1, -1), same)
    out = mem.read(same[:4])
    assert mem.num_frames == 200 and len(mem.episodic) == 1  # one view: one keyframe
    assert bool(out.reference.mask.any())


def test_a_memory_holds_at_most_max_frames(monkeypatch):
    from worldmem.memory import world

    frames, depth, cams = _scene()
    monkeypatch.setattr(world, "MAX_FRAMES", 3)
    mem = WorldMemory()
    with pytest.raises(ValueError, match="frames: a memory holds at most 3 frames"):
        mem.write(frames, depth, cams)
