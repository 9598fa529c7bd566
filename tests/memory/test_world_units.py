"""WorldMemory speaks scene units at its boundary and normalises inside: no caller converts units."""

import pytest
import torch

from worldmem.geometry import trajectories as tr
from worldmem.memory import MemoryConfig, WorkingConfig, WorldMemory
from worldmem.synthetic import SyntheticScene

SIZE = 32


@pytest.fixture(scope="module")
def walk():
    scene = SyntheticScene.random(seed=2, dynamic=False, kind="room")
    lo, hi = scene.free_box
    cams = tr.out_and_back(12, start=((lo + hi) / 2).tolist(), heading_deg=20.0, distance=1.0, yaw_sweep_deg=90.0,
                           height=SIZE, width=SIZE)
    frames, depth = scene.render(cams)
    return frames, depth, cams


def scaled(cams, k: float):
    return cams.transform_world(torch.eye(4), scale=k)


def test_readout_does_not_depend_on_the_scene_unit(walk):
    """The same world in two units gives the same readout (what the model sees). A power-of-two factor keeps
    every float operation exact, so the two maps are identical voxel for voxel."""
    frames, depth, cams = walk
    config = MemoryConfig(working=WorkingConfig(window=3))
    a, b = WorldMemory(config), WorldMemory(config)
    a.write(frames[:6], depth[:6], cams[:6])
    b.write(frames[:6], depth[:6] * 128.0, scaled(cams[:6], 128.0))
    assert b.scene_scale == pytest.approx(128.0 * a.scene_scale, rel=1e-6)
    assert a.spatial.num_voxels == b.spatial.num_voxels
    ra, rb = a.read(cams[6:10]), b.read(scaled(cams[6:10], 128.0))
    torch.testing.assert_close(ra.spatial.rgb, rb.spatial.rgb, atol=1e-4, rtol=0)
    torch.testing.assert_close(ra.reference.depth, rb.reference.depth, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ra.target_cameras.cam_from_world, rb.target_cameras.cam_from_world, atol=1e-5, rtol=0)
    assert torch.equal(ra.keyframes.indices, rb.keyframes.indices)
    # The readout is in normalised units: the map's depth has median about 1 where the first frames had it.
    known = ra.reference.depth[ra.reference.depth > 0]
    assert 0.5 < float(known.median()) < 2.0
    # render() and surface_points() come back in scene units.
    da, db = a.render(cams[6:10]).depth, b.render(scaled(cams[6:10], 128.0)).depth
    torch.testing.assert_close(db, da * 128.0, atol=1e-2, rtol=1e-4)
    torch.testing.assert_close(a.render(cams[6:10]).depth, ra.reference.depth * a.scene_scale)
    pa, pb = a.surface_points()[0], b.surface_points()[0]
    torch.testing.assert_close(pb, pa * 128.0, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(a.last_camera().centers, cams[5:6].centers, atol=1e-5, rtol=0)


def test_read_returns_exactly_what_the_model_sees(walk):
    frames, depth, cams = walk
    mem = WorldMemory(MemoryConfig(working=WorkingConfig(window=3)))
    mem.write(frames[:6], depth[:6], cams[:6])
    full = mem.read(cams[6:10])
    assert full.working.indices.tolist() == [3, 4, 5]
    two = mem.read(cams[6:10], working_window=2)
    assert two.working.indices.tolist() == [4, 5] and torch.equal(two.working.frames, full.working.frames[1:])
    off = mem.read(cams[6:10], working_window=0, use_spatial=False, use_episodic=False)
    assert off.working is None and off.spatial is None and off.keyframes is None
    # The map is still rendered for the write-back's alignment, as a separate field.
    assert torch.equal(off.reference.depth, full.spatial.depth) and full.reference is full.spatial
    with pytest.raises(ValueError, match=r"working_window: expected an int in \[0, 3\]"):
        mem.read(cams[6:10], working_window=4)


def test_scale_is_fixed_by_the_first_write_and_saved(walk, tmp_path):
    frames, depth, cams = walk
    mem = WorldMemory()
    assert mem.scene_scale is None
    with pytest.raises(ValueError, match="read: the memory is empty"):
        mem.read(cams[:2])
    mem.write(frames[:4], depth[:4], cams[:4])
    assert mem.scene_scale == pytest.approx(float(depth[:4][depth[:4] > 0].median()))
    first = mem.scene_scale
    mem.write(frames[4:6], depth[4:6] * 3.0, cams[4:6])  # later writes never change it
    assert mem.scene_scale == first
    mem.save(tmp_path / "m")
    assert WorldMemory.load(tmp_path / "m").scene_scale == first
    fixed = WorldMemory(scene_scale=1.0)
    fixed.write(frames[:4], depth[:4], cams[:4])
    assert fixed.scene_scale == 1.0
    with pytest.raises(ValueError, match="scene_scale: expected a finite value > 0"):
        WorldMemory(scene_scale=0.0)
    with pytest.raises(ValueError, match="depth: expected some positive"):
        WorldMemory().write(frames[:1], torch.zeros_like(depth[:1]), cams[:1])


def test_write_generated_writes_at_the_readout_cameras_and_returns_scene_depth(walk):
    frames, depth, cams = walk
    a, b = WorldMemory(), WorldMemory()
    for m in (a, b):
        m.write(frames[:6], depth[:6], cams[:6])
    readout = a.read(cams[6:8])
    back = a.write_generated(frames[6:8], depth[6:8] / a.scene_scale, readout)
    torch.testing.assert_close(back, depth[6:8])
    b.write(frames[6:8], depth[6:8], cams[6:8])
    assert a.num_frames == b.num_frames == 8 and a.spatial.num_voxels == b.spatial.num_voxels
    torch.testing.assert_close(a.read(cams[8:]).spatial.rgb, b.read(cams[8:]).spatial.rgb, atol=1e-4, rtol=0)
    # fuse() touches the map only.
    c = a.empty_like()
    assert c.scene_scale == a.scene_scale and c.num_frames == 0
    c.fuse(frames[:6], depth[:6], cams[:6])
    assert c.num_frames == 0 and len(c.working) == 0 and c.spatial.num_voxels > 0
