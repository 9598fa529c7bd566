"""Each reader reads a fixture written in its exact format from a synthetic scene and recovers the cameras
(in our convention) within 1e-5, the frames within 8-bit rounding and the depth within its quantisation."""

import dataclasses

import numpy as np
import pytest
import torch

from tests.data import fixtures
from worldmem.data import READERS, ClipError, CurationConfig, parse_source
from worldmem.data.clip import fit_cameras, fit_depth, fit_frames
from worldmem.data.readers import synthetic as syn

H = W = 48
CFG = CurationConfig(image_size=(H, W), min_source_frames=4, source_frames=8, synthetic_frames=12, target_frames=2,
                     working_frames=1, synthetic_supersample=1)


def load_one(kind, path, config=CFG, depth_dir=None):
    refs = READERS[kind].list_clips(str(path))
    assert len(refs) == 1
    return READERS[kind].load_clip(refs[0], config, None if depth_dir is None else str(depth_dir))


def assert_same_cameras(got, want, atol=1e-5):
    assert (got.height, got.width) == (want.height, want.width)
    assert torch.allclose(got.cam_from_world, want.cam_from_world, atol=atol), \
        float((got.cam_from_world - want.cam_from_world).abs().max())
    assert torch.allclose(got.K, want.K, atol=atol), float((got.K - want.K).abs().max())


def assert_frames(clip, frames, depth, depth_atol):
    assert clip.frames.shape == frames.shape
    assert float((clip.frames - frames).abs().max()) <= 0.5 / 255 + 1e-6
    assert float((clip.depth - depth).abs().max()) <= depth_atol


def test_realestate10k_folder_of_frames(tmp_path):
    frames, depth, cams = fixtures.rendered()
    fixtures.write_realestate10k(tmp_path / "re10k", "0000cc6d8b108390", frames, depth, cams, tmp_path / "depth")
    clip = load_one("realestate10k", tmp_path / "re10k", depth_dir=tmp_path / "depth")
    assert clip.ref.clip_id == "0000cc6d8b108390"
    assert_same_cameras(clip.cameras, cams)
    assert_frames(clip, frames, depth, 1e-6)
    assert clip.times[1] - clip.times[0] == pytest.approx(33_367)


def test_realestate10k_video_and_missing_depth(tmp_path):
    frames, depth, cams = fixtures.rendered()
    fixtures.write_realestate10k(tmp_path / "re10k", "clip", frames, depth, cams, tmp_path / "depth", video=True)
    clip = load_one("realestate10k", tmp_path / "re10k", depth_dir=tmp_path / "depth")
    assert_same_cameras(clip.cameras, cams)
    assert clip.frames.shape == frames.shape and float((clip.frames - frames).abs().mean()) < 0.08  # lossy video
    with pytest.raises(ClipError, match="depth missing"):
        load_one("realestate10k", tmp_path / "re10k")  # RGB only: depth is never invented


@pytest.mark.parametrize("per_frame", [False, True])
def test_nerfstudio(tmp_path, per_frame):
    frames, depth, cams = fixtures.rendered()
    fixtures.write_nerfstudio(tmp_path / "scene", frames, depth, cams, depth_scale=1e-4, per_frame_intrinsics=per_frame)
    clip = load_one("nerfstudio", tmp_path / "scene")
    assert clip.ref.clip_id == "scene"
    assert_same_cameras(clip.cameras, cams)
    assert_frames(clip, frames, depth, 0.5e-4 + 1e-6)


def test_tum(tmp_path):
    frames, depth, cams = fixtures.rendered()
    fixtures.write_tum(tmp_path / "rgbd_dataset_freiburg1_fixture", frames, depth, cams)
    clip = load_one("tum", tmp_path / "rgbd_dataset_freiburg1_fixture")
    assert_same_cameras(clip.cameras, cams)
    assert_frames(clip, frames, depth, 0.5 / 5000 + 1e-6)
    assert clip.meta["frames_associated"] == len(cams)


def test_megasam(tmp_path):
    frames, depth, cams = fixtures.rendered()
    fixtures.write_megasam(tmp_path / "out" / "my clip.npz", frames, depth, cams)
    clip = load_one("megasam", tmp_path / "out")
    assert clip.ref.clip_id == "my_clip"
    assert_same_cameras(clip.cameras, cams)
    assert_frames(clip, frames, depth, 1e-6)


