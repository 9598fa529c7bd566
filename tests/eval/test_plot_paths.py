"""``python -m eval plot-paths`` and eval's other users of the path registry."""

import pytest
import torch

from eval.cli import main
from eval.episodes import eval_path
from eval.plot_paths import top_down_view
from worldmem.geometry.paths import make_path
from worldmem.synthetic import SyntheticScene


def test_plot_paths_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "paths.png"
    assert main(["plot-paths", "--out", str(out), "--seed", "1", "--num-frames", "12", "--draws", "1"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_top_down_view_sees_the_floor_from_above():
    scene = SyntheticScene.random(seed=1)
    image, extent = top_down_view(scene, pixels=24)
    assert image.ndim == 3 and image.shape[2] == 3 and max(image.shape[:2]) == 24
    assert extent == (*scene.bounds[:, 0].tolist(), *scene.bounds[:, 1].tolist())
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.01  # textured floor, not one colour


def test_eval_and_bench_paths_are_registry_paths():
    from eval.bench.rollout import PER_TURN, _loop_path
    from worldmem.geometry import trajectories

    scene = SyntheticScene.random(seed=1_000_000)
    cams = eval_path(scene, "loop", 48, 16)
    assert torch.equal(cams.cam_from_world, make_path("loop", scene.free_box, 48, 16, 16).cam_from_world)
    # The rollout benchmark's long loop is the registry loop, identical to the ring it was built from by hand:
    # one forward-looking circle of PER_TURN cameras, repeated.
    lo, hi = scene.free_box
    center, half = ((lo + hi) / 2).tolist(), ((hi - lo) / 2).tolist()
    ring = trajectories.loop(PER_TURN, center=center, radius=0.7 * min(half[0], half[1]), look="forward",
                             height=16, width=16, fov_deg=70.0)
    for n in (100, 1000):
        a, b = _loop_path(scene, n, 16), ring[torch.arange(n) % PER_TURN]
        assert torch.equal(a.cam_from_world, b.cam_from_world) and torch.equal(a.K, b.K)
