"""configs/accelerate/: every file read by accelerate's own loader and launcher code, the settings each one hands to
the processes, the budget figures in the comments against ``python -m train budget``, and real ``accelerate launch``
runs on this CPU.

Only DDP over gloo runs without a GPU (accelerate 1.x sets up FSDP and DeepSpeed only on GPUs): the tiny model trains
2 steps under cpu.yaml; a GPU file launched on the CPU stops at start with one line (train.loop.check_launch).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

from train.config import TrainConfig, load_config
from train.loop import check_launch
from worldmem.utils.config import load

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "configs" / "accelerate"
EXPECTED = {  # file: (distributed_type, use_cpu, mixed_precision)
    "cpu": (DistributedType.MULTI_GPU, True, "no"),
    "ddp": (DistributedType.MULTI_GPU, False, "bf16"),
    "fsdp": (DistributedType.FSDP, False, "bf16"),
    "zero2": (DistributedType.DEEPSPEED, False, "bf16"),
    "zero3": (DistributedType.DEEPSPEED, False, "bf16"),
    "wan2.1-1.3b": (DistributedType.MULTI_GPU, False, "bf16"),
    "wan2.2-ti2v-5b": (DistributedType.FSDP, False, "bf16"),
}
GPU_FILES = ("ddp", "fsdp", "zero2", "zero3", "wan2.1-1.3b", "wan2.2-ti2v-5b")
STRATEGY = {"wan2.1-1.3b": "ddp", "wan2.2-ti2v-5b": "fsdp"}  # the others are named after their strategy
BUDGET_CONFIG = {"wan2.1-1.3b": "wan2.1-1.3b.yaml", "wan2.2-ti2v-5b": "wan2.2-ti2v-5b.yaml"}  # else cogvideox-5b
TINY = [  # the tiny config at test size (as tests/train/test_train.py), on the fly from the synthetic world
    "model.base_config.num_layers=2", "model.base_config.num_attention_heads=2", "model.base_config.attention_head_dim=16",
    "model.base_config.time_embed_dim=32", "model.base_config.sample_height=16", "model.base_config.sample_width=16",
    "model.num_control_layers=1", "model.keyframe_every=1", "optim.batch_size=2", "optim.warmup_steps=1",
    "validate_every=1000", "log_every=1", "generation.num_inference_steps=1", "generation.chunk_size=2",
    "data.source=synthetic",
    "optim.steps=2", "optim.ema_decay=0",
]


@pytest.fixture(scope="module")
def curation_yaml(tmp_path_factory) -> Path:
    """16x16 samples (as tests/train/test_train.py), made on the fly from the synthetic world."""
    out = tmp_path_factory.mktemp("cfg") / "curation.yaml"
    out.write_text("image_size: [16, 16]\ntarget_frames: 2\nworking_frames: 2\nmax_keyframes: 2\nvoxel_size: 0.08\n"
                   "synthetic_frames: 14\nsource_frames: 8\nmin_source_frames: 4\nsamples_per_clip: 2\n"
                   "synthetic_supersample: 1\nclips_per_shard: 2\n")
    return out


def path(name: str) -> Path:
    return FOLDER / f"{name}.yaml"


def launcher_env(name: str, *extra: str) -> tuple:
    """(launch args, accelerate's config, the environment accelerate's launcher gives each process) for a file."""
    args = launch_command_parser().parse_args(["--config_file", str(path(name)), *extra, "-m", "train"])
    args, defaults, _ = _validate_launch_command(args)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        return args, defaults, prepare_deepspeed_cmd_env(args)[1]
    return args, defaults, prepare_multi_gpu_env(args)


def set_launch_env(monkeypatch, env: dict) -> None:
    for key in [k for k in os.environ if k.startswith(("ACCELERATE_", "FSDP_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith(("ACCELERATE_", "FSDP_")):
            monkeypatch.setenv(key, value)


def test_the_folder_holds_the_documented_files():
    assert sorted(p.stem for p in FOLDER.glob("*.yaml")) == sorted(EXPECTED)
    docs = (ROOT / "docs" / "distributed.md").read_text()
    for name in EXPECTED:
        assert f"configs/accelerate/{name}.yaml" in docs, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_loads_with_accelerates_loader_and_names_only_launcher_options(name):
    cfg = load_config_from_file(str(path(name)))  # raises on unknown top-level keys
    kind, use_cpu, precision = EXPECTED[name]
    assert (cfg.distributed_type, cfg.use_cpu, cfg.mixed_precision) == (kind, use_cpu, precision)
    assert cfg.num_machines == 1 and cfg.num_processes == (2 if name == "cpu" else 8)
    # accelerate copies fsdp_config / deepspeed_config keys onto the launch arguments without checking them:
    # a misspelt key would be dropped silently, so each must be an option of accelerate launch.
    options = vars(launch_command_parser().parse_args(["x.py"]))
    for key in cfg.fsdp_config:
        assert key.startswith("fsdp_") and key in options, key
    for key in cfg.deepspeed_config:
        assert key in options, key
    fsdp = kind == DistributedType.FSDP
    assert bool(cfg.fsdp_config) == fsdp and bool(cfg.deepspeed_config) == name.startswith("zero")
    text = path(name).read_text()
    assert "accelerate launch --config_file configs/accelerate/" + name + ".yaml" in text


def test_the_fsdp_file_shards_fully_and_wraps_our_transformer_blocks(monkeypatch):
    from worldmem.models import WorldMemTransformer

    args, _, env = launcher_env("fsdp")
    assert args.use_fsdp and env["ACCELERATE_USE_FSDP"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    set_launch_env(monkeypatch, env)
    plugin = FullyShardedDataParallelPlugin()  # what Accelerator builds in each process from that environment
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.state_dict_type.name == "SHARDED_STATE_DICT" and type(plugin.cpu_offload).__name__ == "OffloadPolicy"
    base = dict(load_config(ROOT / "configs" / "tiny.yaml", TINY).model.base_config)
    model = WorldMemTransformer(base_config=base, spatial_mode="controlnet", num_control_layers=1, keyframe_every=1)
    plugin.set_auto_wrap_policy(model)  # raises when a named class is not in the model
    wrapped = plugin.auto_wrap_policy.keywords["transformer_layer_cls"]
    assert {c.__name__ for c in wrapped} == {"CogVideoXBlock", "KeyframeCrossAttention"}
    assert type(model.base.transformer_blocks[0]) in wrapped and type(model.control_blocks[0]) in wrapped
    assert type(model.keyframe_attn["0"]) in wrapped


def test_the_wan_fsdp_file_wraps_the_wan_blocks(monkeypatch):
    from worldmem.models import WorldMemTransformer

    args, _, env = launcher_env("wan2.2-ti2v-5b")
    assert args.use_fsdp and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    set_launch_env(monkeypatch, env)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    model = WorldMemTransformer(backbone="wan", spatial_mode="controlnet", num_control_layers=2, keyframe_every=2,
                                control_placement="spread")
    plugin.set_auto_wrap_policy(model)
    wrapped = plugin.auto_wrap_policy.keywords["transformer_layer_cls"]
    assert {c.__name__ for c in wrapped} == {"WanTransformerBlock", "KeyframeCrossAttention"}
    assert type(model.base.blocks[0]) in wrapped and type(model.control_blocks[1]) in wrapped


@pytest.mark.parametrize("name, stage", [("zero2", 2), ("zero3", 3)])
def test_the_deepspeed_files_hand_deepspeed_the_documented_settings(monkeypatch, name, stage):
    _, _, env = launcher_env(name)
    # Left out on purpose: accelerate would otherwise override optim.grad_accum with the file's value.
    assert "ACCELERATE_GRADIENT_ACCUMULATION_STEPS" not in env
    set_launch_env(monkeypatch, env)
    plugin = DeepSpeedPlugin()
    plugin.set_mixed_precision("bf16")  # train passes optim.mixed_precision, bf16 in cogvideox-5b.yaml
    ds = plugin.deepspeed_config
    assert ds["zero_optimization"]["stage"] == stage and ds["bf16"]["enabled"] is True
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "none"
    assert ds["zero_optimization"]["offload_param"]["device"] == "none"
    assert ds["gradient_accumulation_steps"] == "auto" and ds["train_micro_batch_size_per_gpu"] == "auto"
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is (stage == 3)
    five_b = load(TrainConfig, ROOT / "configs" / "cogvideox-5b.yaml")  # as train budget reads it (no data here)
    assert ds["gradient_clipping"] == five_b.optim.grad_clip  # DeepSpeed clips, not the loop
    assert five_b.optim.mixed_precision == "bf16" and five_b.model.gradient_checkpointing


@pytest.fixture(scope="module")
def budgets(budget_run, tmp_path_factory) -> dict:
    """python -m train budget of configs/cogvideox-5b.yaml (tests/train/conftest.py) and of the Wan configs."""
    from train.budget import write_budget

    out = {"cogvideox-5b.yaml": budget_run["result"]}
    for config in BUDGET_CONFIG.values():
        out[config] = write_budget(ROOT / "configs" / config, tmp_path_factory.mktemp("budget") / "b.json")
    return out


@pytest.mark.parametrize("name", GPU_FILES)
def test_the_budget_figures_in_each_gpu_file_are_train_budgets(budgets, name):
    strategy = STRATEGY.get(name, name)  # the budget's strategy names are the generic files' names
    budget = budgets[BUDGET_CONFIG.get(name, "cogvideox-5b.yaml")]
    lines = re.findall(r"^# budget\[(\w+), checkpointing (on|off)\]: (.*)$", path(name).read_text(), re.M)
    assert sorted((s, c) for s, c, _ in lines) == [(strategy, "off"), (strategy, "on")]
    for _, onoff, rest in lines:
        fit = budget["fits"][f"{strategy}/{'with' if onoff == 'on' else 'without'}_checkpointing"]
        per_gpu = re.findall(r"(\d+) GPUs? ([\d.]+)", rest.split(";")[0])
        assert per_gpu, rest
        for n, gib in per_gpu:
            assert float(gib) == fit["80GB"]["gib_per_gpu"][n] == fit["141GB"]["gib_per_gpu"][n], (onoff, n)
        for gpu in ("24", "80", "141") if "24 GB" in rest else ("80", "141"):
            fewest = re.search(rf"{gpu} GB (\d+|none)", rest.split(";")[1]).group(1)
            assert fewest == str(fit[f"{gpu}GB"]["min_gpus"] or "none"), (onoff, gpu)


def launch(tmp_path, curation_yaml, name: str, *extra: str, cpu: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "FSDP_"))}
    env["OMP_NUM_THREADS"] = "1"
    if cpu:
        env["ACCELERATE_USE_CPU"] = "1"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(path(name)), *extra,
           "-m", "train", "--config", str(ROOT / "configs" / "tiny.yaml"), *TINY, f"output_dir={tmp_path}",
           f"data.curation={curation_yaml}"]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_tiny_model_trains_two_steps_under_the_cpu_file(tmp_path, curation_yaml):
    run = launch(tmp_path, curation_yaml, "cpu", cpu=True)
    assert run.returncode == 0, run.stderr[-3000:]
    replicas = json.loads((tmp_path / "replicas.json").read_text())
    assert replicas["num_processes"] == 2
    first, second = replicas["fingerprints"]
    assert first == second and first[1] > 0  # gloo kept the two processes' weights identical
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "step_0000002"
    assert (tmp_path / "pipeline" / "model_index.json").is_file()


@pytest.mark.slow
def test_without_accelerate_use_cpu_the_launch_stops_before_training(tmp_path, curation_yaml):
    # The launcher starts 2 processes but does not pass use_cpu on: without this check each would train alone.
    run = launch(tmp_path, curation_yaml, "cpu", cpu=False)
    assert run.returncode != 0
    assert ("python -m train: error: accelerate launch started 2 processes but accelerate set up 1 (NO): each would "
            "train alone; without a GPU accelerate runs only DDP, with ACCELERATE_USE_CPU=1") in run.stderr
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "replicas.json").exists()


@pytest.mark.slow
def test_the_fsdp_file_on_the_cpu_stops_before_training_instead_of_running_ddp(tmp_path, curation_yaml):
    run = launch(tmp_path, curation_yaml, "fsdp", "--num_processes", "2", cpu=True)
    assert run.returncode != 0
    assert "python -m train: error: the launch asked for FSDP but accelerate set up MULTI_CPU; without a GPU" in run.stderr
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("environ, processes, kind, message", [
    ({}, 1, DistributedType.NO, None),
    ({"WORLD_SIZE": "2"}, 2, DistributedType.MULTI_CPU, None),
    ({"WORLD_SIZE": "8", "ACCELERATE_USE_FSDP": "true"}, 8, DistributedType.FSDP, None),
    ({"WORLD_SIZE": "8", "ACCELERATE_USE_DEEPSPEED": "true"}, 8, DistributedType.DEEPSPEED, None),
    # DeepSpeed without a GPU: accelerate sees one process of one on every rank (tried with deepspeed 0.19.8)
    ({"WORLD_SIZE": "2", "ACCELERATE_USE_DEEPSPEED": "true"}, 1, DistributedType.DEEPSPEED,
     "accelerate launch started 2 processes but accelerate set up 1 (DEEPSPEED)"),
    ({"WORLD_SIZE": "2", "ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_USE_CPU": "1"}, 2, DistributedType.MULTI_CPU,
     "the launch asked for DeepSpeed but accelerate set up MULTI_CPU"),
])
def test_check_launch(environ, processes, kind, message):
    accelerator = SimpleNamespace(num_processes=processes, distributed_type=kind)
    if message is None:
        check_launch(accelerator, environ)
    else:
        with pytest.raises(ValueError, match=re.escape(message)):
            check_launch(accelerator, environ)
