"""``python -m eval bench explore`` runs headless and accounts for every chunk's time."""

import json

import pytest

from eval.bench import BENCHMARKS, CHECKPOINT_BENCHMARKS


@pytest.mark.slow
def test_bench_explore_quick(tmp_path):
    assert "explore" in BENCHMARKS and "explore" in CHECKPOINT_BENCHMARKS
    results = BENCHMARKS["explore"](out=tmp_path / "explore.json", repeats=1, quick=True)
    saved = json.loads((tmp_path / "explore.json").read_text())
    assert saved["median_chunk_ms"] == results["median_chunk_ms"] > 0
    assert saved["chunks"] >= 3 and saved["chunk_size"] == 4 and saved["steps"] == 8
    shares = {name: s["share"] for name, s in saved["stages"].items()}
    assert set(shares) == {"read", "denoise", "decode", "depth+align", "write", "send", "other"}
    assert abs(sum(shares.values()) - 1.0) < 1e-6 and shares["denoise"] > 0.3
    assert saved["map_points"] > 0 and saved["points_sent"] > 0
