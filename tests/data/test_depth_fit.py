"""fit_depth_affine: the scale and shift of depth/disparity known only up to an affine map, from the cameras."""

from functools import lru_cache

import pytest
import torch

from worldmem.data.depth_fit import DepthFit, FitSettings, fit_depth_affine, select_pairs, triangulate, triangulate_clip
from worldmem.geometry import trajectories as tr
from worldmem.synthetic import SyntheticScene


@lru_cache(maxsize=4)
def walk(seed: int, rotate_only: bool = False):
    """A 24-frame 64x64 clip of a synthetic scene: a walk out and back (or turning in place), exact depth."""
    scene = SyntheticScene.random(seed=seed)
    lo, hi = scene.free_box
    c = ((lo + hi) / 2).tolist()
    if rotate_only:
        cams = tr.look_around(24, position=c, yaw_range_deg=90.0, height=64, width=64)
    else:
        cams = tr.out_and_back(24, start=c, heading_deg=20.0, distance=1.0, yaw_sweep_deg=60.0, pitch_deg=-5.0,
                               height=64, width=64, fov_deg=65.0)
    frames, depth = scene.render(cams)
    return frames, depth, cams


def estimator_output(depth, kind, a, b, noise, seed=0):
    """``a * x + b`` of the true depth (or disparity) x, times (1 + noise * N(0, 1)) per pixel; unknown stays 0."""
    x = depth if kind == "depth" else torch.where(depth > 0, 1.0 / depth.clamp(min=1e-9), torch.zeros_like(depth))
    g = torch.Generator().manual_seed(seed)
    out = (a * x + b) * (1.0 + noise * torch.randn(x.shape, generator=g, dtype=x.dtype))
    return torch.where(depth > 0, out, torch.zeros_like(out))


CASES = [(kind, a, b, noise) for kind in ("depth", "disparity") for a, b in ((1.0, 0.0), (3.0, 0.5), (0.2, 0.1))
         for noise in (0.0, 0.05)]


@pytest.mark.parametrize("kind,a,b,noise", CASES)
def test_fit_recovers_scale_within_2_percent_and_the_depth(kind, a, b, noise):
    frames, depth, cams = walk(3)
    out = estimator_output(depth, kind, a, b, noise)
    fit = fit_depth_affine(out, frames, cams, kind)
    assert fit.reliable, fit.reason
    # output = a * x + b  <=>  x = output / a - b / a: the fit's scale is 1 / a and its shift -b / a.
    assert abs(1.0 / fit.scale / a - 1.0) < 0.02, (fit, a)
    x = depth[depth > 0] if kind == "depth" else 1.0 / depth[depth > 0]
    assert abs(-fit.shift / fit.scale - b) < 0.03 * a * float(x.median()), (fit, b)
    fitted = fit.apply(estimator_output(depth, kind, a, b, 0.0))  # the fitted map on the noise-free output
    known = depth > 0
    assert float(((fitted[known] - depth[known]).abs() / depth[known]).median()) < 0.02
    assert fit.pairs_used >= 8 and fit.points > 1000 and fit.residual < min(0.1, 0.5 * fit.constant_residual)


def test_fit_on_another_scene_and_same_answer_twice():
    frames, depth, cams = walk(5)
    out = estimator_output(depth, "disparity", 2.0, 0.3, 0.05, seed=1)
    fit = fit_depth_affine(out, frames, cams, "disparity")
    assert fit.reliable and abs(1.0 / fit.scale / 2.0 - 1.0) < 0.02, fit
    assert fit_depth_affine(out, frames, cams, "disparity") == fit  # deterministic


def test_least_squares_do_not_depend_on_where_the_data_lies():
    """MKL's lstsq changes its last bits with the data's alignment (a fit then differed between two calls in
    one process); the fit's 2x2 normal equations do not, and agree with it."""
    from worldmem.data.depth_fit import _lstsq2

    g = torch.Generator().manual_seed(0)
    rows, target = torch.randn(5000, 2, generator=g, dtype=torch.float64), torch.randn(5000, generator=g,
                                                                                        dtype=torch.float64)
    results = set()
    for offset in range(8):
        buf, tbuf = torch.empty(rows.numel() + offset, dtype=rows.dtype), torch.empty(5000 + offset, dtype=rows.dtype)
        r, t = buf[offset:].view(5000, 2), tbuf[offset:]
        r.copy_(rows)
        t.copy_(target)
        results.add(tuple(_lstsq2(r, t).tolist()))
    assert len(results) == 1
    reference = torch.linalg.lstsq(rows, target[:, None]).solution[:, 0]
    assert torch.allclose(torch.tensor(results.pop(), dtype=torch.float64), reference, rtol=1e-10, atol=1e-12)


def test_large_frames_are_triangulated_at_max_size_and_a_triangulation_is_reusable():
    frames, depth, cams = walk(3)
    settings = FitSettings(max_size=48)  # the 64x64 clip stands in for a large one
    tri = triangulate_clip(frames, cams, settings)
    assert int(tri.pixel.max()) < 48 * 48 and tri.frame.shape == tri.inv_depth.shape
    out = estimator_output(depth, "depth", 2.0, 0.5, 0.0)
    fit = fit_depth_affine(out, frames, cams, "depth", settings)
    assert fit.reliable and abs(fit.scale * 2.0 - 1.0) < 0.05, fit  # a coarser image: a coarser fit
    assert fit_depth_affine(out, frames, cams, "depth", settings, triangulation=tri) == fit
    assert fit.apply(out).shape == out.shape


