"""``worldmem explore``'s bad inputs: each is one line ``worldmem explore: error: ...`` and exit status 2, before
any page starts; and a scripted headless session (``--moves ... --quit``) saves a world that ``--load`` goes on
with."""

import json
import socket
import subprocess
import sys

import pytest

from tests.explore.conftest import ROOT, TINY
from worldmem import cli
from worldmem.explore.arguments import free_port


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(["explore", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("worldmem explore: error: "), err
    return err


def test_unreadable_checkpoint_is_one_line(tmp_path, capsys):
    assert "--checkpoint: no model_index.json" in _error(["--checkpoint", str(tmp_path / "none")], capsys)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model_index.json").write_text("{not json")
    err = _error(["--checkpoint", str(bad), "--port", str(free_port()), "--save-to", str(tmp_path / "w")], capsys)
    assert "--checkpoint:" in err and str(bad) in err


def test_busy_port_is_one_line(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = _error(["--checkpoint", str(TINY), "--port", str(port), "--save-to", str(tmp_path / "w")], capsys)
    assert f"--port: 127.0.0.1:{port} is busy" in err


def test_load_of_a_folder_that_is_not_a_world_is_one_line(tmp_path, capsys):
    not_world = tmp_path / "run"
    not_world.mkdir()
    (not_world / "run.json").write_text(json.dumps({"command": "worldmem generate", "argv": []}))
    err = _error(["--checkpoint", str(TINY), "--load", str(not_world), "--port", str(free_port()),
                  "--save-to", str(tmp_path / "w")], capsys)
    assert "--load:" in err and "not a saved world" in err
    err = _error(["--checkpoint", str(TINY), "--load", str(tmp_path / "missing"), "--save-to", str(tmp_path / "w")],
                 capsys)
    assert "no such folder" in err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    err = _error(["--checkpoint", str(TINY), "--save-to", str(mine), "--port", str(free_port())], capsys)
    assert "--save-to:" in err and (mine / "notes.txt").read_text() == "keep"
    assert "--moves: unknown key" in _error(["--checkpoint", str(TINY), "--moves", "WX"], capsys)


@pytest.mark.slow
def test_scripted_session_saves_and_load_goes_on(tmp_path):
    def session(*argv):
        run = subprocess.run([sys.executable, "-m", "worldmem.explore", "--checkpoint", str(TINY), "--port",
                              str(free_port()), "--save-to", str(tmp_path / "world"), *argv], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stdout.splitlines()

    first = session("--moves", "WQV", "--quit", "--record", str(tmp_path / "rec"), "--no-compile")
    assert [line.split(":")[0] for line in first if line.startswith("chunk")] == ["chunk 0", "chunk 1"]
    assert any(line.startswith("saved world: 10 frames, 2 chunks") for line in first)
    assert not any("compil" in line for line in first)
    assert (tmp_path / "rec" / "video.mp4").is_file() and (tmp_path / "rec" / "memory.ply").is_file()
    assert json.loads((tmp_path / "world" / "world.json").read_text())["compiled"] is False
    second = session("--load", str(tmp_path / "world"), "--moves", "W", "--quit")  # compiled, the default
    assert any(line.startswith("world: 10 frames, 2 chunks") for line in second)
    assert any(line.startswith("chunk 2: frames 10-13") for line in second)
    assert any(line.startswith("worldmem explore: compiled in ") for line in second)
    assert any(line.startswith("worldmem explore: note: --load: the world was made eager, this session runs "
                               "compiled") for line in second)


def test_given_frames_start_a_world_and_flags_a_loaded_world_would_ignore_are_errors(tmp_path, capsys):
    import argparse

    import numpy as np
    import torch

    from worldmem.explore.app import load_world
    from worldmem.geometry import trajectories
    from worldmem.synthetic import SyntheticScene
    from worldmem.utils.io import atomic_write_json
    from worldmem.utils.video import write_video

    cams = trajectories.from_keys("W", start=(0.0, 0.0, 1.5), height=32, width=32, fov_deg=70.0)
    frames, depth = SyntheticScene.random(seed=2).render(cams)
    write_video(tmp_path / "given.mp4", frames, fps=8)
    np.save(tmp_path / "depth.npy", depth[:, 0].numpy())
    atomic_write_json(tmp_path / "cams.json", cams.to_dict())
    args = argparse.Namespace(checkpoint=TINY, load=None, frames=str(tmp_path / "given.mp4"),
                              depth=str(tmp_path / "depth.npy"), cameras=str(tmp_path / "cams.json"), scene=None,
                              seed=None, steps=None, prompt=None)
    _, world = load_world(args)
    assert world.frames.shape == (2, 3, 32, 32) and torch.equal(world.cameras.cam_from_world, cams.cam_from_world)
    chunk = world.generate(world.plan_move("forward"))
    assert chunk.first == 2 and chunk.frames.shape == (4, 3, 32, 32)
    world.save(tmp_path / "world", [])
    for flag in ("--steps", "--seed"):
        err = _error(["--checkpoint", str(TINY), "--load", str(tmp_path / "world"), flag, "3"], capsys)
        assert f"{flag}: not with --load" in err


def test_threads_outside_the_machines_cpus_is_one_line(tmp_path, capsys):
    import os

    from tests.explore.conftest import TINY

    for bad in ("0", str((os.cpu_count() or 1) + 1)):
        err = _error(["--checkpoint", str(TINY), "--threads", bad, "--port", str(free_port())], capsys)
        assert "--threads: expected an int in [1, " in err, err
