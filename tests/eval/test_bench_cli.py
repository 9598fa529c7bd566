import importlib.util
import json
import statistics

import pytest

from eval.cli import main
from worldmem.geometry import available_backends


def test_geometry_bench_quick_run_writes_json(tmp_path, capsys):
    out = tmp_path / "geometry.json"
    assert main(["bench", "geometry", "--quick", "--repeats", "3", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["render"] and res["tsdf"]["ours_ms_per_frame"] > 0 and res["tsdf"]["voxels"] > 0
    assert res["tsdf"]["ours_no_carve_ms_per_frame"] > 0  # the like-for-like row against Open3D
    assert res["image_size"] == 128 and res["repeats"] == 3
    # One row per point count asked for, one timing per backend, throughput from the row's own median.
    assert set(res["render"]) == {"20000", "200000"}
    backends = {"torch", "torch_splat"} | ({"pytorch3d"} if "pytorch3d" in available_backends() else set())
    timings = []
    for n, row in res["render"].items():
        assert {k for k, v in row.items() if isinstance(v, dict)} == backends
        for name in backends:
            assert row[name]["points_per_s"] == pytest.approx(int(n) / (row[name]["ms"] / 1e3))
            timings.append(row[name])
        if "pytorch3d" in backends:
            assert row["pytorch3d_over_torch_time"] == pytest.approx(row["pytorch3d"]["ms"] / row["torch"]["ms"])
    tsdf = res["tsdf"]
    assert tsdf["frames"] == 4 and tsdf["voxel_size"] == 0.05 and tsdf["trunc"] == pytest.approx(0.2)
    timings.append({"ms": tsdf["ours_ms_per_frame"], "all_ms": tsdf["ours_all_ms_per_frame"]})
    if importlib.util.find_spec("open3d") is not None:
        # Open3D ran, on the same voxel size and truncation (as its volume reports them), and the ratio is
        # the ratio of the two reported times.
        assert tsdf["open3d_voxel_size"] == pytest.approx(tsdf["voxel_size"])
        assert tsdf["open3d_trunc"] == pytest.approx(tsdf["trunc"])
        assert tsdf["open3d_over_ours_time"] == pytest.approx(tsdf["open3d_ms_per_frame"] / tsdf["ours_ms_per_frame"])
        timings.append({"ms": tsdf["open3d_ms_per_frame"], "all_ms": tsdf["open3d_all_ms_per_frame"]})
        # The interleaved ratio pairs the i-th Open3D round with the i-th of ours without carving.
        pair = tsdf["interleaved_all_ms_per_frame"]
        rounds = [o / n for o, n in zip(pair["open3d"], pair["ours_no_carve"], strict=True)]
        assert len(rounds) == 3 and tsdf["open3d_over_ours_no_carve_interleaved"] == pytest.approx(statistics.median(rounds))
    # The same rows once more in a child process where each side runs on one thread (Open3D's OpenMP loops too).
    one = res["tsdf_one_thread"]
    assert one["threads"] == 1 and one["omp_num_threads"] == "1"
    assert (one["frames"], one["voxel_size"], one["trunc"], one["voxels"]) == (
        tsdf["frames"], tsdf["voxel_size"], tsdf["trunc"], tsdf["voxels"])  # the same scene, the same map
    timings.append({"ms": one["ours_no_carve_ms_per_frame"], "all_ms": one["ours_no_carve_all_ms_per_frame"]})
    if importlib.util.find_spec("open3d") is not None:
        assert one["open3d_over_ours_no_carve_time"] == pytest.approx(
            one["open3d_ms_per_frame"] / one["ours_no_carve_ms_per_frame"])
    for t in timings:  # every figure is the median of the repeats it records
        assert len(t["all_ms"]) == 3 and min(t["all_ms"]) > 0 and t["ms"] == statistics.median(t["all_ms"])
    text = capsys.readouterr().out
    assert f"ours (sparse-voxel torch): {tsdf['ours_ms_per_frame']:.1f} ms/frame" in text
    assert "one thread each" in text


def test_unknown_benchmark_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as err:
        main(["bench", "nope"])
    assert err.value.code == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
