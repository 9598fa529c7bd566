"""``python -m eval.bench.laps``: the per-lap figures of a long loop, with the checkpoint's settings or overrides."""

import json
from pathlib import Path

import pytest

from eval.bench.laps import main

CKPT = Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny"


@pytest.mark.slow
def test_laps_report_every_lap_with_the_overrides_applied(tmp_path, capsys):
    out = tmp_path / "laps.json"
    assert main(["--checkpoint", str(CKPT), "--laps", "3", "generation.write_gate.margin=2",
                 "generation.render_anchor=0.5", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["render_anchor"] == 0.5 and res["write_gate"]["margin"] == 2 and res["write_gate"]["mode"] == "new"
    assert list(res["same_pose_psnr_vs_lap2"]) == ["3"] and list(res["psnr_vs_ground_truth"]) == ["1", "2", "3"]
    v = res["voxels_at_lap_end"]
    assert all(n > 0 for n in v.values())
    ratio = res["voxels_last_over_lap2"]  # above 1 when the map grew after lap 2
    assert ratio > 0 and (ratio > 1) == (v["3"] > v["2"]), (ratio, v)
    assert all(0.0 < c <= 1.0 for c in res["coverage"].values())
    assert all(0.0 <= s <= 1.0 for s in res["sky_with_depth"].values())
    assert "same-pose PSNR vs lap 2: lap 3:" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--laps", "2"], "--laps: expected at least 3"),
    (["generation.write_gate.margin=-1"], "<overrides>: generation.write_gate.margin: expected a value >= 0, got -1"),
    (["generation.render_anchor=2"], "<overrides>: generation.render_anchor: expected a finite value in [0, 1]"),
    (["generation.memory_config.spatial.sky_resolution=-1"],
     "<overrides>: generation.memory_config.spatial.sky_resolution: expected a value >= 0, got -1"),
    (["write_gate.margin=1"], "<overrides>: write_gate.margin: expected a generation setting written "
                              "generation.KEY=VALUE"),
])
def test_bad_arguments_are_one_line_errors(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--checkpoint", str(CKPT), "--out", str(tmp_path / "x.json"), *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.json").exists()


@pytest.mark.slow
def test_the_sky_layer_keeps_the_sky_from_lap_to_lap(tmp_path):
    """The shipped pipeline remembers the sky (memory.spatial.sky_resolution 64): on the loop's courtyard the sky
    at lap 3 matches lap 2's far better than without the layer (measured 43.9 vs 23.8 dB), and no worse overall."""
    from eval.bench.laps import run_laps
    from worldmem.pipelines import generation_from, load_pipeline

    pipe = load_pipeline(CKPT)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.generation.memory_config.spatial.sky_resolution == 64
    with_sky = run_laps(pipe, 3)
    pipe.set_generation(generation_from(pipe, ["generation.memory_config.spatial.sky_resolution=0"]))
    without = run_laps(pipe, 3)
    assert with_sky["sky_resolution"] == 64 and without["sky_resolution"] == 0
    sky, no_sky = with_sky["same_pose_sky_psnr_vs_lap2"]["3"], without["same_pose_sky_psnr_vs_lap2"]["3"]
    assert sky > no_sky + 6.0, (sky, no_sky)
    assert with_sky["same_pose_psnr_vs_lap2"]["3"] > without["same_pose_psnr_vs_lap2"]["3"]
