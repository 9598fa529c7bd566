"""``python -m eval compare``: several reports of one protocol in one ranked table; one-line errors."""

import json

import pytest

from eval.cli import main

BASE = ["revisit", "--scenes", "1", "--trajectories", "out-and-back", "--num-frames", "16", "--image-size", "16",
        "--min-gap", "6"]

TRUTH = '''
from eval.episodes import synthetic_episodes

class Truth:
    def generate(self, given_frames, given_depth, cameras, generator):
        episode = next(synthetic_episodes([1_000_000], ["out-and-back"], 16, 16, 2))
        return episode.frames, episode.depth

def truth():
    return Truth()
'''


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("reports")
    (root / "truth_model.py").write_text(TRUTH)
    for spec, name in (("eval.baselines:repeat_last", "rl"), ("eval.baselines:warp_given", "wg"),
                       (f"{root / 'truth_model.py'}:truth", "truth")):
        assert main([*BASE, "--model", spec, "--out", str(root / name)]) == 0
    return root


def test_compare_ranks_the_models_and_writes_one_table(reports, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(reports / "rl"), str(reports / "wg"), str(reports / "truth" / "results.json"),
                 "--out", str(out)]) == 0
    comparison = json.loads((out / "compare.json").read_text())
    assert comparison["protocol"] == "recall" and comparison["rank_key"] == "same_pose_psnr"
    order = {o["name"]: o for o in comparison["order"]}
    assert comparison["order"][0]["name"] == "truth" and order["truth"]["rank"] == 1
    assert order["repeat_last"]["rank"] is None and order["repeat_last"]["unranked"].startswith("motion")
    md = (out / "report.md").read_text()
    assert "return vs GT, covered (dB)" in md and "sharpness" in md and "motion" in md
    assert md.index("truth") < md.index("repeat_last")
    assert "<table>" in (out / "report.html").read_text()
    # the folder is replaced by a new comparison (it holds compare.json)
    assert main(["compare", str(reports / "rl"), str(reports / "truth"), "--out", str(out)]) == 0
    assert len(json.loads((out / "compare.json").read_text())["rows"]) == 2


def _error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert msg.count("\n") == 1 and msg.startswith("python -m eval compare: error: "), msg
    return msg


def test_bad_reports_are_one_line_errors(reports, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert "no results.json" in _error(capsys, ["compare", str(tmp_path / "missing"), "--out", str(out)])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    assert "broken" in _error(capsys, ["compare", str(broken), "--out", str(out)])
    other = json.loads((reports / "rl" / "results.json").read_text())
    other["config"]["protocol"] = "cycle"
    (broken / "results.json").write_text(json.dumps(other))
    assert "a different protocol" in _error(capsys, ["compare", str(reports / "rl"), str(broken), "--out", str(out)])
    other["config"]["protocol"] = "recall"
    other["scenes"][0]["scene"] = "synthetic:1000001"
    (broken / "results.json").write_text(json.dumps(other))
    assert "other episodes" in _error(capsys, ["compare", str(reports / "rl"), str(broken), "--out", str(out)])
    assert not out.exists()  # nothing partial
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    assert "--out" in _error(capsys, ["compare", str(reports / "rl"), "--out", str(keep)])
    assert (keep / "notes.txt").read_text() == "mine"


def test_a_baseline_scores_the_same_through_the_kit_and_compares_with_its_revisit_report(tmp_path, capsys):
    import numpy as np
    import torch

    from eval.baselines import warp_given
    from worldmem.geometry.cameras import Cameras

    episode_flags = ["--scenes", "1", "--trajectories", "out-and-back", "--num-frames", "24"]  # G = 8 for both
    assert main(["export", *episode_flags, "--out", str(tmp_path / "kit")]) == 0
    kit, videos = tmp_path / "kit", tmp_path / "warp_given"
    videos.mkdir()
    for ep in json.loads((kit / "episodes.json").read_text())["episodes"]:
        folder = kit / ep["id"]
        given = torch.from_numpy(np.load(folder / "given.npy")).permute(0, 3, 1, 2)
        depth = torch.from_numpy(np.load(folder / "given_depth.npy"))[:, None]
        cameras = Cameras.from_dict(json.loads((folder / "cameras.json").read_text()))
        frames, z = warp_given().generate(given, depth, cameras, torch.Generator())
        np.save(videos / f"{ep['id']}.npy", frames.permute(0, 2, 3, 1).numpy())
        np.save(videos / f"{ep['id']}_depth.npy", z[:, 0].numpy())
    assert main(["score", "--kit", str(kit), "--videos", str(videos), "--out", str(tmp_path / "scored")]) == 0
    assert main(["revisit", "--model", "eval.baselines:warp_given", *episode_flags,
                 "--out", str(tmp_path / "revisited")]) == 0
    assert main(["compare", str(tmp_path / "scored"), str(tmp_path / "revisited"), "--out", str(tmp_path / "c")]) == 0
    rows = json.loads((tmp_path / "c" / "compare.json").read_text())["rows"]
    kit_row, revisit_row = rows["warp_given (scored)"], rows["warp_given (revisited)"]
    for key in ("same_pose_psnr", "return_psnr_covered", "sharpness", "motion", "depth_abs_rel"):
        assert kit_row[key] == pytest.approx(revisit_row[key], abs=1e-4), key
