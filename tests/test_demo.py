import json

import pytest

from worldmem import demo


@pytest.mark.slow
def test_memory_demo_writes_every_output(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path), "--frames", "12", "--size", "48", "--chunk", "3"]) == 0
    for name in ("memory_demo.mp4", "memory.ply", "summary.json", "memory/memory.json", "memory/memory.safetensors"):
        assert (tmp_path / name).is_file(), name
    summary = json.loads((tmp_path / "summary.json").read_text())
    # The returning views retrace the outward ones: the fused map must reproduce them closely.
    assert summary["surface_coverage"] > 0.95
    assert summary["render_psnr_covered_db"] > 25.0
    assert (tmp_path / "memory.ply").read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    assert "PSNR" in capsys.readouterr().out
