import pytest
import torch

from worldmem.memory.readout import SpatialRender
from worldmem.pipelines.generation_config import GenerationConfig
from worldmem.pipelines.write_gate import WriteGate
from worldmem.utils.config import ConfigError, from_dict


def _chunk():
    frames = torch.full((1, 3, 2, 2), 0.5)
    depth = torch.tensor([[[[1.0, 2.0], [9.0, 0.0]]]])
    covered = torch.tensor([[[[True, True], [False, False]]]])
    ref = SpatialRender(rgb=torch.where(covered, torch.full_like(frames, 0.5), torch.zeros_like(frames)),
                        depth=torch.where(covered, torch.tensor([[[[1.05, 1.0], [0.0, 0.0]]]]), torch.zeros(1, 1, 2, 2)),
                        mask=covered)
    return frames, depth, ref


def test_modes_select_new_or_agreeing_pixels():
    frames, depth, ref = _chunk()
    assert WriteGate("all").mask(frames, depth, ref) is None
    assert WriteGate("new").mask(frames, depth, ref)[0, 0].tolist() == [[False, False], [True, True]]
    # Pixel (0, 0) agrees with the render (5 % depth); pixel (0, 1) is twice as far: not fused.
    assert WriteGate("agree").mask(frames, depth, ref)[0, 0].tolist() == [[True, False], [True, True]]
    assert WriteGate("new").mask(frames, depth, None) is None


def test_margin_keeps_the_pixels_next_to_the_map_out():
    """A 1-pixel margin: uncovered pixels touching the coverage (diagonals too) are not written; farther ones are."""
    covered = torch.zeros(1, 1, 5, 5, dtype=torch.bool)
    covered[0, 0, 0, 0] = True
    ref = SpatialRender(rgb=torch.zeros(1, 3, 5, 5), depth=covered.float(), mask=covered)
    frames, depth = torch.zeros(1, 3, 5, 5), torch.ones(1, 1, 5, 5)
    plain = WriteGate("new").mask(frames, depth, ref)[0, 0]
    near = WriteGate("new", margin=1).mask(frames, depth, ref)[0, 0]
    assert torch.equal(plain, ~covered[0, 0])
    kept_out = plain & ~near
    assert kept_out.nonzero().tolist() == [[0, 1], [1, 0], [1, 1]]
    assert int(WriteGate("new", margin=2).mask(frames, depth, ref).sum()) == 25 - 9
    # agree: covered pixels still fuse when they confirm the render; the margin applies to uncovered ones only.
    agree = WriteGate("agree", margin=1, depth_tolerance=0.1).mask(frames, depth, ref)[0, 0]
    assert bool(agree[0, 0]) and not bool(agree[1, 1]) and bool(agree[2, 2])


def test_far_depth_becomes_unknown_only_with_a_cap():
    _, depth, _ = _chunk()
    assert torch.equal(WriteGate().far_to_unknown(depth), depth)
    capped = WriteGate(max_depth=4.0).far_to_unknown(depth)
    assert capped[0, 0].tolist() == [[1.0, 2.0], [0.0, 0.0]]


@pytest.mark.parametrize("bad, match", [
    ({"mode": "some"}, "write_gate.mode: expected one of 'all', 'new', 'agree', got 'some'"),
    ({"max_depth": -1.0}, r"write_gate.max_depth: expected a finite value >= 0"),
    ({"max_depth": float("nan")}, r"write_gate.max_depth"),
    ({"rgb_tolerance": 0}, r"write_gate.rgb_tolerance: expected a finite value > 0"),
    ({"cap": 1}, r"write_gate.cap: expected a key of WriteGate \(one of mode, rgb_tolerance"),
    ({"margin": -1}, r"write_gate.margin: expected a value >= 0, got -1"),
    ({"margin": 1.5}, r"write_gate.margin: expected an integer, got 1.5"),
])
def test_bad_gates_are_one_line_errors(bad, match):
    """The gate is loaded by the config tree's strict loader (generation.write_gate): its wording, one line."""
    with pytest.raises(ConfigError, match=match) as info:
        GenerationConfig.from_dict({"write_gate": bad})
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=match.replace("write_gate.", "")):  # alone: the key without a section
        from_dict(WriteGate, bad)


def test_pixels_the_remembered_sky_covers_count_as_remembered():
    frames, depth, ref = _chunk()
    sky_mask = torch.tensor([[[[False, False], [False, True]]]])
    sky = SpatialRender(rgb=torch.where(sky_mask, torch.full_like(frames, 0.5), torch.zeros_like(frames)),
                        depth=torch.zeros(1, 1, 2, 2), mask=sky_mask)
    # new: the sky pixel (1, 1) is not written again; (1, 0) is still new.
    assert WriteGate("new").mask(frames, depth, ref, sky)[0, 0].tolist() == [[False, False], [True, False]]
    # agree: the sky pixel confirms the remembered sky (same colour, unknown depth) and is written.
    assert WriteGate("agree").mask(frames, depth, ref, sky)[0, 0].tolist() == [[True, False], [True, True]]
    other = frames.clone()
    other[..., 1, 1] = 0.0
    assert WriteGate("agree").mask(other, depth, ref, sky)[0, 0].tolist() == [[True, False], [True, False]]
    # A sky alone (no map yet) gates too; the margin is about the map's edge, not the sky's.
    assert WriteGate("new", margin=1).mask(frames, depth, None, sky)[0, 0].tolist() == [[True, True], [True, False]]
