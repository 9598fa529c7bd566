"""The evaluation protocols: recall pairing, cycle horizons, drift coverage, sharpness, the CLI per protocol, and
reports that are never half-written."""

import argparse
import json

import pytest
import torch
import torch.nn.functional as F

from eval import revisit
from eval.cli import main
from eval.episodes import DEFAULT_TRAJECTORIES, Episode
from eval.protocols import (
    CYCLE_HORIZONS,
    HORIZON_WINDOW,
    RETRACING_PATHS,
    covered_by_given,
    horizon_pairs,
    make_plan,
    nearest_covered,
    same_pose_pairs,
    score_plan,
    sharpness_ratio,
)
from eval.revisit_detect import covisibility_matrix
from eval.strip import pick_pairs, strip_image
from tests.eval.test_revisit import S, make_pipe
from worldmem.data.readers.synthetic import EVAL_SEEDS
from worldmem.geometry.paths import make_path, retraces

BOX = torch.tensor([[-2.5, -1.75, 1.2], [2.5, 1.75, 1.8]])
W, CHUNK = 2, 4  # the tiny model's working window and chunk


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt")
    make_pipe().save_pretrained(path)
    return path


def _episode(name, n, context, seed=EVAL_SEEDS.start + 1):
    from eval.episodes import _render_synthetic

    frames, depth, cams = _render_synthetic(seed, False, name, n, S)
    return Episode(f"synthetic:{seed}", name, frames, depth, cams, context, False)


def test_recall_pairs_are_same_pose_far_apart_and_never_given():
    gap = max(8, W + CHUNK + 1)  # the default G
    for name in (*RETRACING_PATHS, "walk-and-retrace"):
        for n in (16, 17, 48):
            cams = make_path(name, BOX, n, 8, 8)
            assert retraces(cams), (name, n)
            pairs = same_pose_pairs(n, 2, gap)
            assert pairs and len(pairs) == len({i for i, _ in pairs})
            for i, j in pairs:
                assert j == n - 1 - i and j - i >= gap > W + CHUNK and min(i, j) >= 2
                assert torch.equal(cams.cam_from_world[i], cams.cam_from_world[j])  # exactly the same camera
            # Every qualifying pair is there; the given frames' partners are not.
            assert {i for i, _ in pairs} == {i for i in range(2, n) if n - 1 - 2 * i >= gap}
            assert (0, n - 1) not in pairs and (1, n - 2) not in pairs
    assert not retraces(make_path("loop", BOX, 48, 8, 8)) and not retraces(make_path("excursion", BOX, 48, 8, 8))
    assert same_pose_pairs(16, 2, 11) == [(2, 13)] and same_pose_pairs(12, 2, 8) == []


def test_cycle_horizons_take_the_pairs_near_each_gap():
    pairs = same_pose_pairs(104, 2, 8)
    got = horizon_pairs(pairs)
    assert set(got) == set(CYCLE_HORIZONS)
    gaps = {h: sorted(j - i for i, j in ps) for h, ps in got.items()}
    assert gaps == {25: [23, 25, 27], 50: [49, 51], 100: [99]}
    assert all(abs(j - i - h) <= HORIZON_WINDOW for h, ps in got.items() for i, j in ps)
    # 102 frames from 2 given frames reach gap 97 at most: horizon 100 is empty there (hence 104 by default).
    assert horizon_pairs(same_pose_pairs(102, 2, 8))[100] == []
    plan = make_plan("cycle", torch.eye(104, dtype=torch.float64), 2, 8, 0.5)
    assert plan.horizons == got and plan.entry()["horizon_pairs"]["100"] == [[2, 101]]


