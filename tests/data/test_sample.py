"""Training samples: the contract, determinism, serialisation, and what the memory render shows."""

import dataclasses
import json
import math

import pytest
import torch

from worldmem.data import CurationConfig, TrainingSample, build_clip_samples, make_synthetic_sample
from worldmem.data.builder import build_sample, frame_visibility, prepare_clip, score_windows
from worldmem.data.readers.synthetic import synthetic_clip
from worldmem.metrics import as_one_image, psnr
from worldmem.synthetic import SyntheticScene

SMALL = CurationConfig(image_size=(32, 32), voxel_size=0.04, synthetic_supersample=1, synthetic_frames=16,
                       source_frames=12, min_source_frames=4, target_frames=3, working_frames=2, max_keyframes=3,
                       samples_per_clip=2)


@pytest.fixture(scope="module")
def sample():
    return make_synthetic_sample(7, SMALL)


def test_sample_contract(sample):
    c = SMALL
    t, h, w = c.target_frames, *c.image_size
    tg, ro = sample.target, sample.readout
    assert tg.frames.shape == (t, 3, h, w) and tg.depth.shape == (t, 1, h, w) and tg.indices.dtype == torch.int64
    assert float(tg.frames.min()) >= 0 and float(tg.frames.max()) <= 1
    assert ro.target_cameras == tg.cameras and len(tg.cameras) == t
    assert ro.spatial.rgb.shape == (t, 3, h, w) and ro.spatial.mask.dtype == torch.bool
    t0 = int(tg.indices[0])
    assert tg.indices.tolist() == list(range(t0, t0 + t))
    # The working window is the W frames right before the target.
    assert ro.working.indices.tolist() == list(range(t0 - c.working_frames, t0))
    assert ro.keyframes is not None and 1 <= len(ro.keyframes) <= c.max_keyframes
    assert ro.keyframes.scores is not None and bool((ro.keyframes.scores > 0).all())
    assert bool((ro.keyframes.indices < t0).all())
    m = sample.meta
    assert m["source"] == "synthetic" and m["clip_id"] == "scene-0000007" and m["key"] == f"synthetic-scene-0000007-{t0:06d}"
    assert m["target_indices"] == tg.indices.tolist() and m["source_range"][1] == t0
    assert m["scale"] > 0 and 0 <= m["coverage"] <= 1 and 0 <= m["overlap"] <= 1
    json.dumps(m)  # json-able


def test_scale_normalises_median_depth_and_is_undoable():
    clip = synthetic_clip(3, SMALL)
    prepared, scale = prepare_clip(clip)
    valid = prepared.depth[prepared.depth > 0]
    assert float(valid.median()) == pytest.approx(1.0, rel=1e-3)
    assert float(clip.depth[clip.depth > 0].median()) == pytest.approx(scale, rel=1e-3)
    # Scaled cameras: the same pixels unproject to the original world points divided by the scale.
    p0 = clip.cameras[:2].unproject(clip.depth[:2])
    p1 = prepared.cameras[:2].unproject(prepared.depth[:2])
    assert torch.allclose(p1 * scale, p0, atol=1e-3)


def test_make_synthetic_sample_is_deterministic_and_round_trips(sample):
    again = make_synthetic_sample(7, SMALL)
    files = sample.to_bytes()
    assert again.to_bytes() == files
    assert set(files) == {"sample.safetensors", "meta.json"}
    back = TrainingSample.from_bytes(files)
    assert back.to_bytes() == files and back.equals(sample)
    assert torch.equal(back.target.frames, sample.target.frames)
    assert torch.equal(back.readout.spatial.mask, sample.readout.spatial.mask)
    assert back.readout.keyframes.cameras.allclose(sample.readout.keyframes.cameras, atol=0)
    assert not make_synthetic_sample(8, SMALL).equals(sample)


def test_sample_without_keyframes_round_trips(sample):
    ro = dataclasses.replace(sample.readout, keyframes=None)
    s = TrainingSample(target=sample.target, readout=ro, meta=sample.meta)
    back = TrainingSample.from_bytes(s.to_bytes())
    assert back.readout.keyframes is None and back.readout.working is not None
    with pytest.raises(ValueError, match="format_version"):
        TrainingSample.from_bytes({**s.to_bytes(), "meta.json": b'{"format_version": 99}'})


