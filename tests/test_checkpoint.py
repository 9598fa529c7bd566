"""The shipped tiny models (CogVideoX and Wan architecture): they load, their configs are rebuilt from configs/,
and they use their memory."""

import json
from pathlib import Path

import pytest
import torch

from train.config import load_config, memory_config
from worldmem import demo
from worldmem.pipelines import GenerationConfig, WorldMemPipeline, default_scheduler
from worldmem.utils.config import load

ROOT = Path(__file__).resolve().parents[1]
GENERATION = ROOT / "configs" / "generation" / "tiny.yaml"  # the generation settings of both tiny models
SHIPPED = {"worldmem-tiny": "tiny.yaml", "worldmem-tiny-wan": "tiny-wan.yaml"}  # checkpoint -> training config


def _training_config(name: str = "worldmem-tiny"):
    # The last fine-tuning round (docs/models.md) ran with the finer, anti-aliased map's curation config.
    return load_config(ROOT / "configs" / SHIPPED[name], [f"data.curation={ROOT / 'configs/curation/tiny-aa.yaml'}"])


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_shipped_model_index_is_rebuilt_from_configs_alone(tmp_path, name):
    """model_index.json equals the index of a pipeline built from the training config's model and the generation
    settings of configs/generation/tiny.yaml (write gate, render anchor, sky layer, ...): nothing typed by hand."""
    from train.loop import build_model

    ckpt = ROOT / "checkpoints" / name
    generation = load(GenerationConfig, GENERATION)
    model, codec = build_model(_training_config(name))
    pipe = WorldMemPipeline(model, default_scheduler(), codec, **generation.to_dict())
    pipe.save_config(tmp_path)
    rebuilt = json.loads((tmp_path / "model_index.json").read_text())
    assert rebuilt == json.loads((ckpt / "model_index.json").read_text())
    assert WorldMemPipeline.from_pretrained(ckpt).generation == generation  # and it loads as exactly that


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_loads_and_matches_its_config(name):
    ckpt = ROOT / "checkpoints" / name
    size = sum(f.stat().st_size for f in ckpt.rglob("*") if f.is_file())
    assert size < 25 * 2**20
    pipe = WorldMemPipeline.from_pretrained(str(ckpt))
    cfg = _training_config(name)
    t = pipe.transformer.config
    assert t.backbone == cfg.model.backbone
    assert {k: t.base_config[k] for k in cfg.model.base_config} == cfg.model.base_config
    assert (t.spatial_mode, t.num_control_layers, t.keyframe_every, t.use_camera, t.latent_channels) == (
        cfg.model.spatial_mode, cfg.model.num_control_layers, cfg.model.keyframe_every, cfg.model.use_camera,
        pipe.codec.latent_channels)
    gen = pipe.generation
    assert (gen.chunk_size, gen.working_window) == (cfg.generation.chunk_size, cfg.generation.working_window)
    assert gen.num_inference_steps == cfg.generation.num_inference_steps  # as validated in training
    # The sky layer was added to the pipeline after training: the model never sees it (the pipeline anchors the
    # remembered sky, docs/memory.md), so the rest of the memory is the training config's.
    saved = gen.memory_config.to_dict()
    assert saved["spatial"].pop("sky_resolution") == 64
    trained = memory_config(cfg)
    assert trained["spatial"].pop("sky_resolution") == 0
    assert saved == trained
    on_disk = json.loads((ckpt / "transformer" / "config.json").read_text())
    assert on_disk["base_config"] == dict(t.base_config) and on_disk["spatial_mode"] == t.spatial_mode
    assert all(torch.isfinite(p).all() for p in pipe.transformer.parameters())


def test_demo_generates_with_the_shipped_model_and_memory_helps(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path), "--frames", "8", "--size", "32", "--chunk", "4",
                      "--generation-seed", "1000001", "--generation-frames", "24", "--steps", "4"]) == 0
    gen = json.loads((tmp_path / "summary.json").read_text())["generation"]
    assert (tmp_path / "generation.mp4").is_file()
    # View recall in a fixed held-out room from 2 given frames: with long-term memory the way back matches the way
    # out better than with the working window alone (the shipped model measured +5 to +6 dB in this room, 24-48 frames).
    assert gen["given_frames"] == 2 and gen["same_pose_pairs"] == 6
    assert gen["same_pose_psnr_full_memory_db"] > gen["same_pose_psnr_working_only_db"] + 1.5
    assert "with memory" in capsys.readouterr().out


def test_the_shipped_wan_model_runs_through_worldmem_generate(tmp_path):
    from worldmem.cli import main

    out = tmp_path / "run"
    assert main(["generate", "--checkpoint", str(ROOT / "checkpoints" / "worldmem-tiny-wan"), "--scene",
                 "synthetic:1000001", "--trajectory", "out-and-back", "--num-frames", "10", "--steps", "2",
                 "--out", str(out)]) == 0
    for name in ("video.mp4", "depth.mp4", "cameras.json", "memory.ply", "run.json"):
        assert (out / name).is_file(), name
    assert len(json.loads((out / "cameras.json").read_text())["cam_from_world"]) == 10
