"""``python -m eval.bench.laps``: the per-lap figures of a long loop, with the checkpoint's settings or overrides."""

import json
from pathlib import Path

import pytest

from eval.bench.laps import main

CKPT = Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny"


def test_laps_report_every_lap_with_the_overrides_applied(tmp_path, capsys):
    out = tmp_path / "laps.json"
    assert main(["--checkpoint", str(CKPT), "--laps", "3", "--write-margin", "2", "--render-anchor", "0.5",
                 "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["render_anchor"] == 0.5 and res["write_gate"]["margin"] == 2 and res["write_gate"]["mode"] == "new"
    assert list(res["same_pose_psnr_vs_lap2"]) == ["3"] and list(res["psnr_vs_ground_truth"]) == ["1", "2", "3"]
    v = res["voxels_at_lap_end"]
    assert all(n > 0 for n in v.values()) and res["voxels_last_over_lap2"] == v["3"] / v["2"]
    assert all(0.0 < c <= 1.0 for c in res["coverage"].values())
    assert all(0.0 <= s <= 1.0 for s in res["sky_with_depth"].values())
    assert "same-pose PSNR vs lap 2: lap 3:" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--laps", "2"], "--laps: expected at least 3"),
    (["--write-margin", "-1"], "--write-margin: expected an integer >= 0"),
    (["--render-anchor", "2"], "--render-anchor:"),
])
def test_bad_arguments_are_one_line_errors(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--checkpoint", str(CKPT), "--out", str(tmp_path / "x.json"), *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()
