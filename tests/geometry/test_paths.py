"""The camera-path registry: names, documentation, errors, and the paths pinned against the calls they replace."""

import inspect
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from worldmem.geometry import paths
from worldmem.geometry import trajectories as tr
from worldmem.utils.seeding import numpy_rng

ROOT = Path(__file__).resolve().parents[2]
BOX = torch.tensor([[-2.5, -1.75, 1.2], [2.5, 1.75, 1.8]])


def _same(a, b):
    assert torch.equal(a.cam_from_world, b.cam_from_world) and torch.equal(a.K, b.K)
    assert (a.height, a.width) == (b.height, b.width)


def test_names_are_unique_documented_and_their_params_are_the_builders():
    assert len(set(paths.PATHS)) == len(paths.PATHS) == len(paths.PATH_NAMES)
    assert set(paths.RANDOM_PATH_NAMES) == {n for n, s in paths.PATHS.items() if s.draw is not None}
    docs = (ROOT / "docs" / "paths.md").read_text()
    for name, spec in paths.PATHS.items():
        assert spec.doc and isinstance(spec.revisits, bool), name
        assert f"`{name}" in docs, name  # every path has a row in docs/paths.md
        taken = [p for p in inspect.signature(spec.build).parameters if p not in ("lo", "hi", "n", "height", "width")]
        assert sorted(taken) == sorted(spec.params + ("fov_deg", "pitch_deg")), name
        assert set(spec.recorded) <= set(spec.params), name


def test_errors_name_the_problem_and_list_the_valid_names():
    with pytest.raises(ValueError, match="unknown name 'zigzag'.*out-and-back.*keys:"):
        paths.make_path("zigzag", BOX, 8, 16, 16)
    with pytest.raises(ValueError, match="unknown parameter.*turn_rate.*expected some of turns"):
        paths.make_path("loop", BOX, 8, 16, 16, turn_rate=2)
    with pytest.raises(ValueError, match="no random parameters.*walk-and-retrace"):
        paths.make_path("excursion", BOX, 8, 16, 16, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="gives 3 frames, expected num_frames 8"):
        paths.make_path("keys:WW", BOX, 8, 16, 16)
    with pytest.raises(ValueError, match="box"):
        paths.make_path("loop", [[0, 0, 0], [1, -1, 1]], 8, 16, 16)


def test_canonical_paths_are_the_low_level_calls_they_replace():
    lo, hi = BOX[0], BOX[1]
    c, half = ((lo + hi) / 2).tolist(), ((hi - lo) / 2).tolist()
    start, distance = (float(lo[0]) + 0.1, c[1], c[2]), max(float(hi[0] - lo[0]) - 0.2, 0.5)
    for sweep in (180.0, 90.0):  # eval and the generation demo; the memory demo and training validation
        kw = {} if sweep == 180.0 else {"sweep_deg": sweep}
        _same(paths.make_path("out-and-back", BOX, 48, 32, 32, **kw),
              tr.out_and_back(48, start=start, heading_deg=0.0, distance=distance, yaw_sweep_deg=sweep, height=32,
                              width=32, fov_deg=70.0))
    r = 0.7 * min(half[0], half[1])
    ring = tr.loop(32, center=c, radius=r, look="forward", height=32, width=32, fov_deg=70.0)  # 48 / 1.5 per turn
    _same(paths.make_path("loop", BOX, 48, 32, 32), ring[torch.arange(48) % 32])
    _same(paths.make_path("loop", BOX, 20, 16, 16, turns=1.0),
          tr.loop(20, center=c, radius=r, look="forward", height=16, width=16, fov_deg=70.0))
    _same(paths.make_path("outward-loop", BOX, 24, 16, 16),
          tr.loop(24, center=c, radius=r, look="outward", height=16, width=16, fov_deg=70.0))
    _same(paths.make_path("outward-loop", [[0, 0, 1], [0.6, 0.6, 1.2]], 6, 16, 16),  # too small: turn in place
          tr.look_around(6, position=[0.3, 0.3, 1.1], height=16, width=16, fov_deg=70.0))
    _same(paths.make_path("keys:WWJJAD", BOX, 7, 16, 16), tr.from_keys("WWJJAD", start=c, height=16, width=16, fov_deg=70.0))
    theta = torch.linspace(0.0, 2 * math.pi, 40)
    rr = 0.8 * min(half[0], half[1])
    pos = torch.stack([c[0] - rr * torch.cos(theta), c[1] + rr * torch.sin(theta), torch.full_like(theta, c[2])], 1)
    yaw = 180.0 - torch.rad2deg(theta) * 0.5 * (1 - torch.cos(theta))
    _same(paths.make_path("excursion", BOX, 40, 16, 16), tr.cameras_from_headings(pos, yaw, 0.0, 16, 16, 70.0))


