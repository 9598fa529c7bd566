import math

import pytest
import torch

from worldmem.geometry import Cameras, intrinsics_from_fov, invert_rigid
from worldmem.geometry import trajectories as tr
from worldmem.geometry.transforms import project_points


def random_cameras(n=5, h=24, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, 4, generator=g)
    q = q / q.norm(dim=-1, keepdim=True)
    a, b, c, d = q.unbind(-1)
    r = torch.stack([
        1 - 2 * (c * c + d * d), 2 * (b * c - a * d), 2 * (b * d + a * c),
        2 * (b * c + a * d), 1 - 2 * (b * b + d * d), 2 * (c * d - a * b),
        2 * (b * d - a * c), 2 * (c * d + a * b), 1 - 2 * (b * b + c * c),
    ], dim=-1).view(n, 3, 3)
    m = torch.eye(4).repeat(n, 1, 1)
    m[:, :3, :3] = r
    m[:, :3, 3] = torch.randn(n, 3, generator=g)
    k = torch.tensor([[30.0, 0.0, 16.3], [0.0, 28.0, 11.7], [0.0, 0.0, 1.0]])
    return Cameras(m, k, h, w)


def test_world_from_cam_round_trip():
    cams = random_cameras()
    eye = torch.eye(4).expand(5, 4, 4)
    assert torch.allclose(cams.cam_from_world @ cams.world_from_cam, eye, atol=1e-5)
    assert torch.allclose(invert_rigid(cams.world_from_cam), cams.cam_from_world, atol=1e-5)
    # The centre maps to the camera origin.
    c = cams.centers
    x_cam = (cams.cam_from_world[:, :3, :3] @ c[..., None])[..., 0] + cams.cam_from_world[:, :3, 3]
    assert torch.allclose(x_cam, torch.zeros_like(x_cam), atol=1e-5)


