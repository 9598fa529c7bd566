"""The dynamic protocol: static parts scored where the truth is static at both times, and the ghost rate (a model
that pastes the first visit back scores 1, the truth 0)."""

import json

import pytest
import torch

from eval.cli import main
from eval.dynamic import ghost_pairs, ghost_rate, score_dynamic
from eval.episodes import synthetic_episodes
from eval.protocols import make_plan, score_plan
from eval.revisit_detect import covisibility_matrix
from tests.eval.test_revisit import S, make_pipe
from worldmem.data.readers.synthetic import EVAL_SEEDS

N, C, GAP = 32, 2, 8


@pytest.fixture(scope="module")
def episode():
    (ep,) = synthetic_episodes([EVAL_SEEDS.start], ["out-and-back"], N, S, C, all_dynamic=True)
    return ep


def test_ghost_pairs_return_generated_and_far():
    pairs = ghost_pairs(N, C, GAP)
    assert pairs[0] == (0, N - 1) and all(j == N - 1 - i and j >= C and j - i >= GAP for i, j in pairs)


def test_pasting_the_first_visit_back_is_a_ghost_and_the_truth_is_not(episode):
    assert episode.dynamic and episode.moving is not None and bool(episode.moving.any())
    pairs = ghost_pairs(N, C, GAP)
    truth, vacated = ghost_rate(episode.frames, episode.frames, episode.moving, pairs)
    assert vacated > 20 and truth == 0.0
    pasted = episode.frames.clone()
    for i, j in pairs:
        pasted[j] = episode.frames[i]  # the model shows the return exactly as the first visit looked
    rate, _ = ghost_rate(pasted, episode.frames, episode.moving, pairs)
    assert rate == 1.0
    # the static parts are the same in both: pasting is not punished there
    same = [(i, j) for i, j in pairs if i >= C]
    a = score_dynamic(pasted, episode.frames, episode.moving, same, [j for _, j in same], pairs)
    assert a["ghost_rate"] == 1.0 and a["static_return_psnr"] > 30


def test_no_mover_no_ghost_rate():
    frames = torch.rand(N, 3, S, S)
    rate, vacated = ghost_rate(frames, frames, torch.zeros(N, 1, S, S, dtype=torch.bool), ghost_pairs(N, C, GAP))
    assert rate is None and vacated == 0


def test_plan_scores_static_parts_and_ghosts(episode):
    plan = make_plan("dynamic", covisibility_matrix(episode.cameras, episode.depth), C, GAP, 0.2)
    assert plan.pairs and plan.ghost_pairs == ghost_pairs(N, C, GAP)
    scores = score_plan(plan, episode.frames, episode.frames, moving=episode.moving)
    assert scores["ghost_rate"] == 0.0 and scores["static_same_pose_psnr"] > 35
    with pytest.raises(ValueError, match="needs moving"):
        score_plan(plan, episode.frames, episode.frames)


def test_dynamic_run_gives_every_scene_movers(tmp_path):
    ckpt = tmp_path / "ckpt"
    make_pipe().save_pretrained(ckpt)
    out = tmp_path / "dynamic"
    assert main(["revisit", "--checkpoint", str(ckpt), "--out", str(out), "--protocol", "dynamic", "--scenes", "1",
                 "--num-frames", "24", "--steps", "1", "--trajectories", "out-and-back",
                 "--variants", "working_only,oracle"]) == 0
    res = json.loads((out / "results.json").read_text())
    (scene,) = res["scenes"]
    assert scene["dynamic"] is True and scene["ghost_pairs"] and res["config"]["dynamic_scenes"] == "every scene"
    assert set(res["headline"]["table"]["oracle"]) >= {"static_same_pose_psnr", "ghost_rate"}
    assert "ghost rate" in (out / "report.md").read_text()
