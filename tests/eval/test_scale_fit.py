"""``python -m eval scale-fit``: the figure of the depth scale fit on held-out synthetic clips."""

import json

import pytest

from eval.cli import main
from eval.scale_fit import A_B, NOISE


def test_scale_fit_writes_the_png_and_the_json(tmp_path, capsys):
    out = tmp_path / "fig" / "scale_fit.png"
    assert main(["scale-fit", "--out", str(out), "--clips", "1", "--frames", "12"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(out.with_suffix(".json").read_text())
    assert len(data["rows"]) == 2 * len(A_B) * len(NOISE)
    assert data["command"].endswith("--start 1000000 --clips 1 --frames 12")
    assert set(data["per_noise"]) == {f"{n:g}" for n in NOISE}
    for row in data["rows"]:
        assert row["seed"] == 1000000 and (row["reliable"] == ("a_rel_error" in row))
        if not row["reliable"]:
            assert row["reason"]
    # Clip 1000000 walks (walk-and-retrace): noise-free outputs are fitted within 2 %.
    exact = [r for r in data["rows"] if r["noise"] == 0.0]
    assert all(r["reliable"] and abs(r["a_rel_error"]) < 0.02 for r in exact), exact
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--start", "5"], ["--clips", "0"], ["--frames", "4"]])
def test_scale_fit_refuses_training_seeds_and_bad_sizes(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(["scale-fit", "--out", str(tmp_path / "x.png"), *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("python -m eval scale-fit: error: ") and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()
