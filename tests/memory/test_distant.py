"""The distant (sky) layer: colours of unknown-depth pixels remembered by direction, read from anywhere."""

import pytest
import torch

from worldmem.geometry import trajectories
from worldmem.geometry.cubemap import pixel_directions
from worldmem.memory import WorldMemory
from worldmem.memory.config import MemoryConfig, SpatialConfig
from worldmem.memory.distant import DistantMemory
from worldmem.memory.spatial import SpatialMemory
from worldmem.synthetic import SyntheticScene


def _sky_colour(dirs: torch.Tensor) -> torch.Tensor:
    """A smooth colour per direction (..., 3) -> (..., 3) in [0, 1]."""
    d = dirs / dirs.norm(dim=-1, keepdim=True)
    return torch.stack([0.5 + 0.4 * d[..., 0], 0.5 + 0.4 * d[..., 1], 0.5 + 0.4 * d[..., 2] * d[..., 0]], -1)


def _frames_of(cams):
    return _sky_colour(pixel_directions(cams)).permute(0, 3, 1, 2).float()


def _cams(eye, yaw_deg=0.0):
    import math

    a = math.radians(yaw_deg)
    eye = torch.tensor([eye], dtype=torch.float32)
    target = eye + torch.tensor([[math.cos(a), math.sin(a), 0.1]])
    return trajectories.look_at(eye, target, 24, 32, fov_deg=70)


def test_sky_seen_from_elsewhere_is_the_same_and_only_unknown_depth_is_written():
    sky = DistantMemory(48)
    a = _cams((0.0, 0.0, 1.0))
    frames = _frames_of(a)
    depth = torch.zeros(1, 1, 24, 32)
    depth[..., 12:, :] = 2.0  # the lower half is a surface: not the sky's business
    sky.write(frames, depth, a)
    # Another place, the same view direction: no parallax at infinity.
    b = _cams((3.0, -2.0, 1.5))
    out = sky.render(b)
    assert out.depth.abs().sum() == 0
    assert bool(out.mask[..., :10, :].all()) and not bool(out.mask[..., 14:, :].any())
    err = (out.rgb - _frames_of(b)).abs()[out.mask.expand_as(out.rgb)]
    assert float(err.max()) < 0.03
    # Turned 40 degrees: the part of the view that overlaps the written sky is covered with the right colours.
    c = _cams((0.0, 0.0, 1.0), yaw_deg=40.0)
    out_c = sky.render(c, supersample=2)
    covered = out_c.mask[0, 0, :10]
    assert 0.2 < float(covered.float().mean()) < 0.8
    err = (out_c.rgb - _frames_of(c)).abs()[out_c.mask.expand_as(out_c.rgb)]
    assert float(err.max()) < 0.03
    # The mask restricts what is written; nothing known is written at all.
    empty = DistantMemory(48)
    empty.write(frames, depth, a, mask=torch.zeros(1, 1, 24, 32, dtype=torch.bool))
    assert empty.render(a) is None
    empty.write(frames, torch.ones(1, 1, 24, 32), a)
    assert empty.num_bins_written == 0


def test_world_memory_reads_the_sky_where_no_surface_is_and_saves_it(tmp_path):
    scene = SyntheticScene.random(seed=5, kind="courtyard")
    cams = trajectories.out_and_back(8, start=(-1.0, 0.0, 1.2), distance=1.5, yaw_sweep_deg=30, pitch_deg=15,
                                     height=32, width=32, fov_deg=70)
    frames, depth = scene.render(cams)
    assert 0.05 < float((depth == 0).float().mean()) < 0.9  # the courtyard shows sky
    config = MemoryConfig(spatial=SpatialConfig(voxel_size=0.05, sky_resolution=64))
    memory = WorldMemory(config)
    memory.write(frames[:4], depth[:4], cams[:4])
    readout = memory.read(cams[4:])
    sky = readout.distant
    assert sky is not None and not bool((sky.mask & readout.reference.mask).any())
    truth_sky = (depth[4:] == 0) & sky.mask
    assert int(truth_sky.sum()) > 50
    err = (sky.rgb - frames[4:]).abs()[truth_sky.expand_as(sky.rgb)]
    assert float(err.mean()) < 0.03
    # Without the layer nothing changes for the model, and no distant readout is made.
    plain = WorldMemory(MemoryConfig(spatial=SpatialConfig(voxel_size=0.05)))
    plain.write(frames[:4], depth[:4], cams[:4])
    assert plain.read(cams[4:]).distant is None
    torch.testing.assert_close(plain.read(cams[4:]).reference.rgb, readout.reference.rgb, rtol=0, atol=0)
    # Save / load: the same sky.
    memory.save(tmp_path / "m")
    again = WorldMemory.load(tmp_path / "m").read(cams[4:]).distant
    assert torch.equal(again.rgb, sky.rgb) and torch.equal(again.mask, sky.mask)


def test_state_without_a_sky_loads_empty_and_a_sky_needs_the_config():
    with_sky = SpatialMemory(SpatialConfig(sky_resolution=8))
    without = SpatialMemory(SpatialConfig())
    a = _cams((0.0, 0.0, 1.0))
    with_sky.write(_frames_of(a), torch.zeros(1, 1, 24, 32), a)
    assert with_sky.render_distant(a) is not None
    with pytest.raises(ValueError, match="sky_resolution 0"):
        without.load_state_dict(with_sky.state_dict())
    with_sky.load_state_dict(without.state_dict())  # a memory saved before the layer existed
    assert with_sky.render_distant(a) is None
    state = SpatialMemory(SpatialConfig(sky_resolution=8)).state_dict()
    state["sky.weight"] = state["sky.weight"][:5]
    with pytest.raises(ValueError, match=r"sky.weight: expected a float tensor of shape \(384,\)"):
        with_sky.load_state_dict(state)
    with pytest.raises(ValueError, match="sky_resolution"):
        SpatialConfig(sky_resolution=-1)
