import pytest
import torch

from eval.revisit_detect import (
    DEFAULT_MIN_COVISIBILITY,
    DEFAULT_MIN_GAP,
    Revisit,
    covisibility,
    covisibility_matrix,
    find_revisits,
    revisit_mask,
    revisit_segments,
)
from worldmem.geometry import trajectories
from worldmem.synthetic import SyntheticScene

T = 19  # out-and-back: frames 0..8 out, 9 the far end, 10..18 back (frame 18 - i repeats frame i)
TURN = 9


@pytest.fixture(scope="module")
def scene():
    return SyntheticScene.random(seed=0, kind="room")


@pytest.fixture(scope="module")
def out_and_back(scene):
    """1 m out while the view yaws 180 degrees (20 per frame, 60 degree FOV), then back along the same poses.

    Neighbouring frames share ~2/3 of their view, frames two apart ~1/3 (far from X = 0.5 either way), and the
    far end looks the opposite way from the start.
    """
    lo, hi = scene.free_box
    c = ((lo + hi) / 2).tolist()
    cams = trajectories.out_and_back(T, start=(float(lo[0]) + 0.1, c[1], c[2]), distance=1.0, yaw_sweep_deg=180.0,
                                     height=32, width=32, fov_deg=60.0)
    _, depth = scene.render(cams)
    return cams, depth


def test_covisibility_of_repeated_and_opposite_views(out_and_back):
    cams, depth = out_and_back
    assert covisibility(cams, depth, 0, T - 1) == pytest.approx(1.0)  # the same pose
    assert covisibility(cams, depth, 0, TURN) == pytest.approx(0.0)  # looking the other way
    s = covisibility_matrix(cams, depth)
    assert s.shape == (T, T)
    assert s[2, 3].item() == pytest.approx(covisibility(cams, depth, 2, 3))
    assert 0.55 < s[2, 3].item() < 0.8 and 0.2 < s[2, 4].item() < 0.45
    assert torch.allclose(torch.diagonal(s), torch.ones(T, dtype=s.dtype))
    assert covisibility_matrix(cams, depth, stride=2)[2, 3].item() == pytest.approx(s[2, 3].item(), abs=0.1)


def test_occluded_points_are_not_covisible(out_and_back):
    cams, depth = out_and_back
    blocked = depth.clone()
    blocked[0, :, 8:24, 8:24] = 0.2  # something close in front of camera 0 hides the centre of the view
    full = covisibility(cams, depth, 0, T - 1)
    assert covisibility(cams, blocked, 0, T - 1) == pytest.approx(full - 16 * 16 / (32 * 32), abs=0.02)


def test_exactly_the_returning_frames_are_revisits(out_and_back):
    cams, depth = out_and_back
    s = covisibility_matrix(cams, depth)
    # With a small gap, every frame after the far end returns to a view left since: all of them and nothing else.
    found = find_revisits(cams, depth, min_covisibility=0.5, min_gap=2, matrix=s)
    assert [r.frame for r in found] == list(range(TURN + 1, T))
    for r in found[1:]:
        assert r.earlier_frame == T - 1 - r.frame and r.covisibility == pytest.approx(1.0)
    # Frame 10 repeats frame 8, but frame 9 still showed most of 8: it was never left. It revisits frame 7.
    assert found[0] == Revisit(frame=TURN + 1, earlier_frame=TURN - 2, covisibility=pytest.approx(s[7, 10].item()))
    # With the default gap G = 8, the returning frames whose first visit is at least G frames earlier.
    found = find_revisits(cams, depth, matrix=s)
    assert [r.frame for r in found] == [j for j in range(TURN + 1, T) if j - (T - 1 - j) >= DEFAULT_MIN_GAP]
    assert DEFAULT_MIN_COVISIBILITY == 0.5
    # The matrix is only a cache: recomputing gives the same answer.
    assert find_revisits(cams, depth) == found


def test_a_forward_path_has_no_revisits(scene):
    lo, hi = scene.free_box
    c = ((lo + hi) / 2).tolist()
    n = 16
    positions = torch.stack([torch.linspace(float(lo[0]) + 0.1, float(hi[0]) - 0.1, n), torch.full((n,), c[1]),
                             torch.full((n,), c[2])], dim=1)
    cams = trajectories.cameras_from_headings(positions, 0.0, 0.0, 32, 32, 60.0)
    _, depth = scene.render(cams)
    assert find_revisits(cams, depth, min_gap=1) == []


def test_masks_and_segments():
    mask = revisit_mask([Revisit(1, 0, 0.9), Revisit(2, 0, 0.9), 4], 6)
    assert mask.tolist() == [False, True, True, False, True, False]
    assert revisit_segments(mask) == [(1, 3), (4, 5)]
    assert revisit_segments([True, True]) == [(0, 2)]
    assert revisit_segments(torch.zeros(3, dtype=torch.bool)) == []


def test_bad_inputs_name_the_argument(out_and_back):
    cams, depth = out_and_back
    cases = [
        (lambda: covisibility(cams, depth[:, 0], 0, 1), "depth"),
        (lambda: covisibility(cams, depth, 0, T), "j"),
        (lambda: covisibility(cams[0], depth, 0, 1), "cameras"),
        (lambda: find_revisits(cams, depth, min_covisibility=0.0), "min_covisibility"),
        (lambda: find_revisits(cams, depth, min_gap=0), "min_gap"),
        (lambda: find_revisits(cams, depth, matrix=torch.zeros(3, 3)), "matrix"),
        (lambda: covisibility_matrix(cams, depth, stride=0), "stride"),
        (lambda: revisit_segments(torch.zeros(2, 2)), "mask"),
        (lambda: revisit_mask([7], 6), "revisits"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value).startswith(f"{name}:") and "\n" not in str(err.value)
