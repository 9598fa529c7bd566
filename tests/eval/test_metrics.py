import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from eval.metrics import PSNR_MAX_DB, depth_abs_rel, drift_curve, psnr, ssim, warp_consistency
from worldmem.geometry import trajectories
from worldmem.synthetic import SyntheticScene


def _pair(seed=0, t=3, h=24, w=20, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(t, 3, h, w, generator=g, dtype=torch.float64)
    pred = (target + noise * torch.randn(t, 3, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    return pred, target


def test_psnr_matches_skimage():
    pred, target = _pair()
    ours = psnr(pred, target)
    assert ours.shape == (3,)
    for k in range(3):
        ref = sk_psnr(target[k].numpy(), pred[k].numpy(), data_range=1.0)
        assert ours[k].item() == pytest.approx(ref, abs=1e-4)


def test_masked_psnr_uses_only_masked_pixels():
    pred, target = _pair(seed=1)
    mask = torch.zeros(3, 1, 24, 20, dtype=torch.bool)
    mask[:, :, 4:15, 3:9] = True
    ours = psnr(pred, target, mask=mask)
    for k in range(3):
        sel = mask[k, 0].numpy()
        ref = sk_psnr(target[k].numpy()[:, sel], pred[k].numpy()[:, sel], data_range=1.0)
        assert ours[k].item() == pytest.approx(ref, abs=1e-4)
    mask[1] = False
    assert math.isnan(psnr(pred, target, mask=mask)[1].item())


def test_psnr_of_identical_frames_is_capped():
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(psnr(x, x), torch.full((2,), PSNR_MAX_DB))


def test_ssim_matches_skimage_gaussian_settings():
    pred, target = _pair(seed=2, h=32, w=28, noise=0.15)
    ours = ssim(pred, target)
    assert ours.shape == (3,)
    for k in range(3):
        ref = sk_ssim(target[k].numpy(), pred[k].numpy(), data_range=1.0, channel_axis=0, gaussian_weights=True,
                      sigma=1.5, use_sample_covariance=False, win_size=11)
        assert ours[k].item() == pytest.approx(ref, abs=1e-3)
    assert torch.allclose(ssim(target, target), torch.ones(3))


def test_depth_abs_rel_ignores_unknown_and_invalid_pixels():
    gt = torch.full((2, 1, 4, 4), 2.0)
    gt[0, 0, 0, 0] = 0.0  # unknown: never counts
    pred = gt * 1.1
    pred[0, 0, 0, 0] = 100.0
    out = depth_abs_rel(pred, gt)
    assert torch.allclose(out, torch.tensor([0.1, 0.1]))
    valid = torch.ones(2, 1, 4, 4, dtype=torch.bool)
    valid[1] = False
    out = depth_abs_rel(pred, gt, valid=valid)
    assert out[0].item() == pytest.approx(0.1) and math.isnan(out[1].item())
    assert np.isclose(depth_abs_rel(gt, gt)[0].item(), 0.0)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: psnr(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 9)), "target"),
        (lambda: psnr(torch.rand(2, 4, 8, 8), torch.rand(2, 4, 8, 8)), "pred"),
        (lambda: psnr(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8), mask=torch.ones(2, 3, 8, 8)), "mask"),
        (lambda: ssim(torch.rand(3, 8, 8), torch.rand(3, 8, 8)), "pred"),
        (lambda: depth_abs_rel(torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 5)), "gt_depth"),
        (lambda: depth_abs_rel(torch.rand(2, 4, 4), torch.rand(2, 4, 4)), "pred_depth"),
        (lambda: warp_consistency(torch.rand(2, 3, 8, 8), torch.rand(2, 1, 8, 8),
                                  trajectories.look_around(3, height=8, width=8)), "cameras"),
        (lambda: warp_consistency(torch.rand(2, 3, 8, 8), torch.rand(2, 8, 8),
                                  trajectories.look_around(2, height=8, width=8)), "depth"),
        (lambda: drift_curve([torch.zeros(2, 2)]), "curves[0]"),
    ],
)
def test_bad_shapes_are_one_line_errors_naming_the_argument(call, name):
    with pytest.raises(ValueError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(f"{name}:") and "\n" not in msg


def _smooth_world_colours(cams, depth):
    """Exact frames of the scene's geometry painted with a smooth function of world position."""
    pts = cams.unproject(depth)
    colours = 0.5 + 0.5 * torch.sin(pts * torch.tensor([1.0, 1.3, 1.7]) + torch.tensor([0.0, 1.0, 2.0]))
    return colours.permute(0, 3, 1, 2).contiguous()


def test_warp_consistency_high_for_exact_frames_low_for_wrong_cameras():
    scene = SyntheticScene.random(seed=0, kind="room")
    lo, hi = scene.free_box
    c = ((lo + hi) / 2).tolist()
    cams = trajectories.out_and_back(10, start=(float(lo[0]) + 0.1, c[1], c[2]), distance=1.0, yaw_sweep_deg=40.0,
                                     height=48, width=48, fov_deg=70.0)
    _, depth = scene.render(cams)
    frames = _smooth_world_colours(cams, depth)
    exact = warp_consistency(frames, depth, cams)
    assert exact.shape == (9,)
    assert exact.mean().item() > 30.0 and exact.min().item() > 27.0
    perm = torch.tensor([0, 5, 2, 7, 4, 9, 1, 3, 8, 6])  # frames (and their depth) from the wrong cameras
    shuffled = warp_consistency(frames[perm], depth[perm], cams)
    assert shuffled.mean().item() < 20.0
    # A frame with no known depth has nothing to warp.
    depth0 = depth.clone()
    depth0[3] = 0
    assert math.isnan(warp_consistency(frames, depth0, cams)[3].item())


def test_drift_curve_averages_ragged_curves_ignoring_missing():
    out = drift_curve([[10.0, 20.0, 30.0], torch.tensor([20.0, float("nan")]), [None, 40.0, 50.0, 60.0]])
    assert out.shape == (4,)
    assert torch.allclose(out, torch.tensor([15.0, 30.0, 40.0, 60.0]))
    with pytest.raises(ValueError, match="^curves:"):
        drift_curve([])
