import pytest
import torch

from worldmem.geometry import Cameras, intrinsics_from_fov
from worldmem.geometry import trajectories as tr
from worldmem.geometry.render import available_backends, render_points


def naive_zbuffer(points, feats, cams):
    """One point at a time: nearest z wins, exact ties go to the lower index."""
    t, h, w = len(cams), cams.height, cams.width
    out_f = torch.zeros(t, feats.shape[1], h, w)
    out_z = torch.zeros(t, 1, h, w)
    best = torch.full((t, h, w), float("inf"))
    uv, z = cams.project(points)
    for c in range(t):
        for i in range(points.shape[0]):
            if z[c, i] <= 1e-3:
                continue
            x, y = int(torch.floor(uv[c, i, 0])), int(torch.floor(uv[c, i, 1]))
            if 0 <= x < w and 0 <= y < h and z[c, i] < best[c, y, x]:
                best[c, y, x] = z[c, i]
                out_f[c, :, y, x] = feats[i]
                out_z[c, 0, y, x] = z[c, i]
    return out_f, out_z, torch.isfinite(best)[:, None]


def test_matches_naive_zbuffer():
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(400, 3, generator=g) * torch.tensor([1.0, 1.0, 0.5]) + torch.tensor([3.0, 0.0, 1.5])
    feats = torch.rand(400, 3, generator=g)
    cams = tr.look_around(3, position=(0.0, 0.0, 1.5), yaw_range_deg=40.0, height=12, width=16)
    out = render_points(pts, feats, cams)
    ref_f, ref_z, ref_m = naive_zbuffer(pts, feats, cams)
    assert torch.equal(out.mask, ref_m)
    assert torch.allclose(out.depth, ref_z)
    assert torch.allclose(out.features, ref_f)


def test_ties_are_deterministic_lowest_index():
    cam = Cameras(torch.eye(4)[None], intrinsics_from_fov(60, 4, 4)[None], 4, 4)
    pts = torch.tensor([[0.0, 0.0, 2.0]] * 3)
    feats = torch.tensor([[1.0], [2.0], [3.0]])
    out = render_points(pts, feats, cam)
    assert int(out.mask.sum()) == 1
    assert float(out.features.max()) == 1.0 and int(out.index.max()) == 0


def test_points_behind_camera_are_clipped():
    cam = Cameras(torch.eye(4)[None], intrinsics_from_fov(60, 8, 8)[None], 8, 8)
    out = render_points(torch.tensor([[0.0, 0.0, -2.0]]), torch.ones(1, 3), cam)
    assert not bool(out.mask.any())


def test_splat_radius_fills_a_plane_without_pinholes():
    # A fronto-parallel plane sampled at spacing 0.05 seen from close by: without a footprint it has holes.
    s = 0.05
    ys, xs = torch.meshgrid(torch.arange(-40, 41) * s, torch.arange(-40, 41) * s, indexing="ij")
    pts = torch.stack([xs.flatten(), ys.flatten(), torch.full_like(xs.flatten(), 0.6)], -1)
    cam = Cameras(torch.eye(4)[None], intrinsics_from_fov(60, 64, 64)[None], 64, 64)
    bare = render_points(pts, torch.ones(len(pts), 1), cam)
    splat = render_points(pts, torch.ones(len(pts), 1), cam, radius=0.75 * s)
    assert float(bare.mask.float().mean()) < 0.6
    assert bool(splat.mask.all())
    # The footprint keeps the point's depth.
    assert torch.allclose(splat.depth[splat.mask], torch.tensor(0.6))


def test_bad_inputs():
    cams = tr.loop(2)
    with pytest.raises(ValueError, match=r"points: expected shape \(N, 3\)"):
        render_points(torch.zeros(5, 2), torch.zeros(5, 3), cams)
    with pytest.raises(ValueError, match=r"features: expected shape \(5, C\)"):
        render_points(torch.zeros(5, 3), torch.zeros(4, 3), cams)
    with pytest.raises(ValueError, match="points: contains NaN"):
        render_points(torch.full((5, 3), float("nan")), torch.zeros(5, 3), cams)
    with pytest.raises(ValueError, match="cameras: expected a Cameras"):
        render_points(torch.zeros(5, 3), torch.zeros(5, 3), torch.eye(4))
    with pytest.raises(ValueError, match="backend"):
        render_points(torch.zeros(5, 3), torch.zeros(5, 3), cams, backend="opengl")
    with pytest.raises(ValueError, match="features: contains NaN"):
        render_points(torch.zeros(5, 3), torch.full((5, 3), float("nan")), cams)
    for near in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="near: expected a finite number >= 0"):
            render_points(torch.zeros(5, 3), torch.zeros(5, 3), cams, near=near)
    with pytest.raises(ValueError, match="background: expected a finite number"):
        render_points(torch.zeros(5, 3), torch.zeros(5, 3), cams, background=float("nan"))