def _static(config: CurationConfig) -> CurationConfig:
    return dataclasses.replace(config, synthetic_dynamic_fraction=0.0)


@pytest.mark.slow
def test_memory_render_matches_static_targets_on_covered_pixels():
    """Default (64 x 64) settings, the first three static rooms and courtyards among the training seeds: the
    render's PSNR on covered pixels, pooled over the six samples, is >= 25 dB and no sample is below 22 dB
    (what is lost is texture detail: the map resamples sharp textures through voxels and point splats)."""
    config = _static(dataclasses.replace(CurationConfig(), samples_per_clip=1))
    rooms = [s for s in range(40) if SyntheticScene.random(seed=s).kind == "room"][:3]
    yards = [s for s in range(40) if SyntheticScene.random(seed=s).kind == "courtyard"][:3]
    err = num = 0.0
    for seed in rooms + yards:
        samples, failures = build_clip_samples(synthetic_clip(seed, config), config)
        assert not failures and len(samples) == 1
        s = samples[0]
        sp, tg = s.readout.spatial, s.target
        pooled = float(psnr(as_one_image(sp.rgb), as_one_image(tg.frames), as_one_image(sp.mask))[0])
        assert pooled == pytest.approx(s.meta["render_psnr"], abs=1e-3)
        assert pooled >= 22.0, (seed, pooled)
        assert s.meta["surface_coverage"] > 0.8, (seed, s.meta["surface_coverage"])
        m = sp.mask.expand_as(tg.frames)
        err += float(((sp.rgb - tg.frames)[m] ** 2).sum())
        num += float(m.sum())
    pooled = 10 * math.log10(num / err)
    assert pooled >= 25.0, pooled


def test_coverage_is_high_on_revisit_windows_and_low_on_exploring_ones():
    # Turning in place by 1.3-1.6 turns: early chunks look at new directions, late chunks at old ones.
    config = _static(dataclasses.replace(SMALL, synthetic_paths=("look-around",), synthetic_frames=20,
                                         source_frames=16, min_source_frames=4, target_frames=3))
    clip, scale = prepare_clip(synthetic_clip(11, config))
    windows = score_windows(frame_visibility(clip, config), config)
    explore = min(windows, key=lambda w: w.revisit_score)
    revisit = max(windows, key=lambda w: w.revisit_score)
    assert explore.t0 < revisit.t0 and revisit.revisit_score > 0.8 and explore.revisit_score < 0.3
    a, b = build_sample(clip, explore, scale, config), build_sample(clip, revisit, scale, config)
    assert b.meta["revisit"] and not a.meta["revisit"]
    assert b.meta["surface_coverage"] > 0.9 and a.meta["surface_coverage"] < 0.6
    assert b.meta["coverage"] > a.meta["coverage"] + 0.3
    assert len(a.meta["coverage_per_frame"]) == config.target_frames


def test_window_choice_prefers_revisits_or_spreads_evenly():
    clip = synthetic_clip(2, SMALL)
    samples, _ = build_clip_samples(clip, dataclasses.replace(SMALL, samples_per_clip=3))
    starts = [s.meta["target_indices"][0] for s in samples]
    assert starts == sorted(starts) and all(b - a >= SMALL.target_frames for a, b in zip(starts, starts[1:], strict=False))
    # Chunks of one clip extend one memory; each sample equals one built from a fresh memory.
    prepared, scale = prepare_clip(clip)
    config = dataclasses.replace(SMALL, samples_per_clip=3)
    for s in samples:
        t0, s0 = s.meta["target_indices"][0], s.meta["source_range"][0]
        window = next(w for w in score_windows(frame_visibility(prepared, config), config) if w.t0 == t0)
        assert window.s0 == s0 and build_sample(prepared, window, scale, config).equals(s)
    spread, _ = build_clip_samples(clip, dataclasses.replace(SMALL, samples_per_clip=2, revisit_windows=False))
    n = SMALL.synthetic_frames
    assert [s.meta["target_indices"][0] for s in spread] == [SMALL.min_source_frames, n - SMALL.target_frames]
