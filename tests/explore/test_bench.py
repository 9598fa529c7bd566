"""``python -m eval bench explore`` runs headless and accounts for every chunk's time."""

import json

import pytest

from eval.bench import BENCHMARKS, CHECKPOINT_BENCHMARKS


@pytest.mark.slow
def test_bench_explore_quick(tmp_path):
    assert "explore" in BENCHMARKS and "explore" in CHECKPOINT_BENCHMARKS
    results = BENCHMARKS["explore"](out=tmp_path / "explore.json", repeats=1, quick=True)
    saved = json.loads((tmp_path / "explore.json").read_text())
    assert saved["median_chunk_ms"] == results["median_chunk_ms"] > 0 and saved["default_mode"] == "compiled"
    assert saved["median_chunk_ms"] == saved["modes"]["compiled"]["median_chunk_ms"]
    assert saved["compiled_over_eager"] == (saved["modes"]["compiled"]["median_chunk_ms"]
                                            / saved["modes"]["eager"]["median_chunk_ms"])
    assert saved["chunk_size"] == 4 and saved["steps"] == 8
    for mode, run in saved["modes"].items():
        assert run["chunks"] >= 3, mode
        assert (run["compile_s"] > 0) == (mode == "compiled")
        shares = {name: s["share"] for name, s in run["stages"].items()}
        assert set(shares) == {"read", "denoise", "decode", "depth+align", "write", "send", "other"}
        assert abs(sum(shares.values()) - 1.0) < 1e-6 and shares["denoise"] > 0.3
        assert run["map_points"] > 0 and run["points_sent"] > 0
        assert len([line for line in run["lines"] if line.startswith("chunk ")]) == run["chunks"]
