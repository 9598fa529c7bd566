"""Malformed inputs of many kinds end in failures.jsonl with a one-line reason: no crash, no partial shard."""

import json
import re
import shutil

import imageio.v2 as imageio
import numpy as np
import pytest

from data_curation.build import run_build
from tests.data import fixtures
from worldmem.data import CurationConfig
from worldmem.data.shards import iter_shard

CFG = CurationConfig(image_size=(24, 24), voxel_size=0.05, synthetic_supersample=1, synthetic_frames=10,
                     source_frames=6, min_source_frames=4, target_frames=2, working_frames=1, max_keyframes=2,
                     samples_per_clip=1, clips_per_shard=3)

# clip id -> a piece of the expected reason
EXPECTED = {
    "re_empty": "empty file",
    "re_truncated": "expected 19 columns",
    "re_nan": "NaN or inf",
    "re_singular": "invalid camera",
    "re_count": "frame/camera count mismatch",
    "re_nodepth": "depth missing",
    "re_zerovideo": "zero-size",
    "re_badvideo": "unreadable",
    "re_noframes": "frames missing",
    "ns_badjson": "invalid JSON",
    "ns_emptyjson": "empty file",
    "ns_sizes": "images of different sizes",
    "ns_depthpartial": "depth missing",
    "tum_columns": "expected 8 columns",
    "tum_8bit": "16-bit",
    "tum_nomatch": "no colour frame",
    "ms_missing": "missing arrays",
    "ms_count": "frame/camera count mismatch",
    "ms_nan": "NaN",
    "ms_short": "too short",
    "ms_corrupt": "unreadable npz",
}
GOOD = {"re_good", "ns_good", "tum_good", "ms_good"}


def make_sources(root):
    frames, depth, cams = fixtures.rendered()
    r10, dd = root / "re10k", root / "depth"
    fixtures.write_realestate10k(r10, "re_good", frames, depth, cams, dd)
    (r10 / "re_empty.txt").write_text("")
    fixtures.write_realestate10k(r10, "re_truncated", frames, depth, cams, dd)
    lines = (r10 / "re_truncated.txt").read_text().splitlines()
    (r10 / "re_truncated.txt").write_text("\n".join(lines[:-1] + [" ".join(lines[-1].split()[:10])]))
    for name, edit in (("re_nan", lambda c: c[:12] + ["nan"] + c[13:]),
                       ("re_singular", lambda c: c[:7] + ["0"] * 12)):
        fixtures.write_realestate10k(r10, name, frames, depth, cams, dd)
        lines = (r10 / f"{name}.txt").read_text().splitlines()
        lines[3] = " ".join(edit(lines[3].split()))
        (r10 / f"{name}.txt").write_text("\n".join(lines) + "\n")
    fixtures.write_realestate10k(r10, "re_count", frames, depth, cams, dd)
    sorted((r10 / "re_count").iterdir())[-1].unlink()
    fixtures.write_realestate10k(r10, "re_nodepth", frames, depth, cams, None)
    for name, data in (("re_zerovideo", b""), ("re_badvideo", b"\x00not a video" * 100)):
        fixtures.write_realestate10k(r10, name, frames, depth, cams, dd)
        shutil.rmtree(r10 / name)
        (r10 / f"{name}.mp4").write_bytes(data)
    fixtures.write_realestate10k(r10, "re_noframes", frames, depth, cams, dd)
    shutil.rmtree(r10 / "re_noframes")

    ns = root / "nerfstudio"
    fixtures.write_nerfstudio(ns / "ns_good", frames, depth, cams)
    fixtures.write_nerfstudio(ns / "ns_badjson", frames, depth, cams)
    (ns / "ns_badjson" / "transforms.json").write_text('{"frames": [1, 2,')
    fixtures.write_nerfstudio(ns / "ns_emptyjson", frames, depth, cams)
    (ns / "ns_emptyjson" / "transforms.json").write_text("")
    fixtures.write_nerfstudio(ns / "ns_sizes", frames, depth, cams)
    imageio.imwrite(ns / "ns_sizes" / "images" / "frame_00003.png", np.zeros((40, 48, 3), np.uint8))
    fixtures.write_nerfstudio(ns / "ns_depthpartial", frames, depth, cams)
    data = json.loads((ns / "ns_depthpartial" / "transforms.json").read_text())
    del data["frames"][2]["depth_file_path"]
    (ns / "ns_depthpartial" / "transforms.json").write_text(json.dumps(data))

    tum = root / "tum"
    fixtures.write_tum(tum / "tum_good", frames, depth, cams)
    fixtures.write_tum(tum / "tum_columns", frames, depth, cams)
    gt = (tum / "tum_columns" / "groundtruth.txt").read_text().splitlines()
    gt[4] = " ".join(gt[4].split()[:7])
    (tum / "tum_columns" / "groundtruth.txt").write_text("\n".join(gt) + "\n")
    fixtures.write_tum(tum / "tum_8bit", frames, depth, cams)
    for p in (tum / "tum_8bit" / "depth").iterdir():
        imageio.imwrite(p, np.zeros((48, 48), np.uint8))
    fixtures.write_tum(tum / "tum_nomatch", frames, depth, cams)
    dep = (tum / "tum_nomatch" / "depth.txt").read_text().splitlines()
    shifted = [f"{float(t) + 5.0:.6f} {n}" for t, n in (line.split() for line in dep if not line.startswith("#"))]
    (tum / "tum_nomatch" / "depth.txt").write_text("\n".join(shifted) + "\n")

    ms = root / "megasam"
    fixtures.write_megasam(ms / "ms_good.npz", frames, depth, cams)
    np.savez(ms / "ms_missing.npz", images=fixtures.to_uint8(frames))
    fixtures.write_megasam(ms / "ms_count.npz", frames, depth, cams[:-1])
    d = depth.clone()
    d[2, 0, 5, 5] = float("nan")
    fixtures.write_megasam(ms / "ms_nan.npz", frames, d, cams)
    fixtures.write_megasam(ms / "ms_short.npz", frames[:3], depth[:3], cams[:3])
    (ms / "ms_corrupt.npz").write_bytes(b"PK\x03\x04 truncated zip")
    return [f"realestate10k:{r10}", f"nerfstudio:{ns}", f"tum:{tum}", f"megasam:{ms}"], dd


