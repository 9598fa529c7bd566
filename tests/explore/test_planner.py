"""The explorer's camera paths: a move is a smooth chunk from the current camera, a return ends exactly at the
bookmark, both checked against the camera math they promise."""

import math

import pytest
import torch

from worldmem.explore.planner import MAX_RETURN_CHUNKS, MOVES, move_chunk, return_chunks, return_path
from worldmem.geometry import trajectories


def _start():
    return trajectories.cameras_from_headings(torch.tensor([[0.3, -0.2, 1.5]]), torch.tensor([30.0]),
                                              torch.tensor([0.0]), 32, 32, fov_deg=70.0)


def _yaw(cams):
    fwd = cams.forward
    return torch.rad2deg(torch.atan2(fwd[..., 1], fwd[..., 0]))


def test_forward_moves_along_the_view_in_equal_steps():
    start = _start()
    chunk = move_chunk(start, "forward", 4, step=0.4, turn_deg=20.0)
    centres = torch.cat([start.centers, chunk.centers])
    steps = centres[1:] - centres[:-1]
    assert torch.allclose(steps.norm(dim=-1), torch.full((4,), 0.1), atol=1e-5)
    assert torch.allclose(steps / steps.norm(dim=-1, keepdim=True), start.forward.expand(4, 3), atol=1e-5)
    assert torch.allclose(chunk.cam_from_world[:, :3, :3], start.cam_from_world[:, :3, :3].expand(4, 3, 3), atol=1e-6)


def test_turns_rotate_about_the_world_up_without_roll_and_moves_chain_smoothly():
    start = _start()
    left = move_chunk(start, "turn-left", 4, step=0.4, turn_deg=20.0)
    assert torch.allclose(_yaw(left), torch.tensor([35.0, 40.0, 45.0, 50.0]), atol=1e-4)  # + is left (z up)
    assert torch.allclose(left.centers, start.centers.expand(4, 3), atol=1e-6)
    assert torch.allclose(left.forward[:, 2], torch.zeros(4), atol=1e-6)  # still level
    right = move_chunk(left[-1:], "turn-right", 4, step=0.4, turn_deg=20.0)
    assert torch.allclose(_yaw(right), torch.tensor([45.0, 40.0, 35.0, 30.0]), atol=1e-4)
    up = move_chunk(start, "up", 4, step=0.4, turn_deg=20.0)
    assert torch.allclose(up.centers[-1] - start.centers[0], torch.tensor([0.0, 0.0, 0.4]), atol=1e-5)
    strafe = move_chunk(start, "left", 4, step=0.4, turn_deg=20.0)
    direction = (strafe.centers[-1] - start.centers[0]) / 0.4
    y = math.radians(30.0)
    assert torch.allclose(direction, torch.tensor([-math.sin(y), math.cos(y), 0.0]), atol=1e-5)
    assert set(MOVES) == {"forward", "back", "left", "right", "turn-left", "turn-right", "up", "down"}
    with pytest.raises(ValueError, match="move: expected one of"):
        move_chunk(start, "jump", 4, 0.4, 20.0)


def test_return_path_ends_exactly_at_the_bookmark_smoothly():
    start = _start()
    bookmark = trajectories.cameras_from_headings(torch.tensor([[1.1, 0.5, 1.7]]), torch.tensor([-80.0]),
                                                  torch.tensor([10.0]), 32, 32, fov_deg=70.0)
    n = return_chunks(start, bookmark, step=0.2, turn_deg=20.0)
    assert n == min(MAX_RETURN_CHUNKS, 6)  # 110 degrees at 20 per chunk; 1.1 units at 0.2 per chunk
    path = return_path(start, bookmark, n * 4)
    assert torch.equal(path.cam_from_world[-1], bookmark.cam_from_world[0])
    assert torch.equal(path.K[-1], bookmark.K[0])
    centres = torch.cat([start.centers, path.centers])
    steps = (centres[1:] - centres[:-1]).norm(dim=-1)
    total = float((bookmark.centers - start.centers).norm())
    assert abs(float(steps.sum()) - total) < 1e-4  # a straight line
    assert float(steps.max()) < 2.0 * total / len(path)  # eased: no jump
    assert float(steps[0]) < float(steps[len(steps) // 2]) and float(steps[-1]) < float(steps[len(steps) // 2])
    rot = path.cam_from_world[:, :3, :3]
    angles = torch.stack([torch.arccos(((a @ b.T).trace().clamp(-1, 3) - 1) / 2)
                          for a, b in zip(torch.cat([start.cam_from_world[:, :3, :3], rot[:-1]]), rot, strict=True)])
    assert float(torch.rad2deg(angles).max()) < 2.0 * 110.0 / len(path)
    assert return_chunks(start, start, 0.2, 20.0) == 1
