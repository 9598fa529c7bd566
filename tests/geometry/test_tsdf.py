"""Tests of the sparse-voxel TSDF (its voxel index: test_voxel_blocks.py, key packing: test_voxel_keys.py).

Scenes: the built-in synthetic room (exact ray-cast depth is the ground truth), plus a box that the test
ray-casts itself and composites in, so a moving object is fully under the test's control.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.geometry.tsdf_scenes import MOVER, MOVER_CENTER, TRUNC, TRUNC_VOXELS, VOXEL, make_cams, orbit, room_cams
from worldmem.geometry import tsdf_carving
from worldmem.geometry.cameras import Cameras
from worldmem.geometry.tsdf import SparseTSDF
from worldmem.synthetic import SyntheticScene

pytestmark = pytest.mark.usefixtures("one_thread")


def render_with_box(scene: SyntheticScene, cams: Cameras, box=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The scene's rgb (T, 3, H, W) and depth (T, 1, H, W), with an axis-aligned ``box`` composited in."""
    rgb, depth = scene.render(cams)
    if box is None:
        return rgb, depth
    rays = cams.ray_directions().double()  # z = 1: the ray parameter is the z-depth
    world_from_cam = cams.world_from_cam.double()
    d = rays @ world_from_cam[:, None, :3, :3].transpose(-1, -2)
    d = torch.where(d.abs() < 1e-12, torch.full_like(d, 1e-12), d)
    o = world_from_cam[:, None, None, :3, 3]
    t1 = (torch.tensor(box[0], dtype=torch.float64) - o) / d
    t2 = (torch.tensor(box[1], dtype=torch.float64) - o) / d
    t_in, t_out = torch.minimum(t1, t2).amax(-1), torch.maximum(t1, t2).amin(-1)
    scene_depth = depth[:, 0].double()
    hit = (t_in <= t_out) & (t_in > 0) & ((t_in < scene_depth) | (scene_depth == 0))
    p = o + d * t_in[..., None]
    checker = (torch.floor((p + 0.013) / 0.15).sum(-1) % 2).float()  # texture, so colours are testable
    box_rgb = torch.tensor([0.9, 0.3, 0.2]) * (0.5 + 0.5 * checker[..., None])
    rgb = torch.where(hit[:, None], box_rgb.permute(0, 3, 1, 2), rgb)
    depth = torch.where(hit[:, None], t_in.float()[:, None], depth)
    return rgb, depth


def box_distance(p: torch.Tensor, box) -> torch.Tensor:
    """Unsigned distance (N,) from points (N, 3) to the surface of an axis-aligned box."""
    lo, hi = torch.tensor(box[0]), torch.tensor(box[1])
    q = torch.maximum(lo - p, p - hi)
    return q.clamp_min(0).norm(dim=-1) + q.amax(-1).clamp_max(0).abs()


def surface_error(points: torch.Tensor, depth: torch.Tensor, cams: Cameras) -> torch.Tensor:
    """Per point (N,): the least |z - ray-cast depth| over the views whose image it falls in (inf if none)."""
    uv, z = cams.project(points)  # (T, N, 2), (T, N)
    h, w = cams.height, cams.width
    inside = (z > 0) & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
    col = uv[..., 0].clamp(0, w - 1).long()
    row = uv[..., 1].clamp(0, h - 1).long()
    seen = torch.gather(depth[:, 0].reshape(len(cams), -1), 1, row * w + col)
    err = torch.where(inside & (seen > 0), (z - seen).abs(), torch.full_like(z, math.inf))
    return err.amin(0)


@pytest.fixture(scope="module")
def room16(scene):
    """16 frames (96 x 96) of the synthetic room fused into a TSDF, with the frames and cameras."""
    cams = room_cams(scene, 16, 96)
    rgb, depth = scene.render(cams)
    tsdf = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS, carve_stride=1)
    tsdf.integrate(rgb, depth, cams)
    return tsdf, rgb, depth, cams


# -------------------------------------------------------------------------------- accuracy
def test_points_lie_on_true_surfaces(room16):
    tsdf, _, depth, cams = room16
    points, colors = tsdf.extract_points()
    assert points.shape[0] > 20000 and colors.shape == points.shape
    assert float(colors.min()) >= 0.0 and float(colors.max()) <= 1.0
    err = surface_error(points, depth, cams)
    assert float(err.median()) < 0.25 * VOXEL
    assert float((err < VOXEL).float().mean()) > 0.97


