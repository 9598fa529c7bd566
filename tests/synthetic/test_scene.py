"""Tests of the synthetic world: determinism, exact depth (against an independent sphere tracer),
view-independent colour, rich textures, moving objects and the free box."""

import math

import pytest
import torch
import torch.nn.functional as F

from worldmem.geometry.cameras import Cameras, intrinsics_from_fov
from worldmem.synthetic import SyntheticScene
from worldmem.synthetic.primitives import Box, Cylinder, Quad, ShapeSet, Sphere


def _cam_from_world(eye, forward, up=(0.0, 0.0, 1.0)) -> torch.Tensor:
    """4x4 OpenCV cam_from_world of a camera at ``eye`` looking along ``forward``, image up towards ``up``."""
    eye = torch.as_tensor(eye, dtype=torch.float64)
    f = torch.as_tensor(forward, dtype=torch.float64)
    f = f / f.norm()
    right = torch.linalg.cross(f, torch.as_tensor(up, dtype=torch.float64))
    right = right / right.norm()
    down = torch.linalg.cross(f, right)
    world_from_cam_r = torch.stack([right, down, f], dim=1)
    m = torch.eye(4, dtype=torch.float64)
    m[:3, :3] = world_from_cam_r.T
    m[:3, 3] = -world_from_cam_r.T @ eye
    return m.float()


def _cameras(eyes, forwards, height, width, fov=90.0, up=(0.0, 0.0, 1.0)) -> Cameras:
    m = torch.stack([_cam_from_world(e, f, up) for e, f in zip(eyes, forwards, strict=True)])
    return Cameras(m, intrinsics_from_fov(fov, height, width).expand(len(m), 3, 3), height, width)


def _ring(eye, n, pitch=-0.3):
    """n cameras at ``eye`` looking around the horizon (tilted by ``pitch`` radians)."""
    fwd = [(math.cos(a) * math.cos(pitch), math.sin(a) * math.cos(pitch), math.sin(pitch))
           for a in (2 * math.pi * i / n for i in range(n))]
    return [eye] * n, fwd


_CUBE = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)]
_CUBE_UP = [(0, 0, 1)] * 4 + [(0, 1, 0)] * 2


def _cube_cameras(eye, size=24) -> Cameras:
    """Six 90-degree cameras covering every direction from ``eye``."""
    m = torch.stack([_cam_from_world(eye, f, u) for f, u in zip(_CUBE, _CUBE_UP, strict=True)])
    return Cameras(m, intrinsics_from_fov(90.0, size, size).expand(6, 3, 3), size, size)


def _center_at(obj, time: float) -> torch.Tensor:
    """Reference centre of a (possibly moving) box or sphere at a scene time, from its Motion fields."""
    c = torch.tensor(obj.shape.center, dtype=torch.float64)
    m = obj.motion
    if m is None:
        return c

    def offset(a):
        return (torch.tensor(m.line, dtype=torch.float64) * (1 - math.cos(a)) / 2
                + m.radius * torch.tensor([math.cos(a), math.sin(a), 0.0], dtype=torch.float64))

    return c + offset(m.omega * time + m.phase) - offset(m.phase)


def _sdf(obj, p: torch.Tensor, time: float) -> torch.Tensor:
    """Distance (..., ) from points p (..., 3) to one object's surface (signed for solids: < 0 inside)."""
    s = obj.shape
    if isinstance(s, Quad):
        k = s.axis
        return (p[..., k] - s.lo[k]).abs()
    if isinstance(s, Sphere):
        return (p - _center_at(obj, time)).norm(dim=-1) - s.radius
    if isinstance(s, Box):
        rel = p - _center_at(obj, time)
        c, sn = math.cos(s.yaw), math.sin(s.yaw)
        x, y = rel[..., 0], rel[..., 1]
        local = torch.stack([c * x + sn * y, -sn * x + c * y, rel[..., 2]], -1)
        q = local.abs() - torch.tensor(s.half, dtype=p.dtype)
        return q.clamp(min=0).norm(dim=-1) + q.amax(-1).clamp(max=0)
    assert isinstance(s, Cylinder)
    radial = torch.hypot(p[..., 0] - s.x, p[..., 1] - s.y) - s.radius
    vertical = (p[..., 2] - (s.z0 + s.z1) / 2).abs() - (s.z1 - s.z0) / 2
    q = torch.stack([radial, vertical], -1)
    return q.clamp(min=0).norm(dim=-1) + q.amax(-1).clamp(max=0)


