import importlib.util
import json
import statistics

import pytest

from eval.cli import main
from worldmem.geometry import available_backends


@pytest.mark.slow
def test_geometry_bench_quick_run_writes_json(tmp_path, capsys):
    out = tmp_path / "geometry.json"
    assert main(["bench", "geometry", "--quick", "--repeats", "3", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["render"] and res["tsdf"]["ours_ms_per_frame"] > 0 and res["tsdf"]["voxels"] > 0
    assert res["tsdf"]["ours_no_carve_ms_per_frame"] > 0  # the like-for-like row against Open3D
    assert res["image_size"] == 128 and res["repeats"] == 3
    # One row per point count asked for, one timing per backend.
    assert set(res["render"]) == {"20000", "200000"}
    backends = {"torch", "torch_splat"} | ({"pytorch3d"} if "pytorch3d" in available_backends() else set())
    timings = []
    ratios = []  # (a "first_over_second" time ratio, the first side's ms, the second side's ms)
    for row in res["render"].values():
        assert {k for k, v in row.items() if isinstance(v, dict)} == backends
        # A row's throughputs rank its backends as their times do: the faster one renders more points per second.
        assert sorted(backends, key=lambda b: row[b]["ms"]) == sorted(backends, key=lambda b: -row[b]["points_per_s"])
        timings += [row[name] for name in backends]
        if "pytorch3d" in backends:
            ratios.append((row["pytorch3d_over_torch_time"], row["pytorch3d"]["ms"], row["torch"]["ms"]))
    tsdf = res["tsdf"]
    assert tsdf["frames"] == 4 and tsdf["voxel_size"] == 0.05 and tsdf["trunc"] == pytest.approx(0.2)
    timings.append({"ms": tsdf["ours_ms_per_frame"], "all_ms": tsdf["ours_all_ms_per_frame"]})
    if importlib.util.find_spec("open3d") is not None:
        # Open3D ran, on the same voxel size and truncation (as its volume reports them), with its time ratio
        # to ours.
        assert tsdf["open3d_voxel_size"] == pytest.approx(tsdf["voxel_size"])
        assert tsdf["open3d_trunc"] == pytest.approx(tsdf["trunc"])
        ratios.append((tsdf["open3d_over_ours_time"], tsdf["open3d_ms_per_frame"], tsdf["ours_ms_per_frame"]))
        timings.append({"ms": tsdf["open3d_ms_per_frame"], "all_ms": tsdf["open3d_all_ms_per_frame"]})
        # The interleaved ratio pairs the i-th Open3D round with the i-th of ours without carving: it lies among
        # those rounds' ratios.
        pair = tsdf["interleaved_all_ms_per_frame"]
        rounds = [o / n for o, n in zip(pair["open3d"], pair["ours_no_carve"], strict=True)]
        assert len(rounds) == 3
        assert min(rounds) * (1 - 1e-9) <= tsdf["open3d_over_ours_no_carve_interleaved"] <= max(rounds) * (1 + 1e-9)
    # The same rows once more in a child process where each side runs on one thread (Open3D's OpenMP loops too).
    one = res["tsdf_one_thread"]
    assert one["threads"] == 1 and one["omp_num_threads"] == "1"
    assert (one["frames"], one["voxel_size"], one["trunc"], one["voxels"]) == (
        tsdf["frames"], tsdf["voxel_size"], tsdf["trunc"], tsdf["voxels"])  # the same scene, the same map
    timings.append({"ms": one["ours_no_carve_ms_per_frame"], "all_ms": one["ours_no_carve_all_ms_per_frame"]})
    if importlib.util.find_spec("open3d") is not None:
        ratios.append((one["open3d_over_ours_no_carve_time"], one["open3d_ms_per_frame"],
                       one["ours_no_carve_ms_per_frame"]))
    for ratio, first, second in ratios:  # a ratio above 1 says the first side took longer
        assert ratio > 0 and (ratio > 1) == (first > second), (ratio, first, second)
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
