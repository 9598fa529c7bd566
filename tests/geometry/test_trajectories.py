import pytest
import torch

from worldmem.geometry import trajectories as tr


def test_out_and_back_retraces_its_poses():
    for n in (9, 10):
        cams = tr.out_and_back(n, start=(1.0, 2.0, 1.5), heading_deg=30.0, distance=2.0, yaw_sweep_deg=40.0)
        assert len(cams) == n
        for i in range(n):
            assert torch.allclose(cams.cam_from_world[i], cams.cam_from_world[n - 1 - i], atol=1e-6)
        travelled = (cams.centers[n // 2] - cams.centers[0]).norm()
        assert abs(float(travelled) - 2.0) < 0.3


def test_loop_closes_and_looks_forward():
    cams = tr.loop(36, center=(0.0, 0.0, 1.5), radius=2.0)
    c = cams.centers
    assert torch.allclose(c[:, 2], torch.full((36,), 1.5))
    assert torch.allclose(c[:, :2].norm(dim=-1), torch.full((36,), 2.0), atol=1e-5)
    step = c[1] - c[0]
    assert float(torch.dot(step / step.norm(), cams.forward[0])) > 0.99
    # Closed: the step from the last frame back to the first equals a regular step.
    assert torch.allclose((c[0] - c[-1]).norm(), step.norm(), atol=1e-5)


def test_orbit_looks_at_center():
    center = torch.tensor([1.0, -1.0, 0.5])
    cams = tr.orbit(8, center=center, radius=3.0, elevation_deg=30.0)
    uv, z = cams.project(center[None].expand(8, 1, 3))
    assert torch.allclose(uv[:, 0], torch.tensor([32.0, 32.0]).expand(8, 2), atol=1e-3)
    assert bool((z > 0).all())


def test_look_around_is_pure_rotation():
    cams = tr.look_around(12, position=(0.5, 0.5, 1.4))
    assert torch.allclose(cams.centers, torch.tensor([0.5, 0.5, 1.4]).expand(12, 3), atol=1e-5)
    fwd = cams.forward
    assert float(torch.dot(fwd[0], fwd[6])) < -0.99


def test_from_keys_moves_as_documented():
    cams = tr.from_keys("WWDJ.S", start=(0.0, 0.0, 1.0), step=0.5, turn_deg=90.0)
    c = cams.centers
    assert len(cams) == 7
    assert torch.allclose(c[2], torch.tensor([1.0, 0.0, 1.0]), atol=1e-5)       # forward along +x
    assert torch.allclose(c[3], torch.tensor([1.0, -0.5, 1.0]), atol=1e-5)      # strafe right = -y
    assert torch.allclose(cams.forward[4], torch.tensor([0.0, 1.0, 0.0]), atol=1e-5)  # J: turn left
    assert torch.allclose(c[6], torch.tensor([1.0, -1.0, 1.0]), atol=1e-5)      # S: back along +y heading
    # OpenCV axes: image down is world down for a level camera.
    assert torch.allclose(cams.world_from_cam[0, :3, 1], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)


def test_through_keyframes_spreads_frames_by_effort():
    # 1 unit walked (10 steps of 0.1) then 60 degrees turned (10 turns of 6): half the frames each.
    cams = tr.through_keyframes([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 1.0]], [0.0, 0.0, 60.0], 21)
    c = cams.centers
    assert torch.allclose(c[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)
    assert torch.allclose(c[10], torch.tensor([1.0, 0.0, 1.0]), atol=1e-5) and torch.allclose(c[10:], c[10:11], atol=1e-5)
    assert torch.allclose(cams.forward[-1], torch.tensor([0.5, 3**0.5 / 2, 0.0]), atol=1e-5)
    with pytest.raises(ValueError, match="positions"):
        tr.through_keyframes([[0.0, 0.0, 1.0]], [0.0], 5)


def test_bad_trajectory_arguments():
    with pytest.raises(ValueError, match="keys"):
        tr.from_keys("WWX")
    with pytest.raises(ValueError, match="num_frames"):
        tr.out_and_back(1)
    with pytest.raises(ValueError, match="look"):
        tr.loop(10, look="sideways")


@pytest.mark.parametrize("make, match", [
    (lambda: tr.loop(4, radius=-1), "radius: expected a finite number > 0, got -1"),
    (lambda: tr.loop(4, radius=float("nan")), "radius: expected a finite number > 0"),
    (lambda: tr.orbit(3, radius=0), "radius: expected a finite number > 0, got 0"),
    (lambda: tr.orbit(3, elevation_deg=95), "elevation_deg: expected a finite number > -90 and < 90"),
    (lambda: tr.out_and_back(4, distance=-2), "distance: expected a finite number >= 0"),
    (lambda: tr.out_and_back(4, yaw_sweep_deg=float("inf")), "yaw_sweep_deg: expected a finite number"),
])
def test_bad_path_parameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()