def _sphere_trace(scene, cams: Cameras, times):
    """Independent reference: z-depth and id by marching the scene's signed distance field (rooms only).

    Returns (T, 1, H, W) z-depth, ids, whether the march converged, and whether the nearest surface is
    unambiguous (the second nearest is > 1 mm away, i.e. not a contact line).
    """
    dirs = cams.ray_directions().double() @ cams.world_from_cam[:, None, :3, :3].double().transpose(-1, -2)
    unit = dirs / dirs.norm(dim=-1, keepdim=True)
    origin = cams.centers.double()[:, None, None, :]
    lo, hi = scene.bounds.double()
    solids = [o for o in scene.objects if not isinstance(o.shape, Quad)]

    def field(p):  # (T, H, W, 1 + solids): the room seen from inside, then each solid
        walls = torch.cat([p - lo, hi - p], -1).amin(-1)
        per_solid = [torch.stack([_sdf(o, p[i], float(times[i])) for i in range(len(p))]) for o in solids]
        return torch.stack([walls] + per_solid, -1)

    t = torch.zeros(unit.shape[:-1], dtype=torch.float64)
    for _ in range(400):
        t = t + field(origin + t[..., None] * unit).amin(-1)
    p = origin + t[..., None] * unit
    d = field(p)
    best = d.argmin(-1)
    # On the room: the nearest face, in id order floor, -x, +x, -y, +y, ceiling.
    face_d = torch.stack([p[..., 2] - lo[2], p[..., 0] - lo[0], hi[0] - p[..., 0], p[..., 1] - lo[1],
                          hi[1] - p[..., 1], hi[2] - p[..., 2]], -1)
    solid_ids = torch.tensor([-2] + [o.id for o in solids])
    ids = torch.where(best == 0, face_d.argmin(-1), solid_ids[best])
    converged = d.amin(-1) < 1e-6
    unambiguous = d.sort(-1).values[..., 1] > 1e-3
    z_depth = t / dirs.norm(dim=-1)  # dirs have camera z = 1
    return z_depth[:, None], ids[:, None], converged[:, None], unambiguous[:, None]


# ---------------------------------------------------------------------------------------------- determinism


def test_same_seed_same_frames_and_different_seeds_differ():
    cams = _cameras(*_ring((0.0, 0.0, 1.5), 4), 32, 40)
    a = SyntheticScene.random(seed=5, dynamic=True).render(cams, return_ids=True)
    b = SyntheticScene.random(seed=5, dynamic=True).render(cams, return_ids=True)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    c = SyntheticScene.random(seed=6, dynamic=True).render(cams)[0]
    assert (a[0] - c).abs().mean() > 0.05
    # A frame does not depend on the rest of its batch (bit for bit).
    alone = SyntheticScene.random(seed=5, dynamic=True).render(cams[2:3], times=torch.tensor([2.0]),
                                                               return_ids=True)
    for x, y in zip(a, alone, strict=True):
        assert torch.equal(x[2:3], y)


def test_chunked_rendering_gives_the_same_pixels(monkeypatch):
    import worldmem.synthetic.scene as scene_module

    scene = SyntheticScene.random(seed=8, dynamic=True)
    cams = _cameras(*_ring(scene.start.tolist(), 3), 20, 30)
    whole = scene.render(cams, return_ids=True)
    monkeypatch.setattr(scene_module, "_RAYS_PER_CHUNK", 256)  # splits frames into pieces of rays
    for x, y in zip(whole, scene.render(cams, return_ids=True), strict=True):
        assert torch.equal(x, y)