def test_project_unproject_returns_pixel_grid():
    cams = random_cameras()
    depth = torch.rand(5, 1, 24, 32) * 4 + 0.5
    pts = cams.unproject(depth)
    assert pts.shape == (5, 24, 32, 3)
    uv, z = cams.project(pts.reshape(5, -1, 3))
    vv, uu = torch.meshgrid(torch.arange(24) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    grid = torch.stack([uu, vv], -1).reshape(-1, 2)
    assert torch.allclose(uv, grid.expand_as(uv), atol=1e-3)
    assert torch.allclose(z, depth.reshape(5, -1), atol=1e-4)


def test_project_matches_formula():
    cams = random_cameras(n=1)
    p = torch.tensor([[0.3, -0.2, 2.0]])
    x = cams.cam_from_world[0, :3, :3] @ p[0] + cams.cam_from_world[0, :3, 3]
    k = cams.K[0]
    uv, z = cams.project(p)
    assert torch.allclose(uv[0, 0], torch.stack([k[0, 0] * x[0] / x[2] + k[0, 2], k[1, 1] * x[1] / x[2] + k[1, 2]]))
    assert torch.allclose(z[0, 0], x[2])


def test_project_matches_naive_loop_with_skew_and_batches():
    cams = random_cameras(n=3)
    k = cams.K.clone()
    k[:, 0, 1] = torch.tensor([0.0, 1.5, -2.0])  # skew
    cams = Cameras(cams.cam_from_world, k, cams.height, cams.width)
    g = torch.Generator().manual_seed(1)
    pts = torch.randn(3, 7, 3, generator=g) * 2
    for batch in (pts, pts[0]):  # one set per camera, and one set for every camera
        uv, z = cams.project(batch)
        assert uv.shape == (3, 7, 2) and z.shape == (3, 7)
        # The raw-matrix form the TSDF and revisit detection use is the same function.
        uv_raw, z_raw = project_points(batch, cams.cam_from_world, cams.K)
        assert torch.equal(uv, uv_raw) and torch.equal(z, z_raw)
        for t in range(3):
            m, kk = cams.cam_from_world[t].double(), cams.K[t].double()
            for n in range(7):
                x = m[:3, :3] @ (batch[t, n] if batch.dim() == 3 else batch[n]).double() + m[:3, 3]
                u = (kk[0, 0] * x[0] + kk[0, 1] * x[1]) / x[2] + kk[0, 2]
                v = kk[1, 1] * x[1] / x[2] + kk[1, 2]
                assert torch.allclose(uv[t, n].double(), torch.stack([u, v]), rtol=1e-5, atol=1e-3)
                assert torch.allclose(z[t, n].double(), x[2], atol=1e-5)


def test_opengl_round_trip_and_axes():
    cams = random_cameras()
    gl = cams.to_opengl()
    back = Cameras.from_opengl(gl, cams.K, cams.height, cams.width)
    assert back.allclose(cams, atol=1e-5)
    # In OpenGL the camera looks along its -z axis: the third column of world_from_cam_gl is -forward.
    assert torch.allclose(gl[:, :3, 2], -cams.forward, atol=1e-5)
    assert torch.allclose(gl[:, :3, 3], cams.centers, atol=1e-5)


def test_realestate10k_hand_written_row():
    # timestamp fx fy cx cy 0 0 then a 3x4 cam_from_world, row-major (a 90-degree yaw about y, t = (1, 2, 3)).
    row = "1234567 0.5 0.8 0.5 0.5 0 0 0 0 1 1 0 1 0 2 -1 0 0 3"
    rows = torch.tensor([[float(x) for x in row.split()]])
    cams = Cameras.from_realestate10k(rows, height=180, width=320)
    assert torch.allclose(cams.K[0], torch.tensor([[160.0, 0, 160.0], [0, 144.0, 90.0], [0, 0, 1.0]]))
    expected = torch.tensor([[0.0, 0, 1, 1], [0, 1, 0, 2], [-1, 0, 0, 3], [0, 0, 0, 1]])
    assert torch.allclose(cams.cam_from_world[0], expected)
    again = Cameras.from_realestate10k(cams.to_realestate10k(timestamps=[1234567]), 180, 320)
    assert again.allclose(cams)
    with pytest.raises(ValueError, match="rows"):
        Cameras.from_realestate10k(rows[:, :10], 180, 320)


def test_plucker_matches_naive_loop():
    cams = random_cameras(n=2, h=5, w=7)
    pl = cams.plucker()
    assert pl.shape == (2, 6, 5, 7)
    for b in range(2):
        k_inv = torch.linalg.inv(cams.K[b])
        r_wc = cams.world_from_cam[b, :3, :3]
        c = cams.centers[b]
        for i in range(5):
            for j in range(7):
                d = r_wc @ (k_inv @ torch.tensor([j + 0.5, i + 0.5, 1.0]))
                d = d / d.norm()
                m = torch.linalg.cross(c, d)
                assert torch.allclose(pl[b, :3, i, j], d, atol=1e-5)
                assert torch.allclose(pl[b, 3:, i, j], m, atol=1e-4)


def test_indexing_len_cat_relative():
    cams = random_cameras()
    assert len(cams) == 5 and len(cams[1:3]) == 2
    both = Cameras.cat([cams[:2], cams[2:]])
    assert both == cams
    rel = cams.relative_to(cams[2])
    assert torch.allclose(rel.cam_from_world[2], torch.eye(4), atol=1e-5)
    # Relative poses between cameras are unchanged.
    a = cams.cam_from_world[0] @ cams.world_from_cam[1]
    b = rel.cam_from_world[0] @ rel.world_from_cam[1]
    assert torch.allclose(a, b, atol=1e-5)


def test_values_are_checked_where_they_enter_and_derivations_trust_them(monkeypatch):
    """Every check runs in the public constructor and the converters; slicing, cat, unsqueeze, to (not narrowing) and
    relative_to only rearrange checked values, so they give the same cameras without running the value checks."""
    cams = random_cameras(n=6)
    checked = []
    post_init = Cameras.__post_init__

    def counting(self):
        checked.append(self)
        post_init(self)

    monkeypatch.setattr(Cameras, "__post_init__", counting)
    derived = {"slice": cams[1:4], "item": cams[2], "cat": Cameras.cat([cams[:2], cams[2], cams[3:]]),
               "unsqueeze": cams.unsqueeze(0), "to float64": cams.to(dtype=torch.float64),
               "to cpu": cams.to(device="cpu"), "relative_to": cams.relative_to(cams[2])}
    assert checked == [], [name for name, c in derived.items() if c in checked]
    # The same cameras the checked constructor makes from the same tensors.
    for name, c in derived.items():
        again = Cameras(c.cam_from_world, c.K, c.height, c.width)
        assert again == c and again.dtype == c.dtype and again.batch_shape == c.batch_shape, name
    assert derived["cat"] == cams and derived["unsqueeze"].batch_shape == (1, 6)
    checked.clear()
    # Where values enter, every check runs.
    Cameras(cams.cam_from_world, cams.K, 24, 32)
    Cameras.from_dict(cams.to_dict())
    Cameras.from_opengl(cams.to_opengl(), cams.K, 24, 32)
    Cameras.from_realestate10k(cams.to_realestate10k(), 24, 32)
    cams.to(dtype=torch.float64).to(dtype=torch.float32)  # narrowing: checked again
    cams.transform_world(torch.eye(4), scale=2.0)
    assert len(checked) == 6
    # An index that reaches into the matrices still fails like a bad constructor argument.
    with pytest.raises(ValueError, match=r"cam_from_world: expected shape \(\.\.\., 4, 4\)"):
        cams[0, 1]
    with pytest.raises(ValueError, match=r"cam_from_world: expected shape \(\.\.\., 4, 4\)"):
        cams.unsqueeze(-1)
    # Narrowing to float32 re-checks: a finite float64 translation that overflows float32 is refused.
    far = cams.to(dtype=torch.float64).transform_world(torch.eye(4, dtype=torch.float64), scale=1e300)
    with pytest.raises(ValueError, match="cam_from_world"):
        far.to(dtype=torch.float32)


def test_resize_and_crop_keep_rays():
    cams = random_cameras(n=1, h=24, w=32)
    depth = torch.full((1, 1, 24, 32), 2.0)
    pts = cams.unproject(depth)
    small = cams.resize(12, 16)
    # The centre of the 2x2 block (0..1, 0..1) in the big image is the centre of pixel (0, 0) in the small one.
    uv, _ = small.project(pts[0, 0:2, 0:2].reshape(-1, 3))
    assert torch.allclose(uv[0].mean(0), torch.tensor([0.5, 0.5]), atol=1e-4)
    crop = cams.crop(4, 6, 10, 12)
    uv, _ = crop.project(pts[0, 4, 6][None])
    assert torch.allclose(uv[0], torch.tensor([0.5, 0.5]), atol=1e-4)
    with pytest.raises(ValueError, match="crop"):
        cams.crop(20, 0, 10, 10)


def test_intrinsics_from_fov():
    k = intrinsics_from_fov(90.0, 32, 64)
    assert math.isclose(float(k[0, 0]), 32.0, rel_tol=1e-6)
    assert float(k[0, 2]) == 32.0 and float(k[1, 2]) == 16.0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Cameras(torch.eye(3), torch.eye(3), 8, 8), r"cam_from_world: expected shape \(\.\.\., 4, 4\)"),
        (lambda: Cameras(torch.full((4, 4), float("nan")), torch.eye(3), 8, 8), "cam_from_world: contains NaN"),
        (lambda: Cameras(torch.diag(torch.tensor([2.0, 1, 1, 1])), torch.eye(3), 8, 8), "cam_from_world: expected rigid"),
        (lambda: Cameras(torch.zeros(4, 4) + torch.diag(torch.tensor([0.0, 0, 0, 1])), torch.eye(3), 8, 8),
         "cam_from_world: expected rigid"),
        (lambda: Cameras(torch.eye(4), torch.zeros(3, 3), 8, 8), "K: expected positive focal"),
        (lambda: Cameras(torch.eye(4).expand(2, 4, 4), torch.eye(3).expand(3, 3, 3), 8, 8), "K: expected shape"),
        (lambda: Cameras(torch.eye(4), torch.eye(3), 0, 8), "height: expected a positive int"),
    ],
)
def test_bad_cameras_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_unproject_bad_depth_shape():
    cams = random_cameras(n=2)
    with pytest.raises(ValueError, match="depth: expected shape"):
        cams.unproject(torch.ones(3, 1, 24, 32))


