"""The model boundary: readouts -> ModelInputs for a Codec; switching paths off returns new inputs."""

import dataclasses

import pytest
import torch

from worldmem.geometry import trajectories as tr
from worldmem.memory import MemoryConfig, WorkingConfig, WorldMemory
from worldmem.models import Codec, PixelCodec
from worldmem.pipelines import ModelInputs, encode_readouts
from worldmem.synthetic import SyntheticScene

SIZE = 16


@pytest.fixture(scope="module")
def readout():
    scene = SyntheticScene.random(seed=4, dynamic=False, kind="room")
    lo, hi = scene.free_box
    cams = tr.out_and_back(10, start=((lo + hi) / 2).tolist(), heading_deg=0.0, distance=0.8, yaw_sweep_deg=90.0,
                           height=SIZE, width=SIZE)
    frames, depth = scene.render(cams)
    mem = WorldMemory(MemoryConfig(working=WorkingConfig(window=2)))
    mem.write(frames[:6], depth[:6], cams[:6])
    return mem.read(cams[6:9])


def test_codecs_implement_the_protocol():
    assert isinstance(PixelCodec(), Codec)
    assert not isinstance(object(), Codec)


def test_encode_readouts_shapes_and_plucker_order(readout):
    codec = PixelCodec()
    inputs = encode_readouts([readout, readout], codec)
    assert inputs.working.shape == (2, 2, 4, SIZE, SIZE) and inputs.spatial.shape == (2, 3, 5, SIZE, SIZE)
    k = len(readout.keyframes)
    assert k >= 1 and inputs.keyframes.shape == (2, k, 4, SIZE, SIZE) and inputs.keyframe_mask.all()
    kwargs = inputs.as_kwargs()
    # Plücker rays: the working frames first, then the chunk's, all relative to the newest working camera.
    assert kwargs["plucker"].shape == (2, 5, 6, SIZE, SIZE)
    assert torch.equal(kwargs["plucker"][:, :2], inputs.working_plucker)
    assert torch.equal(kwargs["plucker"][:, 2:], inputs.target_plucker)
    newest = inputs.working_plucker[0, -1]
    # The reference camera sits at the origin of its own frame: its moments (o x d) vanish.
    assert float(newest[3:].abs().max()) < 1e-5
    assert float(inputs.target_plucker[0, 0, 3:].abs().max()) > 1e-3


def test_without_returns_new_inputs_and_matches_a_readout_without_the_path(readout):
    codec = PixelCodec()
    inputs = encode_readouts([readout], codec)
    off = inputs.without("spatial", "episodic")
    assert off is not inputs and inputs.spatial is not None and inputs.keyframes is not None  # unchanged
    assert off.spatial is None and off.keyframes is None and off.keyframe_mask is None and off.keyframe_plucker is None
    bare = dataclasses.replace(readout, spatial=None, keyframes=None)
    expected = encode_readouts([bare], codec)
    for name in ("working", "working_plucker", "target_plucker"):
        assert torch.equal(getattr(off, name), getattr(expected, name))
    no_work = inputs.without("working")
    assert no_work.working is None and no_work.as_kwargs()["plucker"].shape[1] == 3
    assert inputs.without("camera").as_kwargs()["plucker"] is None
    with pytest.raises(ValueError, match=r"paths: unknown path\(s\) \['text'\]"):
        inputs.without("text")
    noisy = inputs.replace(working=inputs.working + 1.0)
    assert torch.equal(noisy.working, inputs.working + 1.0) and torch.equal(noisy.spatial, inputs.spatial)


def test_a_batch_must_agree_on_its_paths(readout):
    codec = PixelCodec()
    with pytest.raises(ValueError, match="spatial render in every readout"):
        encode_readouts([readout, dataclasses.replace(readout, spatial=None)], codec)
    with pytest.raises(ValueError, match="same working-window length"):
        encode_readouts([readout, dataclasses.replace(readout, working=None)], codec)
    assert encode_readouts([readout], codec).to(dtype=torch.float64).working.dtype == torch.float64
    assert encode_readouts([readout], codec).to(dtype=torch.float64).keyframe_mask.dtype == torch.bool
    assert isinstance(encode_readouts([readout], codec), ModelInputs)
