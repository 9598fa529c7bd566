import math

import torch

from worldmem.geometry import trajectories
from worldmem.geometry.cubemap import cube_bins, num_bins, pixel_directions


def _naive_bin(d: list[float], r: int) -> int:
    """One direction at a time, written out: the face of the largest |coordinate|, the other two in x-y-z order."""
    axis = max(range(3), key=lambda i: abs(d[i]))
    face = 2 * axis + (1 if d[axis] < 0 else 0)
    first, second = [d[i] / abs(d[axis]) for i in range(3) if i != axis]
    col = min(max(math.floor((first + 1) / 2 * r), 0), r - 1)
    row = min(max(math.floor((second + 1) / 2 * r), 0), r - 1)
    return (face * r + row) * r + col


def test_bins_match_a_naive_loop_and_cover_the_sphere():
    g = torch.Generator().manual_seed(0)
    dirs = torch.randn(20_000, 3, generator=g, dtype=torch.float64)
    r = 7
    bins = cube_bins(dirs, r)
    assert bins.tolist()[:500] == [_naive_bin(d, r) for d in dirs[:500].tolist()]
    assert int(bins.min()) >= 0 and int(bins.max()) < num_bins(r)
    assert len(set(bins.tolist())) == num_bins(r)  # every bin is reached; the length of a direction is ignored
    assert torch.equal(cube_bins(3.5 * dirs, r), bins)


def test_opposite_axes_land_on_different_face_centres():
    r = 4
    axes = torch.cat([torch.eye(3), -torch.eye(3)]).double()
    bins = cube_bins(axes, r).tolist()
    assert len(set(bins)) == 6
    assert [b // (r * r) for b in bins] == [0, 2, 4, 1, 3, 5]


def test_pixel_directions_are_the_rays_of_the_pixels():
    cams = trajectories.orbit(3, radius=2.0, height=8, width=6, fov_deg=60)
    d = pixel_directions(cams)
    assert d.shape == (3, 8, 6, 3)
    # A point one unit along each ray projects back to the pixel centre it came from.
    pts = cams.centers[:, None, None, :] + d
    uv, z = cams.project(pts.reshape(3, -1, 3))
    assert bool((z > 0).all())
    centres = torch.stack(torch.meshgrid(torch.arange(8) + 0.5, torch.arange(6) + 0.5, indexing="ij")[::-1], -1)
    torch.testing.assert_close(uv, centres.reshape(1, -1, 2).expand(3, -1, -1).to(uv.dtype), atol=1e-4, rtol=0)
    # Sub-pixel rays: 2 x 2 per pixel, whose mean direction (at z = 1 in the camera) is the pixel's ray.
    fine = pixel_directions(cams, 2).reshape(3, 8, 2, 6, 2, 3).mean(dim=(2, 4))
    torch.testing.assert_close(fine, d, atol=1e-5, rtol=0)