def test_resize_and_crop_follow_the_cameras(tmp_path):
    # A 48x72 clip read at 32x32: resized to cover (32x48), centre-cropped; K follows.
    frames, depth, cams = fixtures.rendered(6, 48, 72)
    fixtures.write_megasam(tmp_path / "c.npz", frames, depth, cams)
    clip = load_one("megasam", tmp_path / "c.npz", config=dataclasses.replace(CFG, image_size=(32, 32)))
    want = cams.resize(32, 48).crop(0, 8, 32, 32)
    assert_same_cameras(clip.cameras, want)
    assert clip.frames.shape == (6, 3, 32, 32) and clip.depth.shape == (6, 1, 32, 32)
    assert torch.equal(fit_cameras(cams, (32, 32)).K, want.K)
    # Depth is sampled at the nearest native pixel centre: every value is one of the native values.
    assert bool(torch.isin(clip.depth, depth).all())
    assert fit_frames(frames, None) is frames and fit_depth(depth, (48, 72)) is depth


def test_frame_stride_and_max_frames(tmp_path):
    frames, depth, cams = fixtures.rendered()
    fixtures.write_megasam(tmp_path / "c.npz", frames, depth, cams)
    clip = load_one("megasam", tmp_path / "c.npz", config=dataclasses.replace(CFG, frame_stride=2, max_clip_frames=3))
    assert clip.times.tolist() == [0.0, 2.0, 4.0]
    assert_same_cameras(clip.cameras, cams[[0, 2, 4]])


def test_parse_source_errors_name_the_kinds():
    assert parse_source("tum:/a:b") == ("tum", "/a:b")
    with pytest.raises(ValueError, match="unknown kind 'colmap'; expected one of synthetic, realestate10k"):
        parse_source("colmap:/x")
    with pytest.raises(ValueError, match="expected KIND:PATH"):
        parse_source("synthetic")


def test_synthetic_seed_ranges_and_listing():
    assert TRAIN_SEEDS_DISJOINT()
    refs = syn.list_clips("3")
    assert [r.path for r in refs] == ["0", "1", "2"] and refs[0].clip_id == "scene-0000000"
    assert [r.path for r in syn.list_clips("1000000+2")] == ["1000000", "1000001"]
    for bad in ("x", "-1+2", "5+0"):
        with pytest.raises(ValueError, match="synthetic"):
            syn.list_clips(bad)


def TRAIN_SEEDS_DISJOINT():
    a, b = syn.TRAIN_SEEDS, syn.EVAL_SEEDS
    return a.stop <= b.start and len(a) >= 1_000_000 and len(b) >= 1_000_000


def test_synthetic_paths_stay_in_the_free_box_and_are_deterministic():
    from worldmem.synthetic import SyntheticScene

    cfg = dataclasses.replace(CFG, image_size=(16, 16))
    for kind in ("walk-and-retrace", "loop", "round-trip", "look-around"):
        c = dataclasses.replace(cfg, synthetic_paths=(kind,))
        for seed in (0, 5):
            clip = syn.synthetic_clip(seed, c)
            assert clip.meta["path"] == kind and len(clip) == c.synthetic_frames
            scene = SyntheticScene.random(seed=seed, dynamic=clip.meta["dynamic"])
            lo, hi = scene.free_box
            centers = clip.cameras.centers
            assert bool(((centers >= lo - 1e-4) & (centers <= hi + 1e-4)).all()), kind
            again = syn.synthetic_clip(seed, c)
            assert torch.equal(again.frames, clip.frames) and again.meta == clip.meta
    # Rendering a subset of the frames gives exactly those frames.
    part = syn.synthetic_clip(3, cfg, frames=slice(4, 7))
    full = syn.synthetic_clip(3, cfg)
    assert torch.equal(part.frames, full.frames[4:7]) and torch.equal(part.depth, full.depth[4:7])


def test_supersampled_depth_is_the_pixel_centre_ray():
    from worldmem.synthetic import SyntheticScene

    frames, depth, cams = fixtures.rendered(3, 16, 16)
    scene = SyntheticScene.random(seed=1)
    rgb3, depth3, _ = syn.render_supersampled(scene, cams, torch.arange(3.0), 3)
    assert torch.allclose(depth3, depth, atol=1e-4)
    assert rgb3.shape == frames.shape and float((rgb3 - frames).abs().mean()) < 0.1
    # The tent filter keeps a constant image constant and has unit gain.
    flat = torch.full((1, 3, 9, 9), 0.3)
    assert torch.allclose(syn.tent_downsample(flat, 3), torch.full((1, 3, 3, 3), 0.3))
    assert np.isclose(float(syn.tent_downsample(torch.rand(2, 3, 30, 30), 3).mean()), 0.5, atol=0.05)