def test_dict_round_trip():
    cams = tr.loop(6)
    assert Cameras.from_dict(cams.to_dict()).allclose(cams, atol=1e-6)


@pytest.mark.parametrize("change, match", [
    (lambda d: 5, "cameras: expected a mapping"),
    (lambda d: {**d, "height": 32.7}, "cameras: height: expected a positive integer, got 32.7"),
    (lambda d: {**d, "width": None}, "cameras: width: expected a positive integer, got None"),
    (lambda d: {**d, "height": True}, "cameras: height: expected a positive integer"),
    (lambda d: {**d, "K": [["a"]]}, "cameras: K: expected nested lists of numbers"),
    (lambda d: {**d, "cam_from_world": "identity"}, "cameras: cam_from_world: expected nested lists of numbers"),
    (lambda d: {k: v for k, v in d.items() if k != "K"}, "cameras: missing key 'K'"),
])
def test_bad_camera_dicts_are_one_line_errors(change, match):
    from worldmem.geometry import trajectories as tr

    with pytest.raises(ValueError, match=match):
        Cameras.from_dict(change(tr.loop(2).to_dict()))


def test_integer_valued_float_sizes_load_and_lower_triangular_K_is_refused():
    from worldmem.geometry import trajectories as tr

    d = tr.loop(2).to_dict()
    assert Cameras.from_dict({**d, "height": float(d["height"])}).height == d["height"]
    k = torch.tensor(d["K"])
    k[..., 1, 0] = 0.5
    with pytest.raises(ValueError, match=r"K: expected an upper-triangular intrinsics matrix \(K\[1, 0\] = 0\)"):
        Cameras.from_dict({**d, "K": k.tolist()})