def test_drift_curve_scores_only_frames_the_given_frames_cover():
    s = torch.zeros(10, 10, dtype=torch.float64)
    s[0, 0] = s[1, 1] = 1.0
    s[0, 2], s[1, 3], s[0, 9], s[1, 5], s[4, 6] = 0.6, 0.5, 0.9, 0.49, 1.0  # frame 6: seen by a generated frame only
    covered = covered_by_given(s, 2, 0.5)
    assert covered.tolist() == [False, False, True, True, False, False, False, False, False, True]
    assert nearest_covered([2, 3, 9], 4) == 3 and nearest_covered([2, 3, 9], 6) == 3  # ties: the earlier
    assert nearest_covered([2, 3], 40) is None and nearest_covered([], 4) is None
    ep = _episode("out-and-back", 24, 2)
    plan = make_plan("recall", covisibility_matrix(ep.cameras, ep.depth), 2, 8, 0.5)
    assert plan.covered and min(plan.covered) >= 2 and {22, 23} <= set(plan.return_covered)  # the given views again
    assert all(t >= 12 for t in plan.return_covered) and set(plan.return_covered) <= set(plan.covered)
    noisy = ep.frames.clone()
    noisy[2:] = torch.rand(noisy[2:].shape, generator=torch.Generator().manual_seed(0))
    m = score_plan(plan, noisy, ep.frames)
    assert len(m["drift_curve"]) == 24
    assert [t for t, v in enumerate(m["drift_curve"]) if v is not None] == plan.covered
    t4 = plan.drift_frames[4]
    assert t4 == nearest_covered(plan.covered, 4) and m["drift_at_4"] == m["drift_curve"][t4] < 15
    assert m["drift_at_40"] is None  # no covered frame within 8 frames of frame 40 in a 24-frame path
    # The ground truth itself: exact on every covered frame and at every same pose; the right pair count.
    gt = score_plan(plan, ep.frames, ep.frames)
    assert gt["same_pose_psnr"] == pytest.approx(100.0) and gt["return_psnr_covered"] == pytest.approx(100.0)
    assert gt["same_pose_pairs"] == len(same_pose_pairs(24, 2, 8)) == 6 and gt["sharpness"] == 1.0