def test_sky_of_a_disparity_model_becomes_unknown_not_a_failure():
    """A relative model gives the sky a disparity of about 0; with a positive b the fitted map is negative there:
    farther than anything triangulated, so unknown (0), while the scene keeps its depth."""
    frames, depth, cams = walk(1000000)  # a scene with sky (depth 0) in most frames
    sky = depth == 0
    assert float(sky.float().mean()) > 0.05
    out = torch.where(sky, torch.full_like(depth, 1e-3), 0.5 / depth.clamp(min=1e-9) + 0.2)
    fit = fit_depth_affine(out, frames, cams, "disparity")
    assert fit.reliable and abs(fit.scale * 0.5 - 1.0) < 0.02, fit
    fitted = fit.apply(out)
    assert bool((fitted[sky] == 0).all()) and bool((fitted[~sky] > 0).all())
    bad = estimator_output(depth, "depth", 1.0, 0.0, 0.0)
    bad[:, :, :32] = -bad[:, :, :32] + 0.1  # an output that turns over inside its own range
    fit = fit_depth_affine(bad.clamp(min=1e-3), frames, cams, "depth")
    assert not fit.reliable


def test_pure_rotation_is_unreliable():
    frames, depth, cams = walk(3, rotate_only=True)
    fit = fit_depth_affine(estimator_output(depth, "depth", 2.0, 0.1, 0.0), frames, cams, "depth")
    assert not fit.reliable and "too little parallax" in fit.reason and fit.points < 200, fit


def test_still_camera_is_unreliable_without_pairs():
    frames, depth, cams = walk(3)
    still = cams[[0] * 6]
    fit = fit_depth_affine(depth[:1].expand(6, -1, -1, -1), frames[:1].expand(6, -1, -1, -1), still, "depth")
    assert not fit.reliable and "too little parallax" in fit.reason and fit.pairs_used == 0


def test_output_unrelated_to_depth_is_unreliable():
    frames, depth, cams = walk(3)
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(depth.shape, generator=g) + 0.5
    smooth = torch.nn.functional.avg_pool2d(noise, 9, stride=1, padding=4, count_include_pad=False)
    fit = fit_depth_affine(smooth, frames, cams, "disparity")
    assert not fit.reliable and ("no better than a constant" in fit.reason or "disagree" in fit.reason), fit
    assert fit.residual > 0.5 * fit.constant_residual


def test_triangulation_agrees_with_the_true_depth():
    frames, depth, cams = walk(3)
    triples = select_pairs(cams)
    assert all(i != near and i != far for i, near, far in triples) and len(triples) == FitSettings().max_pairs
    i, near, far = triples[3]
    inv_depth, parallax, rho_px, ok = triangulate(frames, cams, i, near, far)
    ok &= depth[i, 0] > 0
    assert int(ok.sum()) > 300 and bool((parallax[ok] >= FitSettings().min_parallax_px).all())
    assert bool((rho_px[ok] > 0).all())
    ratio = inv_depth[ok] * depth[i, 0][ok]
    assert abs(float(ratio.median()) - 1.0) < 0.01
    assert float(((ratio - 1).abs() < 0.1).float().mean()) > 0.8


def test_fast_camera_is_triangulated_from_the_nearer_partner():
    """Frames 0.67 units apart in a scene 2-3 units deep: the farthest partner's parallax leaves the sweep's
    range (a plain sweep against it found a false match at 1/12 of the true inverse depth); the nearer one
    sets the range and the farther one refines it."""
    from worldmem.data import CurationConfig
    from worldmem.data.readers.synthetic import synthetic_clip

    clip = synthetic_clip(1000007, CurationConfig(), frames=slice(0, 24))
    out = torch.where(clip.depth > 0, 2.0 * clip.depth + 0.5, torch.zeros_like(clip.depth))
    fit = fit_depth_affine(out, clip.frames, clip.cameras, "depth")
    assert fit.reliable and abs(fit.scale * 2.0 - 1.0) < 0.02, fit


def test_apply_and_bad_inputs():
    fit = DepthFit("disparity", scale=2.0, shift=-1.0, residual=0.0, pairs_used=1, points=1, parallax_px=1.0,
                   reliable=True)
    out = torch.tensor([0.0, 0.25, 1.0, 2.0])
    assert fit.apply(out).tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0 / 3.0])  # unknown and non-positive -> 0
    assert DepthFit("depth", 2.0, 1.0, 0.0, 1, 1, 1.0, True).apply(out).tolist() == [0.0, 1.5, 3.0, 5.0]
    frames, depth, cams = walk(3)
    with pytest.raises(ValueError, match="kind: expected one of depth, disparity"):
        fit_depth_affine(depth, frames, cams, "inverse")
    with pytest.raises(ValueError, match=r"output: expected shape \(24, 1, 64, 64\)"):
        fit_depth_affine(depth[:, :, :32], frames, cams)
    with pytest.raises(ValueError, match="cameras: expected 24 cameras"):
        fit_depth_affine(depth, frames, cams[:3])
    with pytest.raises(ValueError, match="max_residual"):
        FitSettings(max_residual=0.0)
    nan = depth.clone()
    nan[0, 0, 0, 0] = float("nan")
    assert "NaN" in fit_depth_affine(nan, frames, cams).reason
