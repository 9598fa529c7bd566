import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmem import generate
from worldmem.geometry import Cameras
from worldmem.memory import WorldMemory

ROOT = Path(__file__).resolve().parents[2]


def test_generate_from_a_synthetic_scene_writes_every_output_and_resumes(tmp_path):
    out = tmp_path / "run"
    assert generate.main(["--random-init", "--scene", "synthetic:5", "--trajectory", "out-and-back", "--num-frames", "10",
                          "--out", str(out), "--steps", "1", "--save-memory", str(tmp_path / "saved")]) == 0
    for name in ("video.mp4", "depth.mp4", "cameras.json", "memory.ply", "memory/memory.json", "memory/memory.safetensors"):
        assert (out / name).is_file(), name
    cams = Cameras.from_dict(json.loads((out / "cameras.json").read_text()))
    assert len(cams) == 10 and (cams.height, cams.width) == (32, 32)
    assert WorldMemory.load(tmp_path / "saved").num_frames == 10
    more = tmp_path / "more"
    assert generate.main(["--random-init", "--resume-memory", str(out / "memory"), "--trajectory", "keys:WWAA",
                          "--out", str(more), "--steps", "1"]) == 0
    assert WorldMemory.load(more / "memory").num_frames == 14
    assert len(Cameras.from_dict(json.loads((more / "cameras.json").read_text()))) == 4


def test_generate_from_posed_frames_on_disk(tmp_path):
    from tests.synthetic.scene_paths import out_and_back_in_scene
    from worldmem.synthetic import SyntheticScene
    from worldmem.utils.io import atomic_write_json
    from worldmem.utils.video import write_video

    scene = SyntheticScene.random(seed=2, kind="room")
    cams = out_and_back_in_scene(scene, 3, 32)
    frames, depth = scene.render(cams)
    write_video(tmp_path / "given.mp4", frames)
    np.save(tmp_path / "depth.npy", depth[:, 0].numpy())
    atomic_write_json(tmp_path / "cams.json", cams.to_dict())
    out = tmp_path / "out"
    assert generate.main(["--random-init", "--frames", str(tmp_path / "given.mp4"), "--depth", str(tmp_path / "depth.npy"),
                          "--cameras", str(tmp_path / "cams.json"), "--trajectory", "keys:WWDD", "--num-frames", "7",
                          "--out", str(out), "--steps", "1"]) == 0
    written = Cameras.from_dict(json.loads((out / "cameras.json").read_text()))
    assert len(written) == 7
    torch.testing.assert_close(written.cam_from_world[:3], cams.cam_from_world, rtol=0, atol=1e-5)
    # The keyed path continues from the last given camera: its first step moves forward along that camera's +z.
    step = written.centers[3] - written.centers[2]
    forward = cams.world_from_cam[2, :3, 2]
    assert float(step @ forward) > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--random-init", "--scene", "synthetic:x", "--out", "o"], "--scene: expected synthetic:SEED"),
    (["--random-init", "--scene", "synthetic:1", "--trajectory", "zigzag", "--out", "o"], "unknown name 'zigzag'"),
    (["--checkpoint", "/no/such/dir", "--scene", "synthetic:1", "--out", "o"], "--checkpoint: no model_index.json"),
    (["--random-init", "--frames", "/no/video.mp4", "--depth", "d.npy", "--cameras", "c.json", "--out", "o"],
     "--frames: no such file"),
    (["--random-init", "--out", "o"], "expected --scene"),
    (["--random-init", "--scene", "synthetic:1", "--num-frames", "1", "--out", "o"], "--num-frames: expected >= 2"),
    (["--random-init", "--resume-memory", "m", "--trajectory", "keys:JJ", "--num-frames", "10", "--out", "o"],
     "--num-frames: a key path continues with one new frame per key (2 for 'keys:JJ'), got 10"),
])
def test_bad_arguments_give_one_line_errors(args, message, tmp_path):
    run = subprocess.run([sys.executable, "-m", "worldmem.cli", "generate", *args], cwd=tmp_path, capture_output=True,
                         text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-500:]
    assert message in run.stderr and run.stderr.strip().count("\n") == 0, run.stderr