def test_static_world_does_not_depend_on_dynamic_flag_or_explicit_kind():
    chosen = SyntheticScene.random(seed=3)
    same = SyntheticScene.random(seed=3, kind=chosen.kind)
    moving = SyntheticScene.random(seed=3, dynamic=True)
    assert chosen.objects == same.objects
    assert moving.objects[: len(chosen.objects)] == chosen.objects
    assert chosen.dynamic_ids == () and len(moving.dynamic_ids) >= 1
    kinds = {SyntheticScene.random(seed=s).kind for s in range(8)}
    assert kinds == {"room", "courtyard"}


# ---------------------------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("kind", ["room", "courtyard"])
def test_shapes_dtypes_ranges(kind):
    scene = SyntheticScene.random(seed=1, kind=kind, dynamic=True)
    cams = _cameras(*_ring(scene.start.tolist(), 3), 24, 40)
    frames, depth, ids = scene.render(cams, times=torch.tensor([0.0, 2.5, 7.0]), return_ids=True)
    assert frames.shape == (3, 3, 24, 40) and frames.dtype == torch.float32
    assert depth.shape == (3, 1, 24, 40) and depth.dtype == torch.float32
    assert ids.shape == (3, 1, 24, 40) and ids.dtype == torch.int64
    assert 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0
    assert bool(((depth > 0) == (ids >= 0)).all())
    assert int(ids.min()) >= -1 and int(ids.max()) < len(scene.objects)
    two = scene.render(cams)
    assert len(two) == 2 and torch.equal(two[1], scene.render(cams, times=torch.arange(3.0))[1])
    lo, hi = scene.free_box
    assert bool((hi - lo)[:2].min() >= 2.5) and bool((lo <= scene.start).all() and (scene.start <= hi).all())
    assert bool((scene.bounds[0] < lo).all() and (hi < scene.bounds[1]).all())


def test_courtyard_sky_looking_up_and_room_has_no_sky():
    yard = SyntheticScene.random(seed=2, kind="courtyard")
    up = _cameras([yard.start.tolist()], [(0.0, 0.0, 1.0)], 16, 16, fov=60.0, up=(0.0, 1.0, 0.0))
    frames, depth, ids = yard.render(up, return_ids=True)
    assert bool((ids == -1).all()) and bool((depth == 0).all())
    assert float(frames.min()) > 0.1  # the sky has a colour, not black
    room = SyntheticScene.random(seed=2, kind="room")
    _, depth, ids = room.render(_cube_cameras(room.start.tolist()), return_ids=True)
    assert bool((ids >= 0).all()) and bool((depth > 0).all())


# ---------------------------------------------------------------------------------------------- geometry


def test_depth_equals_distance_to_a_wall_seen_head_on():
    scene = SyntheticScene.random(seed=4, kind="room")
    wall = next(o for o in scene.objects if o.name == "wall_+x")
    eye = (0.3, -0.4, 1.5)
    cams = _cameras([eye], [(1.0, 0.0, 0.0)], 48, 64)
    _, depth, ids = scene.render(cams, return_ids=True)
    on_wall = ids == wall.id
    assert on_wall.float().mean() > 0.2
    expected = wall.shape.lo[0] - eye[0]
    assert torch.allclose(depth[on_wall], torch.full_like(depth[on_wall], expected), rtol=1e-5, atol=1e-5)
    assert bool((depth[~on_wall] < expected).all())  # everything else is in front of the wall


def test_unprojected_depth_lies_on_the_hit_surfaces():
    scene = SyntheticScene.random(seed=7, kind="room", dynamic=True)
    cams = _cameras(*_ring(scene.start.tolist(), 6, pitch=-0.45), 40, 56)
    times = torch.tensor([0.0, 3.0, 11.0, 20.0, 31.5, 47.0])
    _, depth, ids = scene.render(cams, times=times, return_ids=True)
    points = cams.unproject(depth).double()  # (T, H, W, 3)
    for obj in scene.objects:
        for i in range(len(times)):
            mask = ids[i, 0] == obj.id
            if mask.any():
                err = _sdf(obj, points[i][mask], float(times[i])).abs()
                assert float(err.max()) < 1e-3, obj
    assert len({int(i) for i in ids.unique()} & set(scene.dynamic_ids)) >= 1  # a mover was checked too