def _old_curation_path(kind, rng, box, n, size, fov, pitch):
    """The curation reader's path code before the registry (worldmem/data/readers/synthetic.py), verbatim."""
    lo, hi = box[0].double().numpy(), box[1].double().numpy()
    mid = (lo + hi) / 2

    def point():
        return rng.uniform(lo, hi)

    def far(a):
        return max((point() for _ in range(8)), key=lambda q: float(np.linalg.norm(q[:2] - a[:2])))

    if kind == "out_and_back":
        a = point()
        b = far(a)
        heading = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
        sweep = float(rng.uniform(45.0, 120.0)) * (1 if rng.random() < 0.5 else -1)
        return tr.out_and_back(n, start=a.tolist(), heading_deg=heading, distance=float(np.linalg.norm(b[:2] - a[:2])),
                               yaw_sweep_deg=sweep, pitch_deg=pitch, height=size[0], width=size[1], fov_deg=fov)
    if kind == "loop":
        look = ("forward", "outward", "inward")[int(rng.integers(3))]
        radius = float(rng.uniform(0.5, 0.9) * min(hi[0] - mid[0], hi[1] - mid[1]))
        per_turn = max(2, round(n / float(rng.uniform(1.25, 1.6))))
        center = [float(mid[0]), float(mid[1]), float(rng.uniform(lo[2], hi[2]))]
        ring = tr.loop(per_turn, center=center, radius=radius, look=look, pitch_deg=pitch, height=size[0],
                       width=size[1], fov_deg=fov)
        return ring[torch.arange(n) % per_turn]
    if kind == "excursion":
        a = point()
        b = far(a)
        y0, look = float(rng.uniform(0.0, 360.0)), float(rng.uniform(40.0, 90.0))
        heading = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
        turn = lambda u, v: (v - u + 180.0) % 360.0 - 180.0  # noqa: E731
        y1 = y0 + look
        yh = y1 + turn(y1, heading)
        yb = yh + 180.0
        yback = yb + turn(yb, y0)
        pts = [q.tolist() for q in [a, a, a, b, b, a, a, a]]
        return tr.through_keyframes(pts, [y0, y1, yh, yh, yb, yb, yback, yback + look], n, pitch, size[0], size[1], fov)
    turns = float(rng.uniform(1.3, 1.6))
    return tr.look_around(n, position=point().tolist(), start_yaw_deg=float(rng.uniform(0, 360)),
                          yaw_range_deg=360.0 * turns, pitch_deg=pitch, height=size[0], width=size[1], fov_deg=fov)


@pytest.mark.parametrize("old, new", [("out_and_back", "walk-and-retrace"), ("loop", "loop"),
                                      ("excursion", "round-trip"), ("look_around", "look-around")])
def test_random_families_draw_what_curation_drew(old, new):
    for seed in range(6):
        for n, size in ((28, (16, 24)), (32, (32, 32))):
            before = _old_curation_path(old, numpy_rng("synthetic_path", seed), BOX, n, size, 65.0, -3.0)
            _same(paths.make_path(new, BOX, n, *size, rng=numpy_rng("synthetic_path", seed), fov_deg=65.0,
                                  pitch_deg=-3.0), before)
            params = paths.draw_path_params(new, BOX, n, numpy_rng("synthetic_path", seed))
            _same(paths.make_path(new, BOX, n, *size, fov_deg=65.0, pitch_deg=-3.0, **params), before)


def test_drawn_loop_turns_rebuild_the_same_frames_per_turn():
    for n in range(2, 120):
        for per_turn in range(2, n + 1):
            assert max(2, round(n / (n / per_turn))) == per_turn


