"""Training: smoke runs from shards and on-the-fly samples, exact resume, two processes, bad configs."""

import dataclasses
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from train.config import ConfigError, LrSchedule, SpatialMode, load_config, memory_config
from train.loop import train
from worldmem.data import CurationConfig, load_curation_config
from worldmem.memory import MemoryConfig, WorkingConfig

ROOT = Path(__file__).resolve().parents[2]
MICRO = [
    "model.base_config.num_layers=2", "model.base_config.num_attention_heads=2", "model.base_config.attention_head_dim=16",
    "model.base_config.time_embed_dim=32", "model.base_config.sample_height=16", "model.base_config.sample_width=16",
    "model.num_control_layers=1", "model.keyframe_every=1", "optim.batch_size=2", "optim.warmup_steps=1",
    "checkpoint_every=3", "validate_every=1000", "log_every=1", "generation.num_inference_steps=1",
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
    return MICRO + [f"output_dir={tmp_path}", f"data.curation={curation_yaml}", "generation.chunk_size=2", *extra]


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



def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, curation_yaml, shards):
    # A learning rate no one means: the first update blows the weights up, the next loss is not finite.
    args = micro(tmp_path, curation_yaml, "optim.steps=6", "optim.lr=1e30", "optim.warmup_steps=0",
                 "checkpoint_every=1", "data.source=shards", f"data.shards={shards}")
    with pytest.raises(ValueError, match=r"step \d: the training loss is (nan|inf|-inf); stopped before updating"):
        train(load_config(ROOT / "configs" / "tiny.yaml", args), quiet=True)
    latest = (tmp_path / "checkpoints" / "latest").read_text().strip()
    assert latest.startswith("step_") and not (tmp_path / "pipeline").exists()
    assert int(latest[5:]) >= 1

