"""train.validate: the validation rollout scores with the benchmark's metrics (worldmem.metrics)."""

from types import SimpleNamespace

import pytest
import torch

from train.validate import validation_rollout
from worldmem.metrics import same_pose_pairs, same_pose_psnr
from worldmem.pipelines.tiny import random_tiny_pipeline

# The two fields validation reads: the held-out scene and the step count.
CFG = SimpleNamespace(validation_seed=1000000, generation=SimpleNamespace(num_inference_steps=1))


def test_revisit_psnr_is_the_benchmarks_same_pose_psnr_of_the_validation_video(tmp_path, monkeypatch):
    pipe = random_tiny_pipeline(0, size=16)
    pipe.set_progress_bar_config(disable=True)
    videos = []
    real_call = type(pipe).__call__

    def keep(self, *args, **kwargs):
        out = real_call(self, *args, **kwargs)
        videos.append(out.frames.float())
        return out

    monkeypatch.setattr(type(pipe), "__call__", keep)
    res = validation_rollout(pipe, CFG, None, num_frames=24)
    assert set(res) == {"revisit_psnr", "revisit_psnr_no_memory", "gain_db", "return_psnr", "return_psnr_no_memory"}
    # The path retraces itself and the given frames are ground truth, so PSNR against the ground truth on the
    # return frames of the same-pose pairs is the benchmark's same-pose PSNR (way out vs way back) of the video.
    pairs = same_pose_pairs(24, 0, 8)  # tiny model: working window 2 + chunk 4 -> gap 8
    assert len(pairs) == 8 and all(j >= 12 > i for i, j in pairs)
    for video, key in zip(videos, ("revisit_psnr", "revisit_psnr_no_memory"), strict=True):
        assert res[key] == pytest.approx(same_pose_psnr(video, pairs), abs=0.05)
    assert res["gain_db"] == pytest.approx(res["revisit_psnr"] - res["revisit_psnr_no_memory"])


def test_a_path_too_short_for_a_same_pose_pair_reports_the_return_half_only():
    pipe = random_tiny_pipeline(0, size=16)
    pipe.set_progress_bar_config(disable=True)
    res = validation_rollout(pipe, CFG, None, num_frames=8)
    assert set(res) == {"return_psnr", "return_psnr_no_memory"} and all(isinstance(v, float) for v in res.values())
    assert torch.isfinite(torch.tensor(list(res.values()))).all()