def test_matches_open3d_scalable_tsdf(room16):
    import open3d as o3d

    tsdf, rgb, depth, cams = room16
    volume = o3d.pipelines.integration.ScalableTSDFVolume(
        voxel_length=VOXEL, sdf_trunc=TRUNC, color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8)
    for i in range(len(cams)):
        color = o3d.geometry.Image(np.ascontiguousarray((rgb[i].permute(1, 2, 0).numpy() * 255).round()
                                                        .astype(np.uint8)))
        dimg = o3d.geometry.Image(np.ascontiguousarray(depth[i, 0].numpy().astype(np.float32)))
        rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
            color, dimg, depth_scale=1.0, depth_trunc=1e3, convert_rgb_to_intensity=False)
        k = cams.K[i].double()
        # Open3D puts pixel centres at integers, worldmem at integer + 0.5.
        intrinsic = o3d.camera.PinholeCameraIntrinsic(cams.width, cams.height, float(k[0, 0]), float(k[1, 1]),
                                                      float(k[0, 2]) - 0.5, float(k[1, 2]) - 0.5)
        volume.integrate(rgbd, intrinsic, cams.cam_from_world[i].double().numpy())
    cloud = volume.extract_point_cloud()
    ref_points = torch.from_numpy(np.asarray(cloud.points)).float()
    ref_colors = torch.from_numpy(np.asarray(cloud.colors)).float()
    points, colors = tsdf.extract_points()
    assert ref_points.shape[0] > 20000
    assert 0.7 < points.shape[0] / ref_points.shape[0] < 1.3

    def nearest(a, b):  # a fixed subsample of a against all of b; exact distances (no matmul trick)
        sel = torch.randperm(a.shape[0], generator=torch.Generator().manual_seed(0))[:3000]
        found = [torch.cdist(chunk, b, compute_mode="donot_use_mm_for_euclid_dist").min(1)
                 for chunk in a[sel].split(500)]
        return sel, torch.cat([f.values for f in found]), torch.cat([f.indices for f in found])

    sel, ours_to_ref, idx = nearest(points, ref_points)
    _, ref_to_ours, _ = nearest(ref_points, points)
    # Same sampling of the same field: the zero crossings agree far below a voxel (~0.002 voxels here).
    assert float(ours_to_ref.median()) < 0.1 * VOXEL and float(ref_to_ours.median()) < 0.1 * VOXEL
    matched = ours_to_ref < 0.5 * VOXEL
    color_err = (colors[sel][matched] - ref_colors[idx[matched]]).abs().amax(1)
    # Open3D stores colour as uint8, so agreement is limited to ~1/255.
    assert float(color_err.median()) < 0.01 and float(color_err.quantile(0.9)) < 0.05


# -------------------------------------------------------------------------------- carving
BEFORE_MOVE = dict(center=MOVER_CENTER, radius=1.4, height=1.5, degrees=np.linspace(100, 260, 5), size=64)
AFTER_MOVE = dict(center=MOVER_CENTER, radius=1.3, height=1.4, degrees=np.linspace(95, 265, 8), size=64)


def _ghost(scene: SyntheticScene, carve: bool) -> tuple[float, torch.Tensor, SparseTSDF]:
    """Fuses 5 frames with MOVER in place, then 8 frames after it moved away, all looking at its place.

    Returns the fraction of the voxels live near MOVER's surface (and clear of the floor's band) after the
    first phase that are still live at the end, the mask (N,) of those voxels, and the TSDF.
    """
    before, after = orbit(**BEFORE_MOVE), orbit(**AFTER_MOVE)
    tsdf = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS, carve=carve, carve_stride=1)
    tsdf.integrate(*render_with_box(scene, before, MOVER), before)
    centers = tsdf.voxel_centers()
    # The floor is the only static surface near MOVER; voxels in its band legitimately stay.
    near_mover = ((tsdf.weights() > 0) & (box_distance(centers, MOVER) < TRUNC)
                  & (centers[:, 2] > TRUNC + 2 * VOXEL))
    tsdf.integrate(*render_with_box(scene, after), after)
    survivors = (tsdf.weights()[: near_mover.numel()] > 0) & near_mover
    return float(survivors.sum()) / float(near_mover.sum()), near_mover, tsdf