@pytest.mark.slow
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
    (["optim.learning_rate=1"], "<overrides>: optim.learning_rate: expected a key of OptimConfig (one of steps, "),
    (["optim.steps=many"], "<overrides>: optim.steps: expected an integer, got 'many'"),
    (["data.source=shards", "data.shards=/no/such/dir"],
     "<overrides>: data.shards: expected a folder with complete shards (python -m data_curation build), got '/no/such/dir'"),
    (["generation.chunk_size=9"], "<overrides>: generation.chunk_size: expected at most the data's target frames "
                                  "(data.curation.target_frames = 4), got 9"),
    (["model.spatial_mode=sideways"], "<overrides>: model.spatial_mode: expected one of 'controlnet', 'concat', 'both', "
                                      "'none', got 'sideways'"),
    (["optim.mixed_precision=fp8"], "<overrides>: optim.mixed_precision: expected one of 'no', 'fp16', 'bf16', got 'fp8'"),
    (["optim.lr_schedule=cosine_annealing"], "<overrides>: optim.lr_schedule: expected one of 'constant', "),
    (["optim.lr=.inf"], "<overrides>: optim.lr: expected a finite value > 0, got inf"),
    (["optim.lr=.nan"], "<overrides>: optim.lr: expected a finite value > 0, got nan"),
    (["optim.grad_clip=0"], "<overrides>: optim.grad_clip: expected a finite value > 0, got 0.0"),
    (["optim.ema_decay=1"], "<overrides>: optim.ema_decay: expected a finite value in [0, 1), got 1.0"),
    (["optim.warmup_steps=-1"], "<overrides>: optim.warmup_steps: expected a value >= 0, got -1"),
    (["optim.working_noise=-0.1"], "<overrides>: optim.working_noise: expected a finite value >= 0, got -0.1"),
    (["keep_checkpoints=0"], "<overrides>: keep_checkpoints: expected a value >= 1, got 0"),
    (["generation.num_inference_steps=0"], "<overrides>: generation.num_inference_steps: expected a value >= 1, "
                                           "got 0"),
    (["dropout.camera=1.5"], "<overrides>: dropout.camera: expected a finite value in [0, 1], got 1.5"),
    (["dropout.prompt=0.1"], "<overrides>: dropout.prompt: expected a key of ConditionDropout (one of spatial, "),
    (["data.shuffle_buffer=64"], "<overrides>: data.shuffle_buffer: expected a key of DataConfig (one of source, "),
    (["data.curation_config=configs/curation/tiny.yaml"], "<overrides>: data.curation_config: expected a key of "
                                                           "DataConfig (did you mean curation?), got 'curation_config'"),
    (["model.use_camera=1"], "<overrides>: model.use_camera: expected true or false, got 1"),
    (["model.codec=vae"], "TINY: model.pretrained: expected a local CogVideoX or Wan folder with vae/ for codec 'vae', got ''"),
    (["data.source=shards"], "TINY: data.shards: expected the folder of curated shards for source 'shards', got ''"),
    (["model.pretrained=/no/such/dir"], "<overrides>: model.pretrained: expected an existing local folder, got '/no/such/dir'"),
    (["generation.memory_config.spatial.voxel_size=0"],
     "<overrides>: generation.memory_config.spatial.voxel_size: expected a finite value > 0, got 0.0"),
    (["generation.memory_config.working=3"],
     "<overrides>: generation.memory_config.working: expected a mapping or the path of a YAML file, got 3"),
    (["generation.working_window=3"], "<overrides>: generation.working_window: expected at most the data's working "
                                      "frames (data.curation.working_frames = 2), got 3"),
    (["seed.x=1"], "<overrides>: seed: expected a section (a mapping) to set a key in, got 0"),
    (["optim.lr=[1"], "<overrides>: optim.lr: expected a YAML value, got '[1'"),
    (["nonsense"], "<overrides>: nonsense: expected key=value (e.g. optim.lr=1e-4), got 'nonsense'"),
])
def test_bad_configs_fail_at_start_with_one_line_errors(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs" / "tiny.yaml", overrides)
    # A key that no file or override set (model.pretrained) is blamed on the file of its section.
    message = message.replace("TINY", str(ROOT / "configs" / "tiny.yaml"))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_errors_name_the_file_each_value_came_from(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 1e-3\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=f"^{bad}: optim.learning_rate: expected a key of OptimConfig"):
        load_config(bad)
    bad.write_text("model:\n  spatial_mode: sideways\n")  # a Literal violation in the file
    with pytest.raises(ConfigError, match=f"^{bad}: model.spatial_mode: expected one of 'controlnet', "):
        load_config(bad)
    bad.write_text("optim: {lr: -1e-3}\n")  # a range violation in the file
    with pytest.raises(ConfigError, match=rf"^{bad}: optim.lr: expected a finite value > 0, got -0.001$"):
        load_config(bad)
    curation = tmp_path / "curation.yaml"
    curation.write_text("voxel_size: 0.04\ntarget_frames: 0\n")
    bad.write_text(f"data:\n  curation: {curation}\n")  # an error inside a nested file names that file
    with pytest.raises(ConfigError, match=f"^{curation}: data.curation.target_frames: expected a value >= 1, got 0$"):
        load_config(bad)
    bad.write_text("data:\n  curation: nope.yaml\n")  # a missing nested file: where its path was written
    with pytest.raises(ConfigError, match=f"^{bad}: data.curation: expected a readable YAML file"):
        load_config(bad)
    bad.write_text("seed: 1\noptim: [\n")
    with pytest.raises(ConfigError, match=f"^{bad}: line 2: expected valid YAML .*, got 'optim: \\['$"):
        load_config(bad)
    bad.write_text("seed: !!python/object/apply:os.system [echo pwned]\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert str(err.value) == (f"{bad}: line 1: expected plain YAML data (no !!python/... or other tags that build "
                              "objects), got 'seed: !!python/object/apply:os.system [echo pwned]'")


def test_exponent_floats_from_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 1e-4\n  weight_decay: 3E-2\n  grad_clip: 2\n")
    cfg = load_config(path)
    assert cfg.optim.lr == 1e-4 and cfg.optim.weight_decay == 0.03 and type(cfg.optim.grad_clip) is float
    cfg = load_config(ROOT / "configs" / "tiny.yaml", ["optim.lr=1e-4", "optim.grad_clip=3E5", "output_dir=1e-4",
                                                       "optim.mixed_precision=no", "model.base_config.num_layers=2"])
    assert cfg.optim.lr == 1e-4 and cfg.optim.grad_clip == 3e5
    assert cfg.output_dir == "1e-4" and cfg.optim.mixed_precision == "no"  # string fields take the text as is
    assert cfg.model.base_config["num_layers"] == 2 and cfg.model.base_config["num_attention_heads"] == 4


def test_nested_curation_path_and_overrides_into_it(tmp_path, monkeypatch):
    cfg = load_config(ROOT / "configs" / "tiny.yaml")
    assert cfg.data.curation == load_curation_config(ROOT / "configs" / "curation" / "tiny.yaml")
    assert memory_config(cfg) == cfg.data.curation.memory_config().to_dict() and cfg.generation.memory_config is None
    cfg = load_config(ROOT / "configs" / "tiny.yaml", ["data.curation.voxel_size=0.05", "data.curation.image_size=[16, 24]"])
    assert cfg.data.curation.voxel_size == 0.05 and cfg.data.curation.image_size == (16, 24)
    assert cfg.data.curation.samples_per_clip == 4  # the rest still from configs/curation/tiny.yaml
    assert memory_config(cfg)["spatial"]["voxel_size"] == 0.05
    # A path set by an override, relative to the current directory; a later override reaches into it.
    monkeypatch.chdir(ROOT)
    cfg = load_config("configs/tiny.yaml", ["data.curation=configs/curation/default.yaml", "data.curation.voxel_size=0.03"])
    assert cfg.data.curation == dataclasses.replace(CurationConfig(), voxel_size=0.03)
    # The memory, when given, replaces the one derived from the curation.
    cfg = load_config("configs/tiny.yaml", ["generation.memory_config.working.window=3"])
    assert memory_config(cfg) == MemoryConfig(working=WorkingConfig(window=3)).to_dict()
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  curation:\n    image_size: [16, 16]\n    voxel_size: 0.08\n")  # or a mapping in place
    assert load_config(path).data.curation.voxel_size == 0.08


def test_the_choices_match_what_the_code_accepts():
    from diffusers.optimization import SchedulerType

    from worldmem.models import SPATIAL_MODES

    assert set(typing.get_args(SpatialMode)) == set(SPATIAL_MODES)
    assert set(typing.get_args(LrSchedule)) <= {s.value for s in SchedulerType}


def test_the_command_line_reports_a_bad_config_in_one_line():
    run = subprocess.run([sys.executable, "-m", "train", "--config", str(ROOT / "configs" / "tiny.yaml"), "optim.lr=-1"],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip() == "python -m train: error: <overrides>: optim.lr: expected a finite value > 0, got -1.0"


@pytest.mark.slow
def test_the_command_line_takes_overrides_anywhere(tmp_path, curation_yaml):
    args = micro(tmp_path, curation_yaml)
    cmd = [sys.executable, "-m", "train", *args[:3], "--config", "configs/tiny.yaml", *args[3:6], "--max-steps", "1",
           "optim.lr=1e-4", "optim.batch_size=1", f"output_dir={tmp_path}", *args[6:]]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "step_0000001"


def vae_shards(tmp_path: Path, target_frames: int, synthetic_frames: int) -> tuple[Path, Path]:
    """(curation yaml, shards) of one synthetic 16x16 clip whose target chunk a VAE codec can decode."""
    curation = tmp_path / "curation.yaml"
    curation.write_text(f"image_size: [16, 16]\ntarget_frames: {target_frames}\nworking_frames: 1\nmax_keyframes: 2\n"
                        f"voxel_size: 0.08\nsynthetic_frames: {synthetic_frames}\nsource_frames: 8\n"
                        "min_source_frames: 4\nsamples_per_clip: 1\nsynthetic_supersample: 1\nclips_per_shard: 2\n")
    shards = tmp_path / "shards"
    subprocess.run([sys.executable, "-m", "data_curation", "build", "--source", "synthetic:1", "--out", str(shards),
                    "--config", str(curation), "--no-progress"], check=True, cwd=ROOT, capture_output=True)
    return curation, shards


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
    _, shards = vae_shards(tmp_path, target_frames=9, synthetic_frames=20)
    cfg = load_config(ROOT / "configs" / "cogvideox-5b.yaml", [
        f"model.pretrained={base}", "model.text_encoder=", "model.num_control_layers=1", "model.keyframe_every=1",
        f"data.shards={shards}", "generation.chunk_size=9", "generation.working_window=1", "data.num_workers=0",
        "optim.steps=2", "optim.grad_accum=1", "optim.mixed_precision=no", f"output_dir={tmp_path / 'run'}",
        "generation.num_inference_steps=1", "validate_every=1000"])
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


def test_wan_config_runs_two_steps_with_tiny_random_wan_weights_and_umt5_text(tmp_path):
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from tests.models.test_wan import tiny_wan, tiny_wan_vae
    from tests.models.tiny_text import save_tiny_text_encoder

    torch.manual_seed(0)
    base = tmp_path / "Wan-tiny"
    WanTransformer3DModel(**dict(tiny_wan(4), patch_size=[1, 1, 1])).save_pretrained(base / "transformer")
    AutoencoderKLWan(**tiny_wan_vae("2.1")).save_pretrained(base / "vae")  # 8x spatial, 4 channels
    save_tiny_text_encoder(base, d_model=20, umt5=True)
    curation, shards = vae_shards(tmp_path, target_frames=5, synthetic_frames=16)  # 4m + 1 frames for Wan's VAE
    cfg = load_config(ROOT / "configs" / "wan2.1-1.3b.yaml", [
        f"model.pretrained={base}", f"model.text_encoder={base}", "model.num_control_layers=1", "model.keyframe_every=1",
        "model.sample_size=[2, 2]", f"data.shards={shards}", f"data.curation={curation}", "generation.chunk_size=5",
        "generation.working_window=1", "data.num_workers=0", "optim.steps=2", "optim.grad_accum=1",
        "optim.mixed_precision=no", f"output_dir={tmp_path / 'run'}", "generation.num_inference_steps=1",
        "validate_every=1000"])
    assert cfg.model.backbone == "wan" and cfg.model.train_new_modules_only and cfg.model.control_placement == "spread"
    before = WanTransformer3DModel.from_pretrained(base / "transformer").state_dict()
    final = train(cfg, quiet=True)
    after = weights(final)
    for k, v in before.items():  # the Wan base is frozen: only the new memory modules train
        assert torch.equal(after["base." + k], v), k
    assert after["control_out.0.weight"].abs().sum() > 0
    index = json.loads((final / "model_index.json").read_text())
    assert index["text_encoder"][1] == "UMT5EncoderModel" and index["codec"][1] == "VAECodec"
