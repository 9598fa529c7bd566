"""The benchmark kit: ``python -m eval export`` and ``python -m eval score`` (eval/kit/), end to end.

One tiny kit (1 scene, out-and-back, 24 frames) is exported once per module; a model written outside the
project, the shipped model and broken videos or kits are scored against it.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from eval.cli import main

CKPT = Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny"
FLAGS = ["--scenes", "1", "--num-frames", "24", "--trajectories", "out-and-back"]
EID = "1000000_out-and-back"

OUTSIDE_MODEL = textwrap.dedent('''
    """A model that knows nothing of worldmem: it repeats the last given frame."""
    import json, shutil, sys
    from pathlib import Path

    kit, videos = Path(sys.argv[1]), Path(sys.argv[2])
    for ep in json.loads((kit / "episodes.json").read_text())["episodes"]:
        out = videos / ep["id"]
        out.mkdir(parents=True)
        given = sorted((kit / ep["id"] / "given").iterdir())
        assert len(given) == ep["given_frames"]
        for t in range(ep["num_frames"]):
            shutil.copy(given[min(t, len(given) - 1)], out / f"{t:05d}.png")
''')


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("kit") / "kit"
    assert main(["export", *FLAGS, "--out", str(out)]) == 0
    return out


def _png_videos(folder: Path, frames: torch.Tensor, eid: str = EID) -> Path:
    import imageio.v2 as imageio

    (folder / eid).mkdir(parents=True)
    for t, f in enumerate((frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()):
        imageio.imwrite(folder / eid / f"{t:05d}.png", f)
    return folder


def test_kit_holds_the_episodes_and_no_truth(kit):
    from eval.episodes import synthetic_episodes
    from worldmem.geometry.cameras import Cameras

    data = json.loads((kit / "episodes.json").read_text())
    assert data["settings"]["protocol"] == "recall" and data["settings"]["min_gap"] == 8
    (ep,) = data["episodes"]
    assert (ep["id"], ep["num_frames"], ep["given_frames"], ep["height"]) == (EID, 24, 2, 32)
    truth = next(synthetic_episodes([1_000_000], ["out-and-back"], 24, 32, 2))
    folder = kit / EID
    assert sorted(p.name for p in folder.iterdir()) == ["cameras.json", "cameras.txt", "given", "given.npy",
                                                        "given_depth.npy"]
    assert sorted(p.name for p in (folder / "given").iterdir()) == ["00000.png", "00001.png"]
    assert torch.equal(torch.from_numpy(np.load(folder / "given.npy")), truth.frames[:2].permute(0, 2, 3, 1))
    assert torch.equal(torch.from_numpy(np.load(folder / "given_depth.npy")), truth.depth[:2, 0])
    cams = Cameras.from_dict(json.loads((folder / "cameras.json").read_text()))
    assert torch.allclose(cams.cam_from_world, truth.cameras.cam_from_world)
    rows = np.loadtxt(folder / "cameras.txt")
    back = Cameras.from_realestate10k(rows, 32, 32)
    assert rows.shape == (24, 19) and torch.allclose(back.cam_from_world.float(), truth.cameras.cam_from_world,
                                                     atol=1e-6)
    assert torch.allclose(back.K.float(), truth.cameras.K, atol=1e-5)


def test_a_model_written_outside_the_project_is_scored(kit, tmp_path):
    script = tmp_path / "outside" / "model.py"
    script.parent.mkdir()
    script.write_text(OUTSIDE_MODEL)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, str(script), str(kit), str(tmp_path / "repeat_last")], check=True,
                   cwd=script.parent, env=env)
    report = tmp_path / "report"
    assert main(["score", "--kit", str(kit), "--videos", str(tmp_path / "repeat_last"), "--out", str(report)]) == 0
    res = json.loads((report / "results.json").read_text())
    assert res["config"]["variants"] == ["repeat_last"] and res["config"]["protocol"] == "recall"
    (scene,) = res["scenes"]
    metrics = scene["variants"]["repeat_last"]
    assert metrics["same_pose_psnr"] == 100.0  # a constant video: why the headline shows sharpness beside it
    assert np.isfinite(metrics["return_psnr_covered"]) and metrics["return_psnr_covered"] < 30
    assert metrics["sharpness"] is not None and metrics["depth_abs_rel"] is None and metrics["warp_psnr"] is None
    for name in ("report.md", "report.html", "psnr_per_frame.png", "drift_curve.png"):
        assert (report / name).is_file(), name


def test_the_shipped_model_through_the_kit_equals_eval_revisit(kit, tmp_path):
    """The shipped model reads the kit (exact given frames: given.npy), writes lossless .npy frames and 8-bit
    PNGs; the .npy route equals eval revisit within 0.01 dB, the PNG route differs by the quantisation only."""
    from eval.revisit import _load_pipe
    from eval.variants import run_variant
    from worldmem.geometry.cameras import Cameras

    assert main(["revisit", "--checkpoint", str(CKPT), "--variants", "full", "--steps", "1", *FLAGS,
                 "--out", str(tmp_path / "revisit")]) == 0
    pipe = _load_pipe(CKPT)
    folder = kit / EID
    given = torch.from_numpy(np.load(folder / "given.npy")).permute(0, 3, 1, 2)
    depth = torch.from_numpy(np.load(folder / "given_depth.npy"))[:, None]
    cams = Cameras.from_dict(json.loads((folder / "cameras.json").read_text()))
    out = run_variant(pipe, "full", given, depth, cams, len(given), 1, 0)  # eval revisit's noise seed (0)
    npy = tmp_path / "shipped_npy"
    npy.mkdir()
    np.save(npy / f"{EID}.npy", out.frames.permute(0, 2, 3, 1).numpy())
    np.save(npy / f"{EID}_depth.npy", out.depth[:, 0].numpy())
    png = _png_videos(tmp_path / "shipped_png", out.frames)
    ref = json.loads((tmp_path / "revisit" / "results.json").read_text())["scenes"][0]["variants"]["full"]
    for videos, tolerance in ((npy, 0.01), (png, 0.1)):
        report = tmp_path / f"report_{videos.name}"
        assert main(["score", "--kit", str(kit), "--videos", str(videos), "--out", str(report)]) == 0
        got = json.loads((report / "results.json").read_text())
        metrics = got["scenes"][0]["variants"][videos.name]
        for key in ("same_pose_psnr", "return_psnr_covered"):
            assert abs(metrics[key] - ref[key]) <= tolerance, (videos.name, key, metrics[key], ref[key])
    assert abs(metrics["same_pose_psnr"] - ref["same_pose_psnr"]) > 0  # PNGs do quantise


def _error(capsys, argv, out: Path) -> str:
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert msg.count("\n") == 1 and msg.startswith(f"python -m eval {argv[0]}: error: "), msg
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*")), "something partial under --out"
    return msg


def test_bad_videos_and_kits_are_one_line_errors(kit, tmp_path, capsys):
    from eval.episodes import synthetic_episodes

    truth = next(synthetic_episodes([1_000_000], ["out-and-back"], 24, 32, 2)).frames
    out = tmp_path / "report"

    def score(videos, kit_dir=kit):
        return _error(capsys, ["score", "--kit", str(kit_dir), "--videos", str(videos), "--out", str(out)], out)

    (tmp_path / "empty").mkdir()
    assert f"episode {EID}: missing" in score(tmp_path / "empty")
    assert "23 frames" in score(_png_videos(tmp_path / "short", truth[:23]))
    assert "25 frames" in score(_png_videos(tmp_path / "long", torch.cat([truth, truth[:1]])))
    small = torch.nn.functional.interpolate(truth, size=(16, 16))
    assert "16x16, expected 32x32" in score(_png_videos(tmp_path / "small", small))
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / f"{EID}.mp4").write_bytes(b"not a video at all" * 10)
    assert f"episode {EID}" in score(tmp_path / "garbled")
    (tmp_path / "nan").mkdir()
    np.save(tmp_path / "nan" / f"{EID}.npy", np.full((24, 32, 32, 3), np.nan, dtype=np.float32))
    assert "NaN" in score(tmp_path / "nan")
    elsewhere = _png_videos(tmp_path / "elsewhere", truth)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / EID).symlink_to(elsewhere / EID)
    assert "points outside" in score(tmp_path / "linked")
    edited = tmp_path / "edited_kit"
    shutil.copytree(kit, edited)
    cams = json.loads((edited / EID / "cameras.json").read_text())
    cams["cam_from_world"][5][0][3] += 0.5
    (edited / EID / "cameras.json").write_text(json.dumps(cams))
    assert "does not match" in score(_png_videos(tmp_path / "good", truth), edited)
    assert "no episodes.json" in score(tmp_path / "good", tmp_path / "empty")
    # a failed export leaves nothing either
    assert "EVAL_SEEDS" in _error(capsys, ["export", *FLAGS, "--seed", "5", "--out", str(out)], out)
    assert "unknown trajectory" in _error(capsys, ["export", "--trajectories", "zigzag", "--out", str(out)], out)


def test_an_mp4_video_is_read_frame_for_frame(kit, tmp_path):
    from eval.episodes import synthetic_episodes
    from worldmem.utils.video import write_video

    truth = next(synthetic_episodes([1_000_000], ["out-and-back"], 24, 32, 2)).frames
    (tmp_path / "truth_mp4").mkdir()
    write_video(tmp_path / "truth_mp4" / f"{EID}.mp4", truth)
    assert main(["score", "--kit", str(kit), "--videos", str(tmp_path / "truth_mp4"), "--out",
                 str(tmp_path / "r"), "--name", "truth"]) == 0
    metrics = json.loads((tmp_path / "r" / "results.json").read_text())["scenes"][0]["variants"]["truth"]
    assert metrics["return_psnr_covered"] > 27  # H.264 loses a little (about 31 dB); one frame off: about 20 dB
    drift = [x for x in metrics["drift_curve"] if x is not None]
    assert drift and min(drift) > 25
