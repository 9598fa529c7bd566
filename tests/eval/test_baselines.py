"""The baselines (eval/baselines.py) on a tiny episode, and the ranking rule (eval/ranking.py) that keeps a
constant video from winning."""

import pytest
import torch

from eval.adapter import model_rollout
from eval.baselines import repeat_last, warp_given
from eval.episodes import synthetic_episodes
from eval.metrics import psnr
from eval.ranking import MIN_MOTION, MIN_SHARPNESS, gate, motion_ratio, rank
from eval.scoring import evaluate_episode

S = 16


@pytest.fixture(scope="module")
def episode():
    return next(synthetic_episodes([1_000_000], ["out-and-back"], 20, S, 2))


def test_repeat_last_is_consistent_but_does_not_follow_the_camera(episode):
    entry, rollouts = evaluate_episode(None, episode, ["repeat_last"], 1, 0, 6, 0.5, protocol="recall",
                                       models={"repeat_last": repeat_last()})
    frames = rollouts["repeat_last"].frames
    assert torch.equal(frames[5], episode.frames[1]) and torch.equal(frames[:2], episode.frames[:2])
    m = entry["variants"]["repeat_last"]
    assert m["same_pose_psnr"] >= 99  # identical frames: the PSNR cap
    assert m["motion"] == 0.0 and m["sharpness"] > MIN_SHARPNESS  # sharp, but frozen
    assert m["return_psnr_covered"] is None or m["return_psnr_covered"] < 99
    assert gate(m) is not None and gate(m).startswith("motion")


def test_warp_given_reproduces_a_given_view_and_fills_holes_with_the_mean(episode):
    c = episode.context
    rollout = model_rollout(warp_given(), episode, 0)
    # the out-and-back path comes back: frame T-1-i has frame i's camera, so the last frame sees given frame 0
    last = rollout.frames[-1]
    known = (episode.depth[0, 0] > 0) & (rollout.depth[-1, 0] > 0)
    assert known.float().mean() > 0.5
    err = (last - episode.frames[0]).abs().amax(0)[known]
    assert float(err.median()) < 0.05
    holes = rollout.depth[c:, 0] == 0
    mean = episode.frames[:c].mean(dim=(0, 2, 3))
    assert torch.allclose(rollout.frames[c:].permute(0, 2, 3, 1)[holes], mean.expand(int(holes.sum()), 3), atol=1e-6)
    assert float(psnr(rollout.frames[-1:], episode.frames[-1:])[0]) > float(psnr(rollout.frames[8:9], episode.frames[8:9])[0])


def test_motion_ratio_is_zero_for_a_still_video_and_one_for_the_truth():
    gt = torch.rand(6, 3, 8, 8)
    assert motion_ratio(gt, gt, 2) == pytest.approx(1.0)
    assert motion_ratio(gt[:1].expand(6, -1, -1, -1), gt, 2) == 0.0
    assert motion_ratio(gt, gt[:1].expand(6, -1, -1, -1), 2) is None  # the truth does not move


def test_the_ranking_rule_never_ranks_a_constant_video_first(episode):
    truth = {"same_pose_psnr": 30.0, "return_psnr_covered": 25.0, "sharpness": 0.9, "motion": 1.0}
    constant = {"same_pose_psnr": 100.0, "return_psnr_covered": 29.0, "sharpness": 0.9, "motion": 0.0}
    blurred = {"same_pose_psnr": 100.0, "return_psnr_covered": 15.0, "sharpness": 0.2, "motion": 0.6}
    weak = {"same_pose_psnr": 18.0, "return_psnr_covered": 15.0, "sharpness": 0.8, "motion": 0.9}
    order = rank({"constant": constant, "blurred": blurred, "weak": weak, "model": truth}, "recall")
    assert order[:2] == [("model", 1, None), ("weak", 2, None)]
    assert {name for name, k, _ in order if k is None} == {"constant", "blurred"}
    assert dict((n, why) for n, _, why in order)["blurred"].startswith(f"sharpness 0.200 < {MIN_SHARPNESS}")
    assert dict((n, why) for n, _, why in order)["constant"].startswith(f"motion 0.000 < {MIN_MOTION}")
    # scored for real: the baselines against a model that returns the truth
    class Truth:
        def generate(self, given_frames, given_depth, cameras, generator):
            return episode.frames.clone(), episode.depth.clone()

    models = {"repeat_last": repeat_last(), "warp_given": warp_given(), "truth": Truth()}
    entry, _ = evaluate_episode(None, episode, list(models), 1, 0, 6, 0.5, protocol="recall", models=models)
    order = rank(entry["variants"], "recall")
    assert order[0][:2] == ("truth", 1)
    assert dict((n, k) for n, k, _ in order)["repeat_last"] is None


def test_the_headline_records_the_ranking():
    from eval.protocol_report import headline

    summary = {"model": {"same_pose_psnr": 20.0, "sharpness": 0.9, "motion": 0.9},
               "repeat_last": {"same_pose_psnr": 100.0, "sharpness": 0.9, "motion": 0.0}}
    out = headline({"config": {"protocol": "given-half"}, "summary": summary, "scenes": []})
    assert out["ranking"][1] == {"variant": "repeat_last", "rank": None, "unranked": "motion 0.000 < 0.5"}
    assert out["ranking"][0]["unranked"] == "revisit_psnr n/a"  # given-half ranks by revisit_psnr