def test_moved_object_leaves_no_ghost(scene):
    fraction, near_mover, tsdf = _ghost(scene, carve=True)
    assert int(near_mover.sum()) > 500
    assert fraction < 0.01
    points, _ = tsdf.extract_points()
    assert int(((box_distance(points, MOVER) < TRUNC) & (points[:, 2] > TRUNC + 2 * VOXEL)).sum()) == 0
    # Dead voxels keep their storage but are not counted.
    assert tsdf.num_voxels == int((tsdf.weights() > 0).sum()) < tsdf.num_allocated
    # Without carving the same sequence keeps the object: the measurement above can see a ghost.
    fraction_without, _, _ = _ghost(scene, carve=False)
    assert fraction_without > 0.5
    # When the object comes back, its carved voxels come back to life.
    before = orbit(**BEFORE_MOVE)
    tsdf.integrate(*render_with_box(scene, before, MOVER), before)
    revived = tsdf.weights()[: near_mover.numel()][near_mover] > 0
    assert float(revived.float().mean()) > 0.9


def test_carving_spares_static_surfaces_seen_at_grazing_angles(scene, room16):
    """In a static scene carving must remove (almost) nothing, even for views that skim the floor and walls.

    Cameras 25-30 cm above the floor see it at 3-10 degrees, where a pure projective test would carve the
    voxels right above it (they are far in front of the surface along the ray): ~10% of the surface points
    are lost that way.
    """
    tsdf, _, _, _ = room16
    eyes = [(-1.0, -1.0, 0.3), (1.0, 1.0, 0.25), (1.0, -1.0, 0.3)]
    targets = [(3.5, 0.0, 0.2), (-3.5, 1.0, 0.15), (-1.0, 3.5, 0.2)]
    low = make_cams(eyes, targets, 96)
    rgb, depth = scene.render(low)
    kept = {}
    for carve in (True, False):
        fused = SparseTSDF.from_state_dict(tsdf.state_dict(), {**tsdf.config(), "carve": carve})
        for _ in range(4):
            fused.integrate(rgb, depth, low)
        kept[carve] = fused.extract_points()[0].shape[0]
    assert kept[True] > 0.995 * kept[False]


def test_carving_bitmap_and_sorting_paths_agree(scene, monkeypatch):
    """Carving deduplicates the voxels its rays cross in a bitmap over their box, or by sorting keys when the box
    is too large: the same voxels carved either way, so the same map."""
    used = []
    bitmap = tsdf_carving._met_in_box

    def spy(*args):
        found = bitmap(*args)
        used.append(found is not None)
        return found

    states = []
    for met_in_box in (spy, lambda *args: None):  # the second: every box too large, always sort
        monkeypatch.setattr(tsdf_carving, "_met_in_box", met_in_box)
        fraction, _, tsdf = _ghost(scene, carve=True)
        assert fraction < 0.01  # carving removed the moved object
        states.append(tsdf.state_dict())
    assert len(used) == 12 and all(used)  # every frame after the first ran the bitmap
    for name, value in states[0].items():
        assert torch.equal(value, states[1][name]), name


# -------------------------------------------------------------------------------- incremental cost
def test_integration_only_touches_voxels_in_the_new_frustum(scene):
    first = make_cams([(0.0, 0.0, 1.5)] * 3, [(-3.5, -0.5, 0.8), (-3.5, 0.5, 0.8), (-3.5, 0.0, 0.3)], 64)
    tsdf = SparseTSDF(voxel_size=VOXEL, trunc_voxels=TRUNC_VOXELS, carve_stride=1)
    tsdf.integrate(*scene.render(first), first)
    old = {k: v.clone() for k, v in tsdf.state_dict().items()}
    n_old = old["keys"].numel()
    new_cam = make_cams([(0.5, 0.0, 1.5)], [(3.5, 0.3, 0.8)], 64)
    rgb, depth = scene.render(new_cam)
    tsdf.integrate(rgb, depth, new_cam)
    new = tsdf.state_dict()
    assert torch.equal(new["keys"][:n_old], old["keys"])
    changed = ((new["tsdf"][:n_old] != old["tsdf"]) | (new["weight"][:n_old] != old["weight"])
               | (new["color"][:n_old] != old["color"]).any(1))
    uv, z = new_cam.project(tsdf.voxel_centers()[:n_old])
    margin = 2.0  # pixels: a voxel whose centre projects just outside may still be met by a band sample
    in_frustum = (z[0] > 0) & (uv[0] > -margin).all(-1) & (uv[0] < 64 + margin).all(-1)
    assert int((~in_frustum).sum()) > 0.8 * n_old  # the new view looks at a new area
    assert int((changed & ~in_frustum).sum()) == 0
    assert new["keys"].numel() > n_old  # and it added its own surface


