"""The path rule in the readers: files a dataset names outside its clip's folder are refused before they are
opened, unless the user opted in (``allow_outside=True``, ``data_curation build --allow-outside-paths``); then
they are read like any other. (Refusals over every reader and field: tests/robustness/cases_paths.py.)"""

import json
import os
import shutil

import pytest
import torch

from tests.data import fixtures
from worldmem.data import READERS, CurationConfig
from worldmem.data.readers import OutsidePathError

H = W = 32
CFG = CurationConfig(image_size=(H, W), min_source_frames=4, source_frames=8, synthetic_frames=12, target_frames=2,
                     working_frames=1, synthetic_supersample=1)


def _one(kind, path):
    refs = READERS[kind].list_clips(str(path))
    assert len(refs) == 1
    return refs[0]


def _nerfstudio_pointing_out(tmp_path, how):
    """A nerfstudio scene whose frame images live in ``tmp_path/elsewhere`` and are named by ``how``."""
    frames, depth, cams = fixtures.rendered(6, H, W)
    scene = fixtures.write_nerfstudio(tmp_path / "scene", frames, depth, cams)
    shutil.move(scene / "images", tmp_path / "elsewhere")
    data = json.loads((scene / "transforms.json").read_text())
    for f in data["frames"]:
        name = f["file_path"].split("/")[-1]
        f["file_path"] = {"absolute": str(tmp_path / "elsewhere" / name), "up": f"../elsewhere/{name}",
                          "link": f"images/{name}"}[how]
    if how == "link":
        os.symlink(tmp_path / "elsewhere", scene / "images")
    (scene / "transforms.json").write_text(json.dumps(data))
    return scene, frames


@pytest.mark.parametrize("how", ["absolute", "up", "link"])
def test_nerfstudio_outside_paths_are_refused_unless_allowed(tmp_path, how):
    scene, frames = _nerfstudio_pointing_out(tmp_path, how)
    ref = _one("nerfstudio", scene)
    with pytest.raises(OutsidePathError, match=r"^transforms.json: frame \d: file_path: .* points outside the dataset "
                                               rf"folder {scene.resolve()} .*--allow-outside-paths allows it\)$"):
        READERS["nerfstudio"].load_clip(ref, CFG)
    clip = READERS["nerfstudio"].load_clip(ref, CFG, allow_outside=True)
    assert clip.frames.shape == frames.shape and float((clip.frames - frames).abs().max()) <= 0.5 / 255 + 1e-6


def test_paths_inside_the_folder_stay_allowed(tmp_path):
    """``./``, ``a/../b`` that stays inside and a link to a file inside the folder are read as before."""
    frames, depth, cams = fixtures.rendered(6, H, W)
    scene = fixtures.write_nerfstudio(tmp_path / "scene", frames, depth, cams)
    (scene / "more").mkdir()
    data = json.loads((scene / "transforms.json").read_text())
    data["frames"][0]["file_path"] = "./" + data["frames"][0]["file_path"]
    data["frames"][1]["file_path"] = "depth/../" + data["frames"][1]["file_path"]
    name = data["frames"][2]["depth_file_path"].split("/")[-1]
    os.symlink(scene / "depth" / name, scene / "more" / name)
    data["frames"][2]["depth_file_path"] = f"more/{name}"
    (scene / "transforms.json").write_text(json.dumps(data))
    clip = READERS["nerfstudio"].load_clip(_one("nerfstudio", scene), CFG)
    assert clip.frames.shape == frames.shape and torch.isfinite(clip.depth).all()


def test_tum_lists_outside_the_folder_are_refused_unless_allowed(tmp_path):
    frames, depth, cams = fixtures.rendered(6, H, W)
    seq = fixtures.write_tum(tmp_path / "seq", frames, depth, cams)
    shutil.move(seq / "depth", tmp_path / "depth_elsewhere")
    text = (seq / "depth.txt").read_text().replace("depth/", f"{tmp_path / 'depth_elsewhere'}/")
    (seq / "depth.txt").write_text(text)
    ref = _one("tum", seq)
    with pytest.raises(OutsidePathError, match=r"^depth.txt: row 0: file name: .* points outside"):
        READERS["tum"].load_clip(ref, CFG)
    assert READERS["tum"].load_clip(ref, CFG, allow_outside=True).frames.shape == frames.shape


def test_linked_megasam_and_realestate10k_are_refused_unless_allowed(tmp_path):
    frames, depth, cams = fixtures.rendered(6, H, W)
    npz = fixtures.write_megasam(tmp_path / "elsewhere" / "clip.npz", frames, depth, cams)
    (tmp_path / "ms").mkdir()
    os.symlink(npz, tmp_path / "ms" / "clip.npz")
    ref = _one("megasam", tmp_path / "ms")
    with pytest.raises(OutsidePathError, match="^clip.npz: 'clip.npz' points outside"):
        READERS["megasam"].load_clip(ref, CFG)
    assert READERS["megasam"].load_clip(ref, CFG, allow_outside=True).frames.shape == frames.shape

    fixtures.write_realestate10k(tmp_path / "elsewhere_re", "clip", frames, depth, cams, tmp_path / "re_depth")
    (tmp_path / "re").mkdir()
    shutil.copy(tmp_path / "elsewhere_re" / "clip.txt", tmp_path / "re" / "clip.txt")
    os.symlink(tmp_path / "elsewhere_re" / "clip", tmp_path / "re" / "clip")
    ref = _one("realestate10k", tmp_path / "re")
    with pytest.raises(OutsidePathError, match="^frames folder clip/: 'clip' points outside"):
        READERS["realestate10k"].load_clip(ref, CFG, str(tmp_path / "re_depth"))
    clip = READERS["realestate10k"].load_clip(ref, CFG, str(tmp_path / "re_depth"), allow_outside=True)
    assert clip.frames.shape == frames.shape


def test_build_reports_outside_paths_and_the_flag_allows_them(tmp_path, capsys):
    """``build`` records the refused clip in failures.jsonl and exits 2 naming it; ``--allow-outside-paths``
    (recorded in plan.json, so it needs its own --out) curates it."""
    from data_curation.cli import main

    scene, _ = _nerfstudio_pointing_out(tmp_path, "up")
    cfg = tmp_path / "cur.yaml"
    cfg.write_text("image_size: [32, 32]\nmin_source_frames: 2\nsource_frames: 3\ntarget_frames: 2\n"
                   "working_frames: 1\nsamples_per_clip: 1\n")
    argv = ["build", "--source", f"nerfstudio:{scene}", "--config", str(cfg), "--no-progress"]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--out", str(tmp_path / "refused")])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and "\n" not in err
    assert err.startswith("python -m data_curation build: error: 1 clip(s) name files outside their dataset folder")
    assert "transforms.json: frame 0: file_path" in err and "--allow-outside-paths" in err
    failure = json.loads((tmp_path / "refused" / "failures.jsonl").read_text().splitlines()[0])
    assert "points outside the dataset folder" in failure["reason"]

    assert main([*argv, "--out", str(tmp_path / "allowed"), "--allow-outside-paths"]) == 0
    summary = json.loads((tmp_path / "allowed" / "summary.json").read_text())
    assert summary["clips"] == {"total": 1, "done": 1, "ok": 1, "failed": 0}
    assert json.loads((tmp_path / "allowed" / "plan.json").read_text())["allow_outside_paths"] is True
    with pytest.raises(SystemExit):  # the other build's folder: a different plan
        main([*argv, "--out", str(tmp_path / "refused"), "--allow-outside-paths"])