def test_sharpness_is_one_for_the_truth_and_lower_when_blurred():
    frames = _episode("turn-and-back", 8, 2).frames
    assert sharpness_ratio(frames, frames) == 1.0
    blurred = F.avg_pool2d(F.pad(frames, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert sharpness_ratio(blurred, frames) < 0.8
    assert sharpness_ratio(torch.full_like(frames, 0.5), frames) == 0.0
    assert sharpness_ratio(frames, torch.full_like(frames, 0.5)) is None  # a flat truth has no sharpness to match


def test_strip_shows_same_pose_pairs_out_above_back():
    pairs = same_pose_pairs(48, 2, 8)
    shown = pick_pairs(pairs, 6)
    assert len(shown) == 6 and shown[0] == pairs[0] and shown[-1] == pairs[-1]
    frames = torch.rand(48, 3, 4, 5)
    img = strip_image(frames, shown[:2])
    assert img.shape == (9, 11, 3)
    assert torch.equal(torch.from_numpy(img[5:, 6:]), frames[shown[1][1]].permute(1, 2, 0))


def _parsed(*argv):
    p = argparse.ArgumentParser()
    revisit.add_arguments(p)
    return p.parse_args(["--checkpoint", "x", "--out", "/nonexistent/o", *argv])


def test_cli_defaults_per_protocol():
    for argv, protocol, frames, context, names in (
            ((), "recall", 48, 2, RETRACING_PATHS), (("--protocol", "cycle"), "cycle", 104, 2, RETRACING_PATHS),
            (("--protocol", "given-half"), "given-half", 48, None, DEFAULT_TRAJECTORIES)):
        args = _parsed(*argv)
        _, got = revisit._validate(args)
        assert (args.protocol, args.num_frames, args.context_frames, tuple(got)) == (protocol, frames, context, names)
    args = _parsed("--context-frames", "1")
    revisit._validate(args)
    assert revisit._min_gap(args, 2, 4) == 8 and revisit._min_gap(args, 5, 8) == 14  # further apart than W + chunk
    half = _parsed("--protocol", "given-half")
    revisit._validate(half)
    assert revisit._min_gap(half, 2, 4) == 8 and revisit._min_gap(half, 5, 8) == 13  # unchanged


def _error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert msg.count("\n") == 1 and msg.startswith("python -m eval revisit: error: ") and "Traceback" not in msg, msg
    return msg


def test_bad_protocol_arguments_are_one_line_errors(checkpoint, tmp_path, capsys):
    base = ["revisit", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o"), "--scenes", "1"]
    assert "--protocol: unknown 'view'" in _error(capsys, base + ["--protocol", "view"])
    assert "1 .. 2 with --protocol recall" in _error(capsys, base + ["--context-frames", "3"])
    assert ">= 100 frames" in _error(capsys, base + ["--protocol", "cycle", "--num-frames", "48"])
    assert "'loop' does not come back" in _error(capsys, base + ["--trajectories", "out-and-back,loop"])
    assert "only with --protocol given-half" in _error(capsys, base + ["--source", "synthetic:x"])
    assert "further apart than working window" in _error(capsys, base + ["--min-gap", "4"])  # W 2 + chunk 2
    assert "no same-pose pair" in _error(capsys, base + ["--num-frames", "12"])
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert "did not write (no results.json)" in _error(capsys, base[:3] + ["--scenes", "1", "--out", str(tmp_path / "mine")])
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def _recall_run(checkpoint, out, *extra):
    return main(["revisit", "--checkpoint", str(checkpoint), "--out", str(out), "--scenes", "1", "--num-frames", "16",
                 "--steps", "1", "--trajectories", "turn-and-back", *extra])


def test_recall_run_reports_every_variant_and_the_headline(checkpoint, tmp_path, capsys):
    out = tmp_path / "recall"
    assert _recall_run(checkpoint, out) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["protocol"] == "recall" and res["config"]["context_frames"] == 2
    (scene,) = res["scenes"]
    assert scene["same_pose_pairs"] == [[2, 13], [3, 12]] and scene["context_frames"] == 2
    assert set(res["summary"]) == {"full", "working_only", "episodic", "spatial", "oracle"}
    for m in scene["variants"].values():
        assert m["same_pose_pairs"] == 2 and isinstance(m["same_pose_psnr"], float) and m["sharpness"] > 0
        assert len(m["drift_curve"]) == 16 and m["drift_curve"][:2] == [None, None]
    assert scene["reference"]["same_pose_psnr"] == pytest.approx(100.0)
    head = res["headline"]
    (row,) = head["same_pose"]["per_scene"]
    assert row["gain"] == pytest.approx(row["full"] - row["working_only"]) and head["same_pose"]["scenes_compared"] == 1
    assert set(head["table"]["full"]) >= {"same_pose_psnr", "return_psnr_covered", "drift_at_4", "drift_at_40", "sharpness"}
    md = (out / "report.md").read_text()
    assert md.index("Headline: protocol recall") < md.index("## Ablation") and "drift_curve.png" in md
    assert (out / "drift_curve.png").stat().st_size > 0 and "Same-pose PSNR" in (out / "report.html").read_text()
    printed = capsys.readouterr().out
    assert "protocol recall" in printed and "same-pose PSNR per scene" in printed and "of 1 scenes" in printed


def test_cycle_run_reports_the_horizons(checkpoint, tmp_path):
    out = tmp_path / "cycle"
    assert main(["revisit", "--checkpoint", str(checkpoint), "--out", str(out), "--protocol", "cycle", "--scenes", "1",
                 "--steps", "1", "--trajectories", "turn-and-back", "--variants", "oracle"]) == 0  # no model: fast
    res = json.loads((out / "results.json").read_text())
    (scene,) = res["scenes"]
    assert scene["num_frames"] == 104 and scene["horizon_pairs"]["100"] == [[2, 101]]
    for key in ("same_pose_psnr_at_25", "gt_psnr_at_50", "same_pose_psnr_at_100"):
        assert isinstance(res["summary"]["oracle"][key], float), key
    assert "same-pose @100 (dB)" in (out / "report.md").read_text()


def test_reports_are_renamed_into_place_never_half_written(checkpoint, tmp_path, monkeypatch):
    import eval.report

    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text('{"old": true}')
    real = eval.report.write_report

    def broken(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(eval.report, "write_report", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _recall_run(checkpoint, out, "--variants", "working_only")
    assert json.loads((out / "results.json").read_text()) == {"old": True} and sorted(p.name for p in out.iterdir()) == [
        "results.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left behind
    monkeypatch.setattr(eval.report, "write_report", real)
    assert _recall_run(checkpoint, out, "--variants", "working_only") == 0
    assert "config" in json.loads((out / "results.json").read_text()) and (out / "report.md").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


@pytest.mark.slow
def test_cycle_run_draws_revisit_error_against_horizon_and_memory_size(checkpoint, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "cycle"
    assert main(["revisit", "--checkpoint", str(checkpoint), "--out", str(out), "--protocol", "cycle", "--scenes", "1",
                 "--steps", "1", "--trajectories", "turn-and-back", "--variants", "full"]) == 0
    full = json.loads((out / "results.json").read_text())["scenes"][0]["variants"]["full"]
    voxels = [full[f"memory_voxels_at_{h}"] for h in (25, 50, 100)]
    assert all(v is not None and v > 0 for v in voxels) and voxels == sorted(voxels)  # the map only grows here
    assert full["memory_keyframes_at_100"] >= 1
    assert (out / "cycle_memory.png").is_file() and "cycle_memory.png" in (out / "report.md").read_text()
