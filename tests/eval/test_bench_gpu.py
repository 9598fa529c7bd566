"""The GPU check on the CPU (its tiny sizes), and the hot paths keeping their tensors on the input's device.

The device-parametrised tests run on every device this machine has (the CPU; CUDA where there is one) and on
the meta device where a path is shape-only: a tensor created on the CPU and mixed with meta tensors raises
just as it would with CUDA tensors, so a forgotten ``device=`` fails here without a GPU.
"""

import json

import pytest
import torch
from diffusers import AutoencoderKLCogVideoX

from eval.bench.gpu import STAGES
from eval.cli import main
from worldmem.geometry import trajectories as tr
from worldmem.geometry.render import render_points
from worldmem.memory import MemoryConfig, WorkingConfig, WorldMemory
from worldmem.models import VAECodec, WorldMemTransformer
from worldmem.pipelines import encode_readouts
from worldmem.synthetic import SyntheticScene

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_gpu_check_runs_every_stage_at_tiny_sizes_on_the_cpu(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    assert main(["bench", "gpu", "--device", "cpu", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["device"] == "cpu" and res["tiny"] and res["ok"]
    assert set(res["stages"]) == set(STAGES) and all(s["ok"] for s in res["stages"].values())
    st = res["stages"]
    # Same device as the reference here, so the comparisons are exact; on a GPU they are within tolerance.
    assert st["pipeline"]["frames"]["max_abs"] == 0.0 and st["pipeline"]["frames_generated"] == 4
    assert st["render"]["coverage_mismatch"] == 0.0 and st["render"]["covered"] > 0.1
    assert st["tsdf"]["voxels"][0] == st["tsdf"]["voxels"][1] > 0
    losses = st["train_bf16"]["losses"]
    assert len(losses) == 3 and losses[-1] < losses[0] and st["train_bf16"]["weights_changed"]
    chunk = st["chunk"]
    assert chunk["frames"] == 9 and chunk["video_tokens"] == (3 + 2) * 4 * 6 and chunk["text_tokens"] == 8
    assert chunk["backbone"] == "cogvideox"
    assert "chunk: ok" in capsys.readouterr().out


@pytest.mark.parametrize("config", ["wan2.1-1.3b.yaml", "wan2.2-ti2v-5b.yaml"])
def test_gpu_check_runs_the_chunk_of_either_wan_config_at_tiny_size(tmp_path, config):
    out = tmp_path / "gpu.json"
    assert main(["bench", "gpu", "--device", "cpu", "--config", f"configs/{config}", "--out", str(out)]) == 0
    chunk = json.loads(out.read_text())["stages"]["chunk"]
    assert chunk["ok"] and chunk["backbone"] == "wan" and chunk["frozen_base"] and chunk["checkpointing"]
    # 9 frames -> 3 latent frames after 5 working frames -> 2, each 8x12 latents in 2x2 patches; 8 text tokens.
    assert (chunk["latent_frames"], chunk["working_latent_frames"]) == (3, 2)
    assert chunk["video_tokens"] == (3 + 2) * 4 * 6 and chunk["text_tokens"] == 8


REFUSED = [("tpu", "expected cpu or cuda[:N], got 'tpu'")] + (
    [] if torch.cuda.is_available() else [("cuda", "cuda is not available on this machine")])


@pytest.mark.parametrize("device, message", REFUSED)
def test_gpu_check_refuses_a_device_it_cannot_use(tmp_path, capsys, device, message):
    with pytest.raises(SystemExit) as err:
        main(["bench", "gpu", "--device", device, "--out", str(tmp_path / "g.json")])
    assert err.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "g.json").exists()


@pytest.mark.parametrize("device", DEVICES)
def test_render_points_returns_tensors_on_the_points_device(device):
    g = torch.Generator().manual_seed(0)
    cams = tr.look_around(2, position=(0.0, 0.0, 0.0), height=24, width=24, fov_deg=70.0)
    points = torch.randn(3000, 3, generator=g) * 2.0
    colours = torch.rand(3000, 3, generator=g)
    ref = render_points(points, colours, cams)
    for radius in (None, 0.05):
        ref = render_points(points, colours, cams, radius=radius)
        got = render_points(points.to(device), colours.to(device), cams.to(device), radius=radius)
        assert {t.device.type for t in (got.features, got.depth, got.mask, got.index)} == {torch.device(device).type}
        assert torch.equal(got.mask.cpu(), ref.mask) and ref.mask.any()
        torch.testing.assert_close(got.depth.cpu(), ref.depth)


@pytest.mark.parametrize("device", DEVICES + ["meta"])
def test_transformer_forward_keeps_every_tensor_on_the_input_device(device):
    torch.manual_seed(0)
    model = WorldMemTransformer(spatial_mode="both").to(device)
    b, f, fw, k, s = 1, 4, 2, 2, 32

    def r(*shape):
        return torch.randn(*shape).to(device)

    out = model(r(b, f, 4, s, s), torch.tensor([3], device=device), working=r(b, fw, 4, s, s),
                spatial=r(b, f, 5, s, s), keyframes=r(b, k, 4, s, s), plucker=r(b, fw + f, 6, s, s),
                keyframe_plucker=r(b, k, 6, s, s)).sample
    assert out.device.type == torch.device(device).type and out.shape == (b, f, 4, s, s)


@pytest.fixture(scope="module")
def readout():
    scene = SyntheticScene.random(seed=4, dynamic=False, kind="room")
    lo, hi = scene.free_box
    cams = tr.out_and_back(12, start=((lo + hi) / 2).tolist(), heading_deg=0.0, distance=0.8, yaw_sweep_deg=90.0,
                           height=16, width=16)
    frames, depth = scene.render(cams)
    mem = WorldMemory(MemoryConfig(working=WorkingConfig(window=1)))
    mem.write(frames[:7], depth[:7], cams[:7])
    return mem.read(cams[7:12])


@pytest.mark.parametrize("device", DEVICES + ["meta"])
def test_a_vae_codec_on_the_device_encodes_the_memory_readout_there(readout, device):
    torch.manual_seed(0)
    # Three blocks: two of them downsample time, matching temporal_compression_ratio=4 (the codec's factor).
    vae = AutoencoderKLCogVideoX(in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 3,
                                 up_block_types=("CogVideoXUpBlock3D",) * 3, block_out_channels=(8, 8, 8),
                                 latent_channels=4, layers_per_block=1, norm_num_groups=2,
                                 temporal_compression_ratio=4).eval()
    codec = VAECodec.from_vae(vae).to(device)
    assert readout.spatial is not None and readout.working is not None  # the readout is on the CPU (the memory's)
    with torch.no_grad():
        inputs = encode_readouts([readout], codec, device=device)
    tensors = {k: v for k, v in inputs.as_kwargs().items() if isinstance(v, torch.Tensor)}
    assert {"working", "spatial", "plucker"} <= set(tensors)
    assert {v.device.type for v in tensors.values()} == {torch.device(device).type}
    assert tensors["spatial"].shape[1:3] == (2, 5)  # 5 frames -> 2 latent frames; 4 latent channels + coverage
