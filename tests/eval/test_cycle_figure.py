"""The cycle figure: revisit error against horizon and memory size (eval/cycle_figure.py)."""

import pytest

from eval.cycle_figure import CYCLE_PLOT_NAME, memory_at_horizons, plot_cycle


def test_memory_at_a_horizon_is_the_memory_its_return_frames_were_generated_from():
    sizes = [(6, 100, 1), (10, 250, 2), (14, 400, 3)]  # after each chunk: frames so far, voxels, keyframes
    got = memory_at_horizons(sizes, {4: [(5, 9)], 8: [(2, 11), (1, 13)], 50: []})
    assert got["memory_voxels_at_4"] == 100 and got["memory_keyframes_at_4"] == 1  # frame 9: written up to 6
    assert got["memory_voxels_at_8"] == 250 and got["memory_keyframes_at_8"] == 2  # frames 11, 13: up to 10
    assert got["memory_voxels_at_50"] is None  # no pair at that horizon
    assert memory_at_horizons(None, {4: [(5, 9)]}) == {"memory_voxels_at_4": None, "memory_keyframes_at_4": None}


def _results(protocol="cycle"):
    variant = {"same_pose_psnr_at_25": 30.0, "same_pose_psnr_at_50": 27.0, "memory_voxels_at_25": 1e4,
               "memory_voxels_at_50": 2e4, "memory_keyframes_at_25": 3.0, "memory_keyframes_at_50": 5.0}
    return {"config": {"protocol": protocol, "variants": ["full"]}, "scenes": [{"variants": {"full": variant}}]}


def test_the_figure_is_drawn_for_cycle_reports_only(tmp_path):
    pytest.importorskip("matplotlib")
    path, why = plot_cycle(_results(), tmp_path)
    assert why is None and path == tmp_path / CYCLE_PLOT_NAME and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_cycle(_results("recall"), tmp_path / "r") == (None, "(only the cycle protocol has horizons)")
