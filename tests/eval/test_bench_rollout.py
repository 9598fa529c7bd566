"""``python -m eval bench rollout`` and ``bench all`` write their json (no timing assertions)."""

import json
from pathlib import Path

import pytest

import eval.bench as bench
from eval.cli import main


@pytest.mark.slow
def test_rollout_bench_quick_writes_json(tmp_path, capsys):
    out = tmp_path / "rollout.json"
    assert main(["bench", "rollout", "--quick", "--repeats", "1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {"machine", "model", "image_size", "steps", "chunk_size", "throughput", "chunks", "memory",
            "depth_written", "rebuild_baseline"} <= set(res)
    assert res["image_size"] == [32, 32] and res["steps"] == 8 and res["chunk_size"] == 4
    tp = res["throughput"]
    assert tp["new_frames"] == 8 and tp["frames_per_s"] > 0 and tp["seconds"] > 0
    chunks = res["chunks"]
    times = chunks["seconds"]
    assert chunks["num_frames"] == 100 and chunks["num_chunks"] == len(times) == 25  # 98 new frames
    assert chunks["seconds_total"] >= sum(times) * 0.999
    at = chunks["at_chunk_s"]
    assert set(at) == {"2", "10"}
    # Each figure summarises the chunk times it names: a median lies among them, and a ratio above 1 says its
    # first side took longer.
    for median, window in [(chunks["first5_median_s"], times[:5]), (chunks["last5_median_s"], times[-5:]),
                           (at["2"], times[0:4])]:
        assert min(window) <= median <= max(window), (median, window)
    for ratio, first, second in [(chunks["last5_over_first5"], chunks["last5_median_s"], chunks["first5_median_s"]),
                                 (chunks["ratio_to_chunk2"]["10"], at["10"], at["2"])]:
        assert ratio > 0 and (ratio > 1) == (first > second), (ratio, first, second)
    mem = res["memory"]
    assert mem["rss_peak_mb"] == pytest.approx(max(mem["rss_mb_per_chunk"] + [mem["rss_start_mb"]]))
    assert mem["memory_frames"] == 100 and len(mem["voxels_per_chunk"]) == 25
    # Random weights write the true depth back (the pipeline's write_back_depth seam): the path repeats every
    # 48 frames (12 chunks), so after the first lap the map stops growing. Model noise written back would
    # add ~100 k voxels per chunk.
    voxels = mem["voxels_per_chunk"]
    assert 0 < voxels[0] < voxels[11] and voxels[-1] <= 1.05 * voxels[12]  # (carving may remove a few)
    assert res["depth_written"].startswith("ground truth")
    rows = res["rebuild_baseline"]
    assert set(rows) == {"2", "10"} and {k: r["frames_in_map"] for k, r in rows.items()} == {"2": 2 + 8, "10": 2 + 40}
    assert all(r["rebuild_over_ours"] > 0 and (r["rebuild_over_ours"] > 1) == (r["rebuild_s"] > r["ours_write_s"])
               for r in rows.values())
    assert f"throughput: {tp['frames_per_s']:.2f} frames/s" in capsys.readouterr().out  # the figure it stored


def test_bench_all_gathers_every_benchmark(tmp_path, monkeypatch):
    calls = []

    def fake(name):
        def run(out, repeats, quick, **kwargs):
            calls.append((name, out, kwargs))
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("{}")
            return {"name": name, "quick": quick}
        return run

    for name in bench.ALL_ORDER:
        monkeypatch.setitem(bench.BENCHMARKS, name, fake(name))
    # A real checkpoint: the command loads it before the first benchmark (a broken one fails at once).
    ckpt = Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny"
    out = tmp_path / "b" / "bench.json"
    assert main(["bench", "all", "--quick", "--repeats", "1", "--out", str(out), "--checkpoint", str(ckpt)]) == 0
    assert [c[0] for c in calls] == ["geometry", "rollout", "curation"]
    assert all(c[1] == tmp_path / "b" / f"{c[0]}.json" for c in calls)
    assert [c[2] for c in calls] == [{}, {"checkpoint": ckpt}, {}]  # the checkpoint only reaches the rollout
    res = json.loads(out.read_text())
    assert set(res["benchmarks"]) == {"geometry", "rollout", "curation"}
    assert res["benchmarks"]["rollout"] == {"name": "rollout", "quick": True} and res["quick"] is True


def test_checkpoint_is_only_for_rollout_benches(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["bench", "geometry", "--checkpoint", str(tmp_path)])
    assert err.value.code == 2 and "--checkpoint: only for all, explore, rollout" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        main(["bench", "rollout", "--checkpoint", str(tmp_path)])
    assert err.value.code == 2 and "model_index.json" in capsys.readouterr().err
