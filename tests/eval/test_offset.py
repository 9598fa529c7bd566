"""The offset protocol: a way back that no outward camera equals, reprojection through the true depth with an
occlusion test, the ground truth's ceiling, the gap a model closes, and the command end to end."""

import json

import pytest
import torch

from eval.cli import main
from eval.episodes import synthetic_episodes
from eval.offset import OFFSET_SHIFT, gap_closed, offset_pairs, offset_return, reprojection_psnr, warp_into
from eval.protocols import make_plan, score_plan
from eval.revisit_detect import covisibility_matrix
from tests.eval.test_revisit import S, make_pipe
from worldmem.data.readers.synthetic import EVAL_SEEDS
from worldmem.geometry.paths import make_path

BOX = torch.tensor([[-2.5, -1.75, 1.2], [2.5, 1.75, 1.8]])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt")
    make_pipe().save_pretrained(path)
    return path


@pytest.mark.parametrize("name", ["out-and-back", "arc-and-back", "turn-and-back"])
def test_no_return_camera_equals_an_outward_one(name):
    cams = make_path(name, BOX, 24, S, S)
    moved = offset_return(cams, BOX)
    half = 12
    assert torch.equal(moved.cam_from_world[:half], cams.cam_from_world[:half])  # the way out is untouched
    out, back = moved.cam_from_world[:half], moved.cam_from_world[half:]
    diff = (back[:, None] - out[None]).abs().flatten(2).amax(-1)  # every return camera against every outward one
    assert float(diff.min()) > 0.05
    shifts = (moved.centers[half:] - cams.centers[half:]).norm(dim=-1)
    assert shifts[-1] == pytest.approx(OFFSET_SHIFT, abs=1e-4) and float(shifts[0]) < OFFSET_SHIFT  # ramped in
    assert bool(((moved.centers >= BOX[0] - 1e-5) & (moved.centers <= BOX[1] + 1e-5)).all())


def test_warp_into_the_same_camera_is_the_identity_and_occlusion_drops_pixels():
    cams = make_path("out-and-back", BOX, 4, S, S)
    frame, depth = torch.rand(3, S, S), torch.full((1, S, S), 2.0)
    warped, valid = warp_into(frame, depth, depth, cams[0], cams[0])
    assert bool(valid.all()) and torch.allclose(warped, frame, atol=1e-4)
    nearer = depth.clone()
    nearer[:, :, : S // 2] = 1.0  # the source sees something nearer on its left half: those pixels are occluded
    _, valid = warp_into(frame, nearer, depth, cams[0], cams[0])
    assert not bool(valid[:, : S // 2].any()) and bool(valid[:, S // 2 :].all())


def test_pairs_are_generated_far_apart_and_the_truth_is_the_ceiling():
    (ep,) = synthetic_episodes([EVAL_SEEDS.start], ["out-and-back"], 32, S, 2, offset=True)
    matrix = covisibility_matrix(ep.cameras, ep.depth)
    pairs = offset_pairs(matrix, 2, 10, 0.2)
    assert pairs and all(2 <= i < 16 <= j and j - i >= 10 and matrix[i, j] >= 0.2 for i, j in pairs)
    truth, valid = reprojection_psnr(ep.frames, ep.depth, ep.cameras, pairs)
    shuffled, _ = reprojection_psnr(ep.frames[torch.randperm(32, generator=torch.Generator().manual_seed(0))],
                                    ep.depth, ep.cameras, pairs)
    assert truth > 25 and truth > shuffled + 8 and 0.1 < valid <= 1
    plan = make_plan("offset", matrix, 2, 10, 0.2)
    assert plan.pairs == [] and plan.offset_pairs == pairs
    scores = score_plan(plan, ep.frames, ep.frames, cameras=ep.cameras, gt_depth=ep.depth, depth=ep.depth)
    assert scores["offset_psnr"] == pytest.approx(scores["offset_psnr_truth"]) == pytest.approx(truth)
    assert scores["offset_psnr_own_depth"] == pytest.approx(truth) and scores["offset_pairs"] == len(pairs)
    with pytest.raises(ValueError, match="needs cameras"):
        score_plan(plan, ep.frames, ep.frames)


def test_gap_closed():
    assert gap_closed(25.0, 20.0, 30.0) == pytest.approx(0.5)
    assert gap_closed(30.0, 20.0, 30.0) == pytest.approx(1.0)
    assert gap_closed(25.0, 30.0, 30.0) is None and gap_closed(None, 20.0, 30.0) is None


def test_offset_run_reports_the_ceiling_and_the_gap(checkpoint, tmp_path):
    out = tmp_path / "offset"
    assert main(["revisit", "--checkpoint", str(checkpoint), "--out", str(out), "--protocol", "offset", "--scenes", "1",
                 "--num-frames", "24", "--steps", "1", "--trajectories", "out-and-back",
                 "--variants", "full,working_only"]) == 0
    res = json.loads((out / "results.json").read_text())
    (scene,) = res["scenes"]
    assert scene["offset_pairs"] and "same_pose_pairs" not in scene
    full, work = scene["variants"]["full"], scene["variants"]["working_only"]
    assert full["offset_psnr_truth"] == pytest.approx(work["offset_psnr_truth"]) and full["offset_psnr_truth"] > 20
    row, base = res["headline"]["table"]["full"], res["headline"]["table"]["working_only"]
    assert row["offset_gap_closed"] == pytest.approx(gap_closed(row["offset_psnr"], base["offset_psnr"],
                                                                row["offset_psnr_truth"]))
    assert isinstance(full["offset_psnr_own_depth"], float)
    assert "offset reprojection (dB)" in (out / "report.md").read_text()
