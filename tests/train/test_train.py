"""Training: smoke runs from shards and on-the-fly samples, exact resume, two processes, bad configs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from train.config import ConfigError, load_config
from train.loop import train

ROOT = Path(__file__).resolve().parents[2]
MICRO = [
    "model.base_config.num_layers=2", "model.base_config.num_attention_heads=2", "model.base_config.attention_head_dim=16",
    "model.base_config.time_embed_dim=32", "model.base_config.sample_height=16", "model.base_config.sample_width=16",
    "model.num_control_layers=1", "model.keyframe_every=1", "optim.batch_size=2", "optim.warmup_steps=1",
    "checkpoint_every=3", "validate_every=1000", "log_every=1", "num_inference_steps=1",
]


@pytest.fixture(scope="module")
def curation_yaml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "curation.yaml"
    path.write_text("image_size: [16, 16]\ntarget_frames: 2\nworking_frames: 2\nmax_keyframes: 2\nvoxel_size: 0.08\n"
                    "synthetic_frames: 14\nsource_frames: 8\nmin_source_frames: 4\nsamples_per_clip: 2\n"
                    "synthetic_supersample: 1\nclips_per_shard: 2\n")
    return path


@pytest.fixture(scope="module")
def shards(tmp_path_factory, curation_yaml) -> Path:
    out = tmp_path_factory.mktemp("curated")
    subprocess.run([sys.executable, "-m", "data_curation", "build", "--source", "synthetic:3", "--out", str(out),
                    "--config", str(curation_yaml), "--no-progress"], check=True, cwd=ROOT, capture_output=True)
    assert (out / "manifest.jsonl").is_file()
    return out


def micro(tmp_path, curation_yaml, *extra):
    return MICRO + [f"output_dir={tmp_path}", f"data.curation_config={curation_yaml}", "data.chunk_frames=2", *extra]


def weights(path: Path) -> dict:
    return load_file(str(path / "transformer" / "diffusion_pytorch_model.safetensors"))


def test_two_step_smoke_from_shards_and_from_synthetic(tmp_path, curation_yaml, shards):
    for name, source in (("shards", ["data.source=shards", f"data.shards={shards}"]), ("synthetic", [])):
        cfg = load_config(ROOT / "configs" / "tiny.yaml", micro(tmp_path / name, curation_yaml, "optim.steps=2", *source))
        final = train(cfg, quiet=True)
        assert (final / "model_index.json").is_file(), name
        assert (tmp_path / name / "checkpoints" / "latest").read_text().strip() == "step_0000002"
        w = weights(final)
        assert all(torch.isfinite(v).all() for v in w.values())


def test_resume_is_exact(tmp_path, curation_yaml, shards):
    args = micro(tmp_path / "straight", curation_yaml, "optim.steps=6", "data.source=shards", f"data.shards={shards}")
    straight = weights(train(load_config(ROOT / "configs" / "tiny.yaml", args), quiet=True))
    args = micro(tmp_path / "resumed", curation_yaml, "optim.steps=6", "data.source=shards", f"data.shards={shards}")
    cfg = load_config(ROOT / "configs" / "tiny.yaml", args)
    train(cfg, max_steps=3, quiet=True)  # "killed" after 3 steps: no final pipeline
    assert not (tmp_path / "resumed" / "pipeline").exists()
    ckpt = tmp_path / "resumed" / "checkpoints" / "step_0000003"
    assert (ckpt / "ema.safetensors").is_file() and not list(ckpt.glob("custom_checkpoint*"))  # no pickled objects
    resumed = weights(train(cfg, resume=True, quiet=True))
    for k, v in straight.items():
        torch.testing.assert_close(resumed[k], v, rtol=0, atol=1e-6, msg=k)


def test_two_processes_under_accelerate_launch_end_with_identical_weights(tmp_path, curation_yaml, shards):
    args = micro(tmp_path, curation_yaml, "optim.steps=2", "data.source=shards", f"data.shards={shards}", "optim.ema_decay=0")
    env = dict(os.environ, OMP_NUM_THREADS="1", ACCELERATE_USE_CPU="1")  # torchrun processes, gloo on the CPU
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "train", "--config", str(ROOT / "configs" / "tiny.yaml"),
           *args]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    replicas = json.loads((tmp_path / "replicas.json").read_text())
    assert replicas["num_processes"] == 2
    first, second = replicas["fingerprints"]
    assert first == second and first[1] > 0  # sum of squares of the weights: identical on both processes
    assert (tmp_path / "pipeline" / "model_index.json").is_file()


@pytest.mark.parametrize("overrides, message", [
    (["optim.learning_rate=1"], "optim.learning_rate: unknown key"),
    (["optim.steps=many"], "optim.steps: expected an integer"),
    (["data.source=shards", "data.shards=/no/such/dir"], "data.shards: no complete shards"),
    (["data.chunk_frames=9"], "data.chunk_frames/working_frames: expected at most"),
    (["model.spatial_mode=sideways"], "model.spatial_mode: expected one of"),
    (["nonsense"], "expected key=value"),
])
def test_bad_configs_fail_at_start_with_one_line_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(ROOT / "configs" / "tiny.yaml", overrides)


def test_the_command_line_reports_a_bad_config_in_one_line():
    run = subprocess.run([sys.executable, "-m", "train", "--config", str(ROOT / "configs" / "tiny.yaml"), "optim.lr=-1"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip() == "python -m train: error: optim.lr: expected > 0, got -1.0"


def test_cogvideox_config_runs_two_steps_with_tiny_random_weights(tmp_path, tmp_path_factory):
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel

    torch.manual_seed(0)
    base = tmp_path / "CogVideoX-tiny-I2V"
    CogVideoXTransformer3DModel(num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4,
                                time_embed_dim=32, text_embed_dim=8, num_layers=2, sample_width=2, sample_height=2,
                                sample_frames=9, patch_size=1, max_text_seq_length=0,
                                use_rotary_positional_embeddings=True).save_pretrained(base / "transformer")
    AutoencoderKLCogVideoX(down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
                           block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1,
                           norm_num_groups=2).save_pretrained(base / "vae")
    curation = tmp_path / "curation.yaml"
    curation.write_text("image_size: [16, 16]\ntarget_frames: 9\nworking_frames: 1\nmax_keyframes: 2\nvoxel_size: 0.08\n"
                        "synthetic_frames: 20\nsource_frames: 8\nmin_source_frames: 4\nsamples_per_clip: 1\n"
                        "synthetic_supersample: 1\nclips_per_shard: 2\n")
    shards = tmp_path / "shards"
    subprocess.run([sys.executable, "-m", "data_curation", "build", "--source", "synthetic:1", "--out", str(shards),
                    "--config", str(curation), "--no-progress"], check=True, cwd=ROOT, capture_output=True)
    cfg = load_config(ROOT / "configs" / "cogvideox-5b.yaml", [
        f"model.pretrained={base}", "model.latent_channels=4", "model.num_control_layers=1", "model.keyframe_every=1",
        f"data.shards={shards}", "data.chunk_frames=9", "data.working_frames=1", "data.num_workers=0",
        "optim.steps=2", "optim.grad_accum=1", "optim.mixed_precision=no", f"output_dir={tmp_path / 'run'}",
        "num_inference_steps=1", "validate_every=1000"])
    assert cfg.model.train_new_modules_only and cfg.optim.lr == 1e-5
    before = CogVideoXTransformer3DModel.from_pretrained(base / "transformer").state_dict()
    final = train(cfg, quiet=True)
    after = weights(final)
    for k, v in before.items():  # the base model is frozen: only the new memory modules train
        assert torch.equal(after["base." + k], v), k
    # The new, zero-initialised memory layers did train, and the saved pipeline is the last checkpoint's model.
    assert after["control_out.0.weight"].abs().sum() > 0
    ckpt = load_file(str(tmp_path / "run" / "checkpoints" / "step_0000002" / "model.safetensors"))
    assert all(torch.equal(after[k], v) for k, v in ckpt.items())