def test_every_path_stays_in_its_box_and_the_random_ones_vary():
    for box in (BOX, torch.tensor(paths.DEFAULT_BOX)):
        for name in paths.PATHS:
            name = "keys:WWJJWWLLSS" if name == "keys" else name
            rngs = [None] + ([np.random.default_rng(k) for k in range(5)] if paths.PATHS[name.split(":")[0]].draw
                             else [])
            for rng in rngs:
                cams = paths.make_path(name, box, 11, 8, 8, rng=rng)
                assert len(cams) == 11 and bool(((cams.centers >= box[0] - 1e-4) & (cams.centers <= box[1] + 1e-4)).all())
    a = paths.make_path("round-trip", BOX, 20, 8, 8, rng=np.random.default_rng(0))
    b = paths.make_path("round-trip", BOX, 20, 8, 8, rng=np.random.default_rng(1))
    assert not torch.equal(a.cam_from_world, b.cam_from_world)
    # A parameter given by name overrides the drawn one and leaves the other draws alone.
    p = paths.draw_path_params("walk-and-retrace", BOX, 20, np.random.default_rng(3))
    _same(paths.make_path("walk-and-retrace", BOX, 20, 8, 8, rng=np.random.default_rng(3), sweep_deg=10.0),
          paths.make_path("walk-and-retrace", BOX, 20, 8, 8, **{**p, "sweep_deg": 10.0}))


def test_continue_path_starts_at_the_given_camera_and_keeps_its_shape():
    start = tr.look_at(torch.tensor([[1.0, 2.0, 0.5]]), torch.tensor([3.0, -1.0, 1.0]), 24, 32, 50.0)[0]
    for name in ("out-and-back", "loop", "keys:WWW"):
        n = 4 if name.startswith("keys") else 12
        cams = paths.continue_path(name, start, n)
        assert len(cams) == n and (cams.height, cams.width) == (24, 32)
        torch.testing.assert_close(cams.cam_from_world[0], start.cam_from_world, rtol=0, atol=1e-5)
        assert torch.equal(cams.K, start.K.expand(n, 3, 3))
        # The shape relative to the first camera is the registry path's in the default box.
        ref = paths.make_path(name, paths.DEFAULT_BOX, n, 24, 32)
        steps = (ref.centers - ref.centers[0]).norm(dim=-1)
        torch.testing.assert_close((cams.centers - cams.centers[0]).norm(dim=-1), steps, rtol=0, atol=1e-5)
    # "Forward" is the start camera's viewing direction.
    keys = paths.continue_path("keys:WWW", start, 4)
    assert float((keys.centers[1] - keys.centers[0]) @ start.forward) > 0.09


def test_retracing_entries_come_back_along_their_own_cameras():
    lo, hi = BOX[0], BOX[1]
    c, half = ((lo + hi) / 2).tolist(), ((hi - lo) / 2).tolist()
    for n in (2, 11, 24, 48):
        for name in ("out-and-back", "walk-and-retrace", "arc-and-back", "turn-and-back"):
            assert paths.retraces(paths.make_path(name, BOX, n, 8, 8)), (name, n)
    assert not paths.retraces(paths.make_path("loop", BOX, 24, 8, 8))
    # arc-and-back: the loop's circle, counter-clockwise, looking forward, for arc_deg; then the same poses back.
    r = 0.7 * min(half[0], half[1])
    theta = torch.deg2rad(torch.linspace(0.0, 180.0, 12))
    pos = torch.stack([c[0] + r * torch.cos(theta), c[1] + r * torch.sin(theta), torch.full_like(theta, c[2])], 1)
    out = tr.cameras_from_headings(pos, torch.rad2deg(theta) + 90.0, 0.0, 16, 16, 70.0)
    _same(paths.make_path("arc-and-back", BOX, 23, 16, 16), paths.then_reverse(out, 23))
    turn = tr.cameras_from_headings(torch.tensor(c).expand(12, 3), torch.linspace(0.0, 180.0, 12), 0.0, 16, 16, 70.0)
    _same(paths.make_path("turn-and-back", BOX, 24, 16, 16), paths.then_reverse(turn, 24))
    back = paths.then_reverse(turn, 24)
    assert torch.equal(back.cam_from_world[11], back.cam_from_world[12])  # even T: the turning point twice
    with pytest.raises(ValueError, match="outward: expected 12 cameras"):
        paths.then_reverse(turn[:5], 24)
    with pytest.raises(ValueError, match="look"):
        paths.make_path("arc-and-back", BOX, 8, 8, 8, look="up")
