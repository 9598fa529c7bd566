"""worldmem.metrics: the one PSNR, a clip scored as one image, the finite mean, the minimum gap; and that the
benchmark, its protocols and the demo use these very functions."""

import math

import pytest
import torch

from worldmem import metrics
from worldmem.metrics import PSNR_MAX_DB, as_one_image, default_min_gap, finite_mean, psnr


def _clip(seed: int, num: int = 3, size: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(num, 3, size, size, generator=g)
    pred = (target + 0.1 * torch.randn(num, 3, size, size, generator=g)).clamp(0, 1)
    mask = torch.rand(num, 1, size, size, generator=g) > 0.3
    mask[0, :, : size // 2] = False  # frames cover different shares of their pixels
    return pred, target, mask


def test_a_clip_as_one_image_pools_the_mse_over_every_masked_pixel():
    pred, target, mask = _clip(0)
    pooled = float(psnr(as_one_image(pred), as_one_image(target), as_one_image(mask))[0])
    m = mask.expand_as(pred)  # naive reference: one MSE over every covered value of the clip
    reference = 10 * math.log10(1 / float(((pred.double() - target.double())[m] ** 2).mean()))
    assert pooled == pytest.approx(reference, abs=1e-4)
    per_frame = psnr(pred, target, mask)
    assert per_frame.shape == (3,) and pooled != pytest.approx(float(per_frame.mean()), abs=1e-3)
    assert as_one_image(mask).shape == (1, 1, 8, 24) and torch.equal(as_one_image(pred)[0, :, :, 8:16], pred[1])


def test_psnr_is_capped_and_empty_masks_are_nan():
    pred, target, mask = _clip(1)
    assert torch.equal(psnr(target, target), torch.full((3,), PSNR_MAX_DB))
    mask[1] = False
    scores = psnr(pred, target, mask)
    assert math.isnan(float(scores[1])) and all(math.isfinite(float(scores[k])) for k in (0, 2))
    with pytest.raises(ValueError, match=r"^x: expected a clip of shape \(T, C, H, W\)"):
        as_one_image(pred[0])


def test_the_finite_mean_skips_none_nan_and_inf():
    assert finite_mean([1.0, None, math.nan, 3.0, math.inf, torch.tensor(5.0)]) == pytest.approx(3.0)
    assert finite_mean([]) is None and finite_mean([None, math.nan]) is None
    assert finite_mean(x for x in (2, 4)) == 3.0


def test_the_minimum_gap_clears_the_working_window_and_the_chunk():
    assert default_min_gap(2, 4) == 8 and default_min_gap(2, 4, same_pose=False) == 8  # the tiny model: at least 8
    assert default_min_gap(5, 49) == 55 and default_min_gap(5, 49, same_pose=False) == 54
    for window, chunk in ((0, 1), (2, 4), (3, 9), (5, 49)):
        gap = default_min_gap(window, chunk)
        pairs = metrics.same_pose_pairs(2 * gap + 8, 2, gap)
        assert pairs and all(j - i > window + chunk and j - i >= gap for i, j in pairs)


def test_one_definition_serves_the_benchmark_the_protocols_and_the_demo():
    import eval.metrics
    import eval.protocols
    import eval.revisit_detect
    import worldmem.demo

    assert eval.metrics.psnr is psnr and eval.metrics.PSNR_MAX_DB is PSNR_MAX_DB
    assert eval.protocols.same_pose_pairs is metrics.same_pose_pairs
    assert eval.protocols.same_pose_psnr is metrics.same_pose_psnr
    assert eval.revisit_detect.DEFAULT_MIN_GAP == metrics.DEFAULT_MIN_GAP
    assert worldmem.demo.psnr is psnr and worldmem.demo.same_pose_pairs is metrics.same_pose_pairs