def test_malformed_inputs_end_in_failures_jsonl(tmp_path):
    assert len({reason for reason in EXPECTED.values()}) >= 10
    sources, depth_dir = make_sources(tmp_path / "in")
    out = tmp_path / "out"
    res = run_build(sources, out, CFG, depth_dir=str(depth_dir), progress=False)
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    by_clip = {f["clip_id"]: f for f in failures}
    assert set(by_clip) == set(EXPECTED), sorted(set(by_clip) ^ set(EXPECTED))
    for clip_id, want in EXPECTED.items():
        f = by_clip[clip_id]
        assert f["stage"] == "clip" and want in f["reason"], (clip_id, f["reason"])
        assert "\n" not in f["reason"] and "Traceback" not in f["reason"] and len(f["reason"]) <= 400
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["clips"]["ok"] == len(GOOD) == res.clips_ok
    assert summary["clips"]["failed"] == len(EXPECTED) == res.clips_failed
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert {r["clip_id"] for r in manifest} == GOOD
    # Every shard is a complete tar holding exactly its manifest rows; nothing temporary is left.
    keys = [k for tar in sorted((out / "shards").glob("*.tar")) for k, _ in iter_shard(tar)]
    assert sorted(keys) == sorted(r["key"] for r in manifest)
    assert not [p for p in (out / "shards").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("source, message", [
    ("colmap:/x", "unknown kind 'colmap'"),
    ("realestate10k:/does/not/exist", "expected a folder of <clip_id>.txt"),
    ("synthetic:abc", "expected N or START+N"),
])
def test_bad_sources_fail_the_whole_run_cleanly(tmp_path, source, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run_build([source], tmp_path / "out", CFG, progress=False)