@pytest.mark.slow
def test_unwritable_outputs_are_refused_before_any_work(tmp_path):
    (tmp_path / "afile").write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    base = [sys.executable, "-m", "worldmem.cli", "generate", "--random-init", "--scene", "synthetic:1",
            "--num-frames", "6", "--steps", "1"]
    cases = [(["--out", "afile"], "--out: afile: exists and is not a folder"),
             (["--out", "o", "--save-memory", "afile"], "--save-memory: afile: exists and is not a folder")]
    import os
    if os.geteuid() != 0:  # root writes anywhere: the permission case only means something for other users
        cases.append((["--out", "locked/o"], "is not writable"))
    for extra, message in cases:
        run = subprocess.run([*base, *extra], cwd=tmp_path, capture_output=True, text=True)
        assert run.returncode == 2 and message in run.stderr and run.stderr.strip().count("\n") == 0, run.stderr
        assert not (tmp_path / "o").exists()
    # A successful run leaves exactly the finished folder (no temporary siblings).
    run = subprocess.run([*base, "--out", "o"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-500:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "locked", "o"]
    assert {"video.mp4", "depth.mp4", "cameras.json", "memory.ply", "memory", "run.json"} == {
        p.name for p in (tmp_path / "o").iterdir()}


def _capture_videos(monkeypatch) -> list:
    """The frames every ``video.mp4`` of a run is written from (the mp4 itself is lossy)."""
    import worldmem.utils.video as video

    written, real = [], video.write_video

    def capture(path, frames, **kw):
        if Path(path).name == "video.mp4":
            written.append(frames.clone())
        real(path, frames, **kw)

    monkeypatch.setattr(video, "write_video", capture)
    return written


def test_resuming_along_a_named_path_gives_the_frames_of_one_run(tmp_path, monkeypatch, capsys):
    videos = _capture_videos(monkeypatch)
    base = ["--random-init", "--scene", "synthetic:4", "--trajectory", "loop", "--num-frames", "10", "--steps", "1",
            "--seed", "3"]
    assert generate.main([*base, "--out", str(tmp_path / "whole")]) == 0
    # Stop after 6 of the 10 frames (2 given + one chunk of 4), then resume along the recorded path.
    assert generate.main([*base, "--stop-after", "6", "--out", str(tmp_path / "first")]) == 0
    first = WorldMemory.load(tmp_path / "first" / "memory")
    assert first.num_frames == 6 and first.metadata["path"]["num_frames"] == 10
    assert generate.main(["--random-init", "--resume-memory", str(tmp_path / "first" / "memory"), "--steps", "1",
                          "--seed", "3", "--scene", "synthetic:4", "--trajectory", "loop",
                          "--out", str(tmp_path / "rest")]) == 0
    whole, start, rest = videos
    assert whole.shape[0] == 10 and start.shape[0] == 6 and rest.shape[0] == 4
    assert torch.equal(start, whole[:6]) and torch.equal(rest, whole[6:])
    cams = [Cameras.from_dict(json.loads((tmp_path / d / "cameras.json").read_text())) for d in ("whole", "rest")]
    assert torch.equal(cams[1].cam_from_world, cams[0].cam_from_world[6:])
    a, b = (WorldMemory.load(tmp_path / d / "memory") for d in ("whole", "rest"))
    sa, sb = a.state_dict(), b.state_dict()
    assert a.num_frames == b.num_frames == 10 and sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # Without the recorded path (a memory saved before paths were recorded) the old continuation stands, and a
    # scene is refused rather than ignored; a stop inside a chunk is refused before any work.
    meta = json.loads((tmp_path / "first" / "memory" / "memory.json").read_text())
    del meta["metadata"]
    (tmp_path / "first" / "memory" / "memory.json").write_text(json.dumps(meta))
    assert WorldMemory.load(tmp_path / "first" / "memory").metadata == {}
    capsys.readouterr()
    for args, message in ((["--random-init", "--resume-memory", str(tmp_path / "first" / "memory"), "--scene",
                            "synthetic:4"], "--scene: the memory in"),
                          ([*base, "--stop-after", "7"], "--stop-after: a run that stops before the path's 10 frames")):
        with pytest.raises(SystemExit) as exit_info:
            generate.main([*args, "--out", str(tmp_path / "no")])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "no").exists()


def test_generate_prints_its_cost_before_the_work(tmp_path, capsys):
    from worldmem import generate

    assert generate.main(["--random-init", "--scene", "synthetic:1", "--num-frames", "4", "--steps", "1",
                          "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    estimate, wrote = out.index("worldmem generate: 2 new frames in 1 chunks"), out.index("wrote 4 frames")
    assert estimate < wrote and "roughly" in out and "map at most" in out