def test_pytorch3d_backend_is_used_when_installed_and_a_clear_error_otherwise():
    args = (torch.zeros(5, 3), torch.zeros(5, 3), tr.loop(2))
    if "pytorch3d" in available_backends():
        assert render_points(*args, backend="pytorch3d").features.shape[0] == 2
    else:
        with pytest.raises(ValueError, match="pytorch3d is not installed"):
            render_points(*args, backend="pytorch3d")


# ----------------------------------------------------------------------------- against the synthetic world
def _scene_and_views(size=64):
    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=3, dynamic=False, kind="room")
    lo, hi = scene.free_box
    c = ((lo + hi) / 2).tolist()
    src = tr.cameras_from_headings(torch.tensor([c]), 20.0, -10.0, size, size, fov_deg=70.0)
    moved_pos = torch.tensor([c]) + torch.tensor([[0.15, 0.1, 0.05]])
    moved = tr.cameras_from_headings(moved_pos, 26.0, -8.0, size, size, fov_deg=70.0)
    return scene, src, moved


def _source_points(scene, src):
    """The source view's frames and depth (1, C, H, W), its valid-pixel mask (H * W,) and their world points
    and colours (N, 3)."""
    frames, depth = scene.render(src)
    valid = depth[0, 0].flatten() > 0
    pts = src.unproject(depth).reshape(-1, 3)[valid]
    cols = frames[0].permute(1, 2, 0).reshape(-1, 3)[valid]
    return frames, depth, valid, pts, cols


def _pixel_footprint(depth, cams):
    # A disc as wide as the pixel it came from, so neighbouring samples overlap.
    return (depth / cams.K[0, 0, 0]).flatten() * 0.75


def test_unprojected_frame_renders_back_into_its_camera():
    scene, src, _ = _scene_and_views()
    frames, depth, valid, pts, cols = _source_points(scene, src)
    out = render_points(pts, cols, src)
    m = out.mask.expand_as(out.features)
    mse = float(((out.features - frames)[m] ** 2).mean())
    psnr = 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12)))
    assert float(psnr) >= 40.0
    assert float(out.mask.float().mean()) > 0.99


def test_moved_camera_matches_ground_truth_on_seen_surfaces():
    scene, src, moved = _scene_and_views()
    frames, depth, valid, pts, cols = _source_points(scene, src)
    gt, gt_depth = scene.render(moved)
    out = render_points(pts, cols, moved, radius=_pixel_footprint(depth, src)[valid], max_splat_px=3)

    # Pixels of the moved view whose surface point the source view saw (visible and unoccluded there).
    p_moved = moved.unproject(gt_depth).reshape(-1, 3)
    uv, z = src.project(p_moved)
    px, py = uv[0, :, 0].floor().long(), uv[0, :, 1].floor().long()
    inside = (px >= 0) & (px < 64) & (py >= 0) & (py < 64) & (z[0] > 0) & (gt_depth.flatten() > 0)
    seen = torch.zeros_like(inside)
    d_src = depth[0, 0][py[inside], px[inside]]
    seen[inside] = (d_src - z[0, inside]).abs() < 0.03 * z[0, inside]
    seen = seen.view(1, 1, 64, 64)

    covered_seen = out.mask & seen
    assert float(covered_seen.sum()) >= 0.9 * float(seen.sum())
    m = covered_seen.expand_as(gt)
    mse = float(((out.features - gt)[m] ** 2).mean())
    psnr = 10 * torch.log10(torch.tensor(1.0 / mse))
    assert float(psnr) >= 25.0, f"PSNR {float(psnr):.2f}"


@pytest.mark.skipif("pytorch3d" not in available_backends(), reason="optional backend pytorch3d not installed")
def test_pytorch3d_backend_agrees_on_a_scene():
    scene, src, moved = _scene_and_views()
    frames, depth, valid, pts, cols = _source_points(scene, src)
    a = render_points(pts, cols, moved)
    b = render_points(pts, cols, moved, backend="pytorch3d")
    both = a.mask & b.mask
    assert float(both.sum()) > 0.8 * float(a.mask.sum())
    assert torch.allclose(a.depth[both], b.depth[both], rtol=1e-3)