def test_depth_and_ids_match_an_independent_sphere_tracer():
    scene = SyntheticScene.random(seed=11, kind="room", dynamic=True)
    cams = _cameras(*_ring(scene.start.tolist(), 3, pitch=-0.35), 24, 32)
    times = torch.tensor([0.0, 6.0, 13.0])
    _, depth, ids = scene.render(cams, times=times, return_ids=True)
    ref_depth, ref_ids, converged, unambiguous = _sphere_trace(scene, cams, times)
    assert converged.float().mean() > 0.97
    close = (ref_depth - depth.double()).abs() < 2e-4 * ref_depth.clamp(min=1.0)
    assert close[converged].float().mean() > 0.995  # a ray grazing an edge may stop early in the tracer
    same = ref_ids == ids
    assert same[converged & unambiguous].float().mean() > 0.995
    seen = {int(i) for i in ids.unique()}
    assert len(seen) >= 6 and seen & set(scene.dynamic_ids)


def test_normals_are_unit_and_face_the_camera():
    scene = SyntheticScene.random(seed=9, kind="room", dynamic=True)
    shapes = ShapeSet([o.shape for o in scene.objects], [o.id for o in scene.objects],
                      [o.motion for o in scene.objects])
    cams = _cameras(*_ring(scene.start.tolist(), 4, pitch=-0.4), 32, 32)
    dirs = cams.ray_directions().reshape(4, -1, 3) @ cams.world_from_cam[:, :3, :3].transpose(1, 2)
    hits = shapes.cast(cams.centers, dirs, torch.arange(4.0) * 5)
    hit = hits.ids >= 0
    assert bool(hit.all())
    assert torch.allclose(hits.normal.norm(dim=-1), torch.ones(hit.shape), atol=1e-5)
    assert bool(((hits.normal * dirs).sum(-1) < 0).all())  # outward normals always face the viewer


# ---------------------------------------------------------------------------------------------- appearance


def test_colour_of_a_surface_point_is_view_independent():
    scene = SyntheticScene.random(seed=0, kind="room")
    # Two views about 40 degrees apart of the same stretch of the +x wall and the floor in front of it.
    target = torch.tensor([float(scene.bounds[1, 0]) - 1.0, 0.0, 0.6])
    eyes = [torch.tensor([-0.5, -1.6, 1.5]), torch.tensor([-0.3, 1.5, 1.3])]
    cams = _cameras([e.tolist() for e in eyes], [(target - e).tolist() for e in eyes], 128, 128, fov=70.0)
    frames, depth = scene.render(cams)
    points = cams[0:1].unproject(depth[0:1])[0].reshape(-1, 3)
    uv, z = cams[1:2].project(points[None])
    uv, z = uv[0], z[0]
    h, w = 128, 128
    col, row = uv[:, 0].floor().long(), uv[:, 1].floor().long()
    inside = (col >= 2) & (col < w - 2) & (row >= 2) & (row < h - 2) & (z > 0)
    # Keep points B sees unoccluded, away from depth edges in either view.
    patch_b = F.max_pool2d(depth[1:2], 3, 1, 1) - (-F.max_pool2d(-depth[1:2], 3, 1, 1))
    patch_a = F.max_pool2d(depth[0:1], 3, 1, 1) - (-F.max_pool2d(-depth[0:1], 3, 1, 1))
    col_c, row_c = col.clamp(0, w - 1), row.clamp(0, h - 1)
    d_b = depth[1, 0][row_c, col_c]
    keep = inside & ((d_b - z).abs() < 0.01 * z) & (patch_b[0, 0][row_c, col_c] < 0.02 * z)
    keep &= patch_a[0, 0].reshape(-1) < 0.02 * depth[0, 0].reshape(-1)
    assert keep.float().mean() > 0.25

    def sample_b(uv_px):
        grid = torch.stack([2 * uv_px[:, 0] / w - 1, 2 * uv_px[:, 1] / h - 1], -1)[None, None]
        return F.grid_sample(frames[1:2], grid, mode="bilinear", align_corners=False)[0, :, 0].T

    colour_a = frames[0].reshape(3, -1).T[keep]
    diff = (sample_b(uv[keep]) - colour_a).abs().mean()
    shifted = (sample_b(uv[keep] + torch.tensor([3.0, 2.0])) - colour_a).abs().mean()
    assert float(diff) < 0.006  # about 0.0015: bilinear resampling of B only
    assert float(shifted) > 5 * float(diff)  # the check has power: a 3-pixel misregistration shows


