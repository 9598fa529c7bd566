import json

import pytest

from eval.cli import main


def test_geometry_bench_quick_run_writes_json(tmp_path):
    out = tmp_path / "geometry.json"
    assert main(["bench", "geometry", "--quick", "--repeats", "1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["render"] and res["tsdf"]["ours_ms_per_frame"] > 0 and res["tsdf"]["voxels"] > 0


def test_unknown_benchmark_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as err:
        main(["bench", "nope"])
    assert err.value.code == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