def test_downsample_render_averages_covered_samples_and_thresholds_coverage():
    from worldmem.geometry.render import RenderedPoints, downsample_render

    feats = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    depth = torch.full((1, 1, 4, 4), 2.0)
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[0, 0, :2, :2] = True                            # top-left pixel: all four samples
    mask[0, 0, 0, 2] = True                              # top-right: one of four (below half)
    mask[0, 0, 2:, 0] = True                             # bottom-left: two of four (half)
    depth[0, 0, 3, 0] = 4.0
    index = torch.where(mask, torch.arange(16).view(1, 1, 4, 4), torch.full((1, 1, 4, 4), -1))
    out = downsample_render(RenderedPoints(feats * mask, depth * mask, mask, index), 2)
    assert out.mask[0, 0].tolist() == [[True, False], [True, False]]
    assert out.features[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
    assert out.features[0, 0, 1, 0] == (8 + 12) / 2      # the mean over covered samples only
    assert out.depth[0, 0, 1, 0] == 3.0 and out.depth[0, 0, 0, 1] == 0.0
    assert out.index[0, 0].tolist() == [[0, -1], [8, -1]]
    assert downsample_render(out, 1) is out
    with pytest.raises(ValueError, match="factor: expected an int >= 1"):
        downsample_render(out, 0)
    with pytest.raises(ValueError, match="divisible by 3"):
        downsample_render(out, 3)


def test_culled_render_equals_the_full_render():
    from worldmem.geometry.render import cull_points
    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=2, kind="room")
    lo, hi = scene.free_box
    cams = tr.look_around(8, position=((lo + hi) / 2).tolist(), yaw_range_deg=360.0, height=24, width=24)
    _, depth = scene.render(cams)
    pts = cams.unproject(depth)[depth[:, 0] > 0]
    feats = torch.rand(pts.shape[0], 3, generator=torch.Generator().manual_seed(0))
    target = cams[:2]
    keep = cull_points(pts, target, 4, block=0.4)
    assert keep is not None and 0 < keep.numel() < 0.8 * pts.shape[0]  # most of the room is behind the views
    full = render_points(pts, feats, target, radius=0.02, max_splat_px=4)
    culled = render_points(pts[keep], feats[keep], target, radius=0.02, max_splat_px=4)
    assert torch.equal(full.mask, culled.mask) and torch.equal(full.depth, culled.depth)
    assert torch.equal(full.features, culled.features)
    assert torch.equal(full.index[full.mask], keep[culled.index[culled.mask]])


def test_chunked_zbuffer_matches_naive_across_chunks_with_ties_and_degenerate_points(monkeypatch):
    """The plain z-buffer takes points in chunks: ties split across chunks still go to the lowest index, and
    points at z = 0 (nan/inf projections), behind ``near`` or far off the image never win a pixel."""
    import worldmem.geometry.render as render

    monkeypatch.setattr(render, "_CHUNK", 64)
    g = torch.Generator().manual_seed(1)
    pts = torch.randn(600, 3, generator=g) * torch.tensor([1.0, 1.0, 0.5]) + torch.tensor([3.0, 0.0, 1.5])
    cams = tr.look_around(2, position=(0.0, 0.0, 1.5), yaw_range_deg=40.0, height=12, width=16)
    # Points on the first camera's plane z = 0 (one at its centre: 0 / 0), just behind near, far off-image.
    eye = cams.centers[0]
    right = cams.world_from_cam[0, :3, 0]
    forward = cams.world_from_cam[0, :3, 2]
    pts[5] = eye
    pts[6] = eye + right
    pts[8] = eye + 0.5e-3 * forward
    pts[9] = eye + forward - 1e4 * right
    pts[3::7] = eye + 0.5 * forward  # the same nearest point over and over: index 3 wins its pixel
    pts[300:400] = pts[100:200]  # exact ties, in different chunks
    feats = torch.rand(600, 3, generator=g)
    out = render_points(pts, feats, cams)
    ref_f, ref_z, ref_m = naive_zbuffer(pts, feats, cams)
    assert torch.equal(out.mask, ref_m) and torch.equal(out.features, ref_f)  # the same winner in every pixel
    # Its depth is the same product summed in another order (cams.project here): equal to within an ulp.
    torch.testing.assert_close(out.depth, ref_z, rtol=1e-6, atol=0.0)
    winners = set(out.index[out.mask].tolist())
    assert 3 in winners and not winners & {5, 6, 8, 9} and not winners & set(range(10, 600, 7))
    assert winners & set(range(100, 200)) and not winners & set(range(300, 400))


def test_points_whose_projection_overflows_are_dropped():
    g = torch.Generator().manual_seed(1)
    pts = torch.randn(600, 3, generator=g) * torch.tensor([1.0, 1.0, 0.5]) + torch.tensor([3.0, 0.0, 1.5])
    feats = torch.rand(600, 3, generator=g)
    cams = tr.look_around(3, position=(0.0, 0.0, 1.5), yaw_range_deg=300.0, height=12, width=16)
    clean = render_points(pts, feats, cams)
    for big in ([3e38, 3e38, 3e38], [-3e38, 3e38, 1e38], [3e38, -3e38, -3e38]):  # inf and nan in u, v, z
        far = pts.clone()
        far[7] = torch.tensor(big)
        out = render_points(far, feats, cams)
        assert int((out.index == 7).sum()) == 0
        keep = clean.index != 7
        assert torch.equal(out.mask[keep], clean.mask[keep]) and torch.equal(out.index[keep], clean.index[keep])