def test_textures_are_rich_and_parts_of_the_room_differ():
    for seed in range(3):
        scene = SyntheticScene.random(seed=seed, kind="room")
        eye = scene.start.tolist()
        cams = _cameras([eye] * 4, _CUBE[:4], 64, 64)
        frames, _ = scene.render(cams)
        for f in frames:
            assert float(f.std()) > 0.08
            r, g, b = (f * 31).round().long()  # 5 bits per channel
            assert int(torch.bincount(((r * 32 + g) * 32 + b).flatten()).count_nonzero()) > 150  # colours
        for i in range(4):
            for j in range(i):
                assert float((frames[i] - frames[j]).abs().mean()) > 0.05, (seed, i, j)


# ---------------------------------------------------------------------------------------------- dynamics


def test_moving_objects_move_and_static_pixels_stay():
    scene = SyntheticScene.random(seed=3, kind="courtyard", dynamic=True)
    # Looking straight down from above the walls: the whole courtyard floor is in view.
    above = _cameras([(0.0, 0.0, 4.0)] * 2, [(0.0, 0.0, -1.0)] * 2, 128, 128, fov=110.0, up=(0.0, 1.0, 0.0))
    frames, depth, ids = scene.render(above, times=torch.tensor([0.0, 10.0]), return_ids=True)
    moving = scene.dynamic_mask(ids)
    assert len(scene.dynamic_ids) >= 1
    for k in scene.dynamic_ids:  # every mover is seen and is somewhere else at t = 10
        assert int((ids[0] == k).sum()) > 5
        assert int(((ids[0] == k) != (ids[1] == k)).sum()) > 10
    static = ~(moving[0] | moving[1])
    assert torch.equal(ids[0][static], ids[1][static])
    assert torch.equal(depth[0][static], depth[1][static])
    assert torch.equal(frames[0][static.expand(3, -1, -1)], frames[1][static.expand(3, -1, -1)])


def test_static_scene_is_time_invariant():
    scene = SyntheticScene.random(seed=3, kind="courtyard", dynamic=False)
    cams = _cameras(*_ring(scene.start.tolist(), 2), 32, 32)
    a = scene.render(cams, times=torch.tensor([0.0, 1.0]), return_ids=True)
    b = scene.render(cams, times=torch.tensor([37.5, 120.0]), return_ids=True)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_free_box_is_free(seed):
    scene = SyntheticScene.random(seed=seed, dynamic=True)
    gen = torch.Generator().manual_seed(seed)
    lo, hi = scene.free_box
    for _ in range(4):
        eye = lo + torch.rand(3, generator=gen) * (hi - lo)
        cams = _cube_cameras(eye.tolist())
        times = torch.rand(6, generator=gen) * 100.0
        _, depth, ids = scene.render(cams, times=times, return_ids=True)
        assert bool((depth[ids >= 0] > 0.2).all())
        if scene.kind == "room":
            assert bool((ids >= 0).all())


# ---------------------------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_value_errors():
    scene = SyntheticScene.random(seed=0)
    cams = _cameras(*_ring((0.0, 0.0, 1.5), 2), 8, 8)
    with pytest.raises(ValueError, match="cams"):
        scene.render("not cameras")
    with pytest.raises(ValueError, match="cams"):
        scene.render(cams[0])  # batch shape (), not (T,)
    with pytest.raises(ValueError, match=r"times: expected shape \(T,\) = \(2,\)"):
        scene.render(cams, times=torch.zeros(3))
    with pytest.raises(ValueError, match="times"):
        scene.render(cams, times=["a", "b"])
    with pytest.raises(ValueError, match="kind"):
        SyntheticScene.random(seed=0, kind="cave")
    with pytest.raises(ValueError, match="seed"):
        SyntheticScene.random(seed=-1)