def test_voxel_keys_and_lookup(room16):
    tsdf, _, depth, cams = room16
    points = cams[:1].unproject(depth[:1])[0].reshape(-1, 3)
    idx = tsdf.lookup(tsdf.voxel_keys(points))
    # Observed surface points lie in allocated voxels, except a few at depth edges and the image border,
    # whose voxel centres project onto another surface or out of the image.
    assert float((idx >= 0).float().mean()) > 0.98
    points, idx = points[idx >= 0], idx[idx >= 0]
    assert torch.equal(tsdf.voxel_centers(idx), (torch.floor(points / VOXEL) + 0.5) * VOXEL)
    assert (tsdf.lookup(tsdf.voxel_keys(torch.tensor([[50.0, 50.0, 50.0]]))) == -1).all()


# -------------------------------------------------------------------------------- inputs
def _two_frames(scene):
    cams = room_cams(scene, 2, 16)
    rgb, depth = scene.render(cams)
    return rgb, depth, cams


@pytest.mark.parametrize("case, name", [
    ("rgb_shape", "rgb"), ("rgb_range", "rgb"), ("depth_nan", "depth"), ("depth_inf", "depth"),
    ("depth_negative", "depth"), ("depth_shape", "depth"), ("camera_count", "cameras"),
    ("camera_size", "cameras"), ("camera_type", "cameras"), ("mask_shape", "mask"),
])
def test_integrate_rejects_bad_inputs(scene, case, name):
    rgb, depth, cams = _two_frames(scene)
    mask = None
    if case == "rgb_shape":
        rgb = rgb[:, :2]
    elif case == "rgb_range":
        rgb = rgb * 1.5
    elif case == "depth_nan":
        depth = depth.clone()
        depth[0, 0, 3, 3] = float("nan")
    elif case == "depth_inf":
        depth = depth.clone()
        depth[1, 0, 0, 0] = float("inf")
    elif case == "depth_negative":
        depth = -depth
    elif case == "depth_shape":
        depth = depth[:, :, :8]
    elif case == "camera_count":
        cams = cams[:1]
    elif case == "camera_size":
        cams = cams.resize(32, 32)
    elif case == "camera_type":
        cams = cams.cam_from_world
    elif case == "mask_shape":
        mask = torch.ones(2, 1, 8, 16, dtype=torch.bool)
    tsdf = SparseTSDF()
    with pytest.raises(ValueError, match=rf"^{name}: ") as err:
        tsdf.integrate(rgb, depth, cams, mask=mask)
    assert "\n" not in str(err.value)
    assert tsdf.num_allocated == 0


@pytest.mark.parametrize("kwargs, name", [
    ({"voxel_size": 0.0}, "voxel_size"), ({"voxel_size": float("nan")}, "voxel_size"),
    ({"trunc_voxels": -1}, "trunc_voxels"), ({"max_weight": 0}, "max_weight"),
    ({"carve_weight": -0.5}, "carve_weight"), ({"carve_stride": 0}, "carve_stride"),
    ({"carve": "yes"}, "carve"), ({"depth_max": -2.0}, "depth_max"),
])
def test_constructor_rejects_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}: "):
        SparseTSDF(**kwargs)


def test_mask_and_depth_max_exclude_pixels(scene):
    rgb, depth, cams = _two_frames(scene)
    masked = SparseTSDF(voxel_size=0.2)
    masked.integrate(rgb, depth, cams, mask=torch.zeros_like(depth, dtype=torch.bool))
    near = SparseTSDF(voxel_size=0.2, depth_max=1e-3)
    near.integrate(rgb, depth, cams)
    full = SparseTSDF(voxel_size=0.2)
    full.integrate(rgb, depth, cams)
    assert masked.num_allocated == 0 and near.num_allocated == 0 and full.num_voxels > 0
