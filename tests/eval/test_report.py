import io
import json
import math

import pytest

from eval.report import check_results, format_summary_table, print_summary_table, save_results, summarize, write_report


def _results(lpips_available=False):
    def variant(offset, lpips):
        curve = [30.0 - 0.2 * t + offset for t in range(12)]
        return {"psnr_per_frame": curve, "ssim_per_frame": [0.9 - 0.01 * t for t in range(12)],
                "revisit_psnr": 25.0 + offset, "revisit_ssim": 0.8, "revisit_psnr_vs_first_visit": 27.0 + offset,
                "lpips": lpips, "depth_abs_rel": 0.1 - 0.01 * offset, "warp_psnr": 28.0}

    scenes = [
        {"scene": "synthetic:1000", "trajectory": "out-and-back", "revisit_frames": [8, 9, 10, 11],
         "video": "videos/synthetic_1000.mp4",
         "variants": {"full": variant(2.0, 0.1 if lpips_available else None), "working-only": variant(0.0, None)}},
        {"scene": "synthetic:1001", "trajectory": "loop", "revisit_frames": [10, 11],
         "variants": {"full": variant(1.0, 0.2 if lpips_available else None), "working-only": variant(-1.0, float("nan"))}},
    ]
    reason = "AlexNet weights from x.pth" if lpips_available else "no AlexNet weights given (--lpips-weights PATH)"
    return {"config": {"checkpoint": "ckpt", "min_covisibility": 0.5, "min_gap": 8}, "scenes": scenes,
            "lpips": {"available": lpips_available, "reason": reason}}


def test_summary_means_over_scenes_skipping_missing():
    summary = summarize(_results())
    assert set(summary) == {"full", "working-only"}
    assert summary["full"]["revisit_psnr"] == pytest.approx(26.5)
    assert summary["working-only"]["revisit_psnr"] == pytest.approx(24.5)
    assert summary["full"]["lpips"] is None
    assert summary["full"]["psnr"] == pytest.approx(30.0 - 0.2 * 5.5 + 1.5)
    assert summarize(_results(lpips_available=True))["full"]["lpips"] == pytest.approx(0.15)


def test_report_writes_every_file(tmp_path):
    pytest.importorskip("matplotlib")
    results = _results()
    save_results(results, tmp_path / "results.json")
    loaded = json.loads((tmp_path / "results.json").read_text())  # strict json: the NaN became null
    assert loaded["scenes"][1]["variants"]["working-only"]["lpips"] is None
    paths = write_report(loaded, tmp_path / "report")
    for key in ("markdown", "html", "plot"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0
    assert paths["plot"].name == "psnr_per_frame.png" and paths["plot"].read_bytes()[:4] == b"\x89PNG"
    md = paths["markdown"].read_text()
    page = paths["html"].read_text()
    assert "| variant | revisit PSNR (dB) |" in md and "**26.50**" in md and "psnr_per_frame.png" in md
    assert "LPIPS: not computed: no AlexNet weights given" in md
    assert '<img src="psnr_per_frame.png"' in page and "<td>working-only</td>" in page
    assert 'href="videos/synthetic_1000.mp4"' in page and "n/a" in page


def test_summary_table_prints_every_variant():
    buf = io.StringIO()
    print_summary_table(_results(), file=buf)
    text = buf.getvalue()
    assert "full" in text and "working-only" in text and "overall PSNR (dB)" in text
    assert "LPIPS: not computed" in text
    assert len(format_summary_table(_results(lpips_available=True)).splitlines()) == 4  # header, rule, 2 variants


def test_malformed_results_name_the_missing_part(tmp_path):
    results = _results()
    del results["scenes"][1]["variants"]["full"]["warp_psnr"]
    with pytest.raises(ValueError, match=r"^results\['scenes'\]\[1\]\['variants'\]\['full'\]: missing key 'warp_psnr'"):
        write_report(results, tmp_path)
    with pytest.raises(ValueError, match=r"^results\['scenes'\]"):
        check_results({"scenes": []})
    assert not math.isnan(summarize(_results())["full"]["warp_psnr"])
