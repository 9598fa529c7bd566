"""The command line: one-line errors, preview and stats, and the curation benchmark."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import pytest

from data_curation.cli import main
from eval.cli import main as eval_main

ROOT = Path(__file__).resolve().parents[2]
TINY = ("image_size: [24, 24]\nvoxel_size: 0.05\nsynthetic_supersample: 1\nsynthetic_frames: 10\nsource_frames: 8\n"
        "min_source_frames: 4\ntarget_frames: 2\nworking_frames: 1\nmax_keyframes: 2\nsamples_per_clip: 2\n"
        "clips_per_shard: 2\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    (root / "tiny.yaml").write_text(TINY)
    out = root / "out"
    assert main(["build", "--source", "synthetic:3", "--out", str(out), "--config", str(root / "tiny.yaml"),
                 "--no-progress"]) == 0
    return out


def run_error(capsys, argv):
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    text = capsys.readouterr().err.strip()
    assert "Traceback" not in text
    return text.splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["build", "--source", "colmap:/x", "--out", "o"], "unknown kind 'colmap'; expected one of synthetic"),
    (["build", "--source", "tum:/nowhere", "--out", "o"], "tum:/nowhere: expected a TUM sequence folder"),
    (["build", "--source", "synthetic:2", "--out", "o", "--num-shards", "2", "--shard-id", "2"], "--shard-id"),
    (["build", "--source", "synthetic:2", "--out", "o", "--workers", "0"], "--workers"),
    (["build", "--source", "synthetic:2", "--out", "o", "--config", "nope.yaml"],
     "nope.yaml: (top level): expected a readable YAML file (No such file or directory), got 'nope.yaml'"),
    (["build", "--source", "synthetic:2", "--out", "o", "--depth-dir", "/nowhere"], "--depth-dir /nowhere: not a folder"),
    (["build", "--source", "synthetic:2"], "the following arguments are required: --out"),
    (["preview", ".", "--sample", "x"], "no manifest.jsonl"),
    (["stats", "."], "no summary.json"),
])
def test_bad_input_is_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert message in run_error(capsys, argv)


def test_unknown_config_key_is_one_line(capsys, tmp_path):
    (tmp_path / "c.yaml").write_text("voxel_sise: 0.1\n")
    line = run_error(capsys, ["build", "--source", "synthetic:1", "--out", str(tmp_path / "o"),
                              "--config", str(tmp_path / "c.yaml")])
    assert line.endswith(f"error: {tmp_path / 'c.yaml'}: voxel_sise: expected a key of CurationConfig "
                         "(did you mean voxel_size?), got 'voxel_sise'")


def test_real_command_line_prints_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "data_curation", "build", "--source", "megasam:/nowhere", "--out",
                        str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["python -m data_curation build: error: megasam:/nowhere: expected a .npz "
                                             "file or a folder of them"]


def test_preview_writes_the_grid(built, capsys, tmp_path):
    rows = [json.loads(line) for line in (built / "manifest.jsonl").read_text().splitlines()]
    assert main(["preview", str(built), "--sample", rows[1]["key"], "--out", str(tmp_path / "p.mp4")]) == 0
    frames = [f for f in imageio.get_reader(tmp_path / "p.mp4", format="FFMPEG").iter_data()]
    assert len(frames) == 2  # T target frames
    h, w, _ = frames[0].shape
    assert h == 240 and w > 4 * 240  # 24 px scaled 10x; target | render | coverage | keyframes
    assert main(["preview", str(built), "--sample", "0"]) == 0
    assert (built / "previews" / f"{rows[0]['key']}.mp4").is_file()
    line = run_error(capsys, ["preview", str(built), "--sample", "nope"])
    assert "no such key" in line


def test_stats_prints_counts_and_coverage(built, capsys):
    assert main(["stats", str(built)]) == 0
    text = capsys.readouterr().out
    assert "clips  3 ok, 0 failed, of 3" in text and "samples 6 ok, 0 failed" in text
    assert "coverage" in text and "overlap" in text and "revisit_fraction" in text
    assert main(["stats", str(built), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["by_source"] == {"synthetic": 6} and 0 <= stats["coverage"]["median"] <= 1


@pytest.mark.slow
def test_curation_bench_quick_reports_both_engines(tmp_path, capsys):
    out = tmp_path / "curation.json"
    assert eval_main(["bench", "curation", "--quick", "--repeats", "2", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["workers"]) == {"1", "2"} and set(res["ray"]) == {"2"} and set(res["ray_running"]) == {"2"}
    rows = [*res["workers"].values(), res["ray"]["2"], res["ray_running"]["2"]]
    for row in rows:
        assert row["clips_per_min"] > 0 and row["samples_per_min"] > 0
    assert res["speedup_2_over_1"] > 0
    # The figures follow from the recorded builds: medians of 2 repeats of synthetic:4, every clip built.
    assert res["source"] == "synthetic:4" and res["repeats"] == 2
    for row in rows:
        assert len(row["all_seconds"]) == 2 and row["seconds"] == statistics.median(row["all_seconds"])
        assert row["clips"] == 4 and row["samples"] == 4 * res["config"]["samples_per_clip"]
        # The two rates describe the same builds: samples per clip apart.
        assert row["samples_per_min"] == pytest.approx(row["clips_per_min"] * res["config"]["samples_per_clip"])
    # The same 4 clips each time: the build that took less time has the higher rate.
    assert sorted(range(4), key=lambda i: rows[i]["seconds"]) == sorted(range(4), key=lambda i: -rows[i]["clips_per_min"])
    for row in res["workers"].values():  # CPU seconds: this process and its worker processes
        assert len(row["all_cpu_seconds"]) == 2
        per_clip = [c / 4 for c in row["all_cpu_seconds"]]  # a median of two repeats lies between them
        assert min(per_clip) * (1 - 1e-9) <= row["cpu_seconds_per_clip"] <= max(per_clip) * (1 + 1e-9)
    for row in (res["ray"]["2"], res["ray_running"]["2"]):  # Ray's workers are not this process's children
        assert row["cpu_seconds_per_clip"] is None and row["all_cpu_seconds"] is None
    one, two, ray2, warm = res["workers"]["1"], res["workers"]["2"], res["ray"]["2"], res["ray_running"]["2"]
    # Each speed-up is above 1 when its second build was the faster, and the three of local 1, local 2 and Ray
    # agree with each other (local 1 -> Ray is local 1 -> local 2 -> Ray).
    for ratio, slower_if_above_1, other in [(res["speedup_2_over_1"], one, two), (res["ray_2_over_local_2"], two, ray2),
                                            (res["ray_2_over_local_1"], one, ray2),
                                            (res["ray_running_2_over_local_2"], two, warm)]:
        assert ratio > 0 and (ratio > 1) == (slower_if_above_1["seconds"] > other["seconds"]), ratio
    assert res["ray_2_over_local_1"] == pytest.approx(res["speedup_2_over_1"] * res["ray_2_over_local_2"])
    text = capsys.readouterr().out
    assert "workers 1:" in text and "workers 2:" in text and "clips/min" in text and "samples/min" in text
    assert "ray, 2 workers (a local Ray per build):" in text and "ray, 2 workers (a running Ray):" in text
    assert "ray 2 workers (a local Ray per build) / local 2 workers:" in text
