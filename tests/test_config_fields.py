"""Every leaf field of the config tree (TrainConfig with its model, data + curation, optim, dropout and memory
configs) has an effect.

``PROBES`` maps each dotted field to a perturbation (``key=value`` overrides of that field only, on top of a
tiny base config and an optional context both runs share) and an observer: code downstream that consumes the
field, from ``train.loop.build_model`` and ``train(cfg)`` to the loader, a curated sample, the real-video
readers, ``data_curation`` builds, the pipeline, its validation rollout and the behaviour of a
``WorldMemory``. A probe passes when the observation changes. A field without a probe fails
``test_every_field_has_a_probe``; a field whose perturbation changes nothing fails its probe. Observers are
checked to be deterministic, so a change is the field's doing.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.data import fixtures
from train.config import TrainConfig, curation_config, load_config, memory_config
from worldmem.data.config import SYNTHETIC_PATH_KINDS

ROOT = Path(__file__).resolve().parents[1]
SEED = 3  # the synthetic scene of curated-sample probes

BASE = [
    "output_dir={tmp}/run", "optim.steps=2", "optim.batch_size=1", "optim.warmup_steps=1", "checkpoint_every=1",
    "validate_every=1000", "log_every=1", "generation.num_inference_steps=1", "generation.chunk_size=2",
    "model.base_config.num_layers=1", "model.base_config.num_attention_heads=1", "model.base_config.attention_head_dim=16",
    "model.base_config.time_embed_dim=16", "model.base_config.sample_height=16", "model.base_config.sample_width=16",
    "model.num_control_layers=1", "model.keyframe_every=1",
    "data.curation.image_size=[16, 16]", "data.curation.target_frames=2", "data.curation.max_keyframes=2",
    "data.curation.voxel_size=0.08", "data.curation.synthetic_frames=14", "data.curation.source_frames=12",
    "data.curation.min_source_frames=4", "data.curation.revisit_min_gap=4", "data.curation.samples_per_clip=1",
    "data.curation.synthetic_supersample=1", "data.curation.clips_per_shard=1",
]
MEMORY = ["generation.memory_config={{}}"]  # an explicit memory (the defaults), so that only the probed field differs
GM = "generation.memory_config."


def _memory(override: str) -> tuple[str, list[str], list[str]]:
    """The probe of a memory field: ``generation.memory_config.<override>`` on the explicit default memory."""
    return "memory", [GM + override], MEMORY


TEXT = ["model.base_config.max_text_seq_length=4"]  # a model that takes text (width 16, as the tiny T5 of ctx)

# key: (observer, perturbation, context). Values may name {tmp}, {cogvideox}, {shards_a}, {shards_b}.
PROBES: dict[str, tuple[str, list[str], list[str]]] = {
    "output_dir": ("train_path", ["output_dir={tmp}/elsewhere"], []),
    "seed": ("train", ["seed=1"], []),
    "generation.num_inference_steps": ("rollout", ["generation.num_inference_steps=2"], []),
    "generation.guidance_scale": ("pipeline", ["generation.guidance_scale=2"], []),
    "generation.text_guidance_scale": ("pipeline", ["generation.text_guidance_scale=2"], []),
    "generation.render_anchor": ("pipeline", ["generation.render_anchor=0.5"], []),
    "generation.write_gate.rgb_tolerance": ("pipeline", ["generation.write_gate.rgb_tolerance=0.5"], []),
    "generation.write_gate.depth_tolerance": ("pipeline", ["generation.write_gate.depth_tolerance=0.5"], []),
    "generation.write_gate.max_depth": ("pipeline", ["generation.write_gate.max_depth=6"], []),
    "generation.write_gate.margin": ("pipeline", ["generation.write_gate.margin=1"], []),
    "checkpoint_every": ("train", ["checkpoint_every=2"], []),
    "keep_checkpoints": ("train", ["keep_checkpoints=1"], []),
    "validate_every": ("train", ["validate_every=2"], []),
    "validation_seed": ("rollout", ["validation_seed=1000001"], []),
    "log_every": ("train", ["log_every=2"], []),
    "model.base_config": ("model", ["model.base_config.num_layers=2"], []),
    "model.pretrained": ("model", ["model.pretrained={cogvideox}"], []),
    "model.codec": ("model", ["model.codec=vae"], ["model.pretrained={cogvideox}"]),
    "model.spatial_mode": ("model", ["model.spatial_mode=controlnet"], []),
    # The family's own tiny base (an empty base_config) for the probes that change the family or its size.
    "model.backbone": ("model", ["model.backbone=wan"], ["model.base_config={{}}"]),
    "model.sample_size": ("model", ["model.sample_size=[8, 8]"], ["model.base_config={{}}", "model.backbone=wan"]),
    "model.control_placement": ("model", ["model.control_placement=spread"],
                                ["model.spatial_mode=controlnet", "model.base_config.num_layers=4",
                                 "model.num_control_layers=2"]),
    "model.published": ("budget", ["model.published=wan2.1-t2v-1.3b"], ["model.base_config={{}}"]),
    "model.num_control_layers": ("model", ["model.num_control_layers=0"], ["model.spatial_mode=controlnet"]),
    "model.keyframe_every": ("model", ["model.keyframe_every=0"], []),
    "model.use_camera": ("model", ["model.use_camera=false"], []),
    "model.train_new_modules_only": ("model", ["model.train_new_modules_only=true"], []),
    "model.gradient_checkpointing": ("model", ["model.gradient_checkpointing=true"], []),
    "model.init_from": ("model", ["model.init_from={init_pipe}"], []),
    "model.text_encoder": ("train", ["model.text_encoder={text_encoder}"], TEXT),
    "generation.write_gate.mode": ("pipeline", ["generation.write_gate.mode=new"], []),
    "chained.fraction": ("train", ["chained.fraction=1"], []),
    "chained.max_chunks": ("train", ["chained.max_chunks=2"], ["chained.fraction=1"]),
    "chained.steps": ("train", ["chained.steps=2"], ["chained.fraction=1"]),
    "data.source": ("loader", ["data.source=shards"], ["data.shards={shards_a}"]),
    "data.shards": ("loader", ["data.shards={shards_b}"], ["data.source=shards", "data.shards={shards_a}"]),
    "generation.chunk_size": ("pipeline", ["generation.chunk_size=1"], []),
    "generation.working_window": ("pipeline", ["generation.working_window=1"], []),
    "data.num_workers": ("loader", ["data.num_workers=1"], []),
    "data.curation.image_size": ("sample", ["data.curation.image_size=[16, 24]"], []),
    "data.curation.frame_stride": ("reader", ["data.curation.frame_stride=2"], []),
    "data.curation.max_clip_frames": ("reader", ["data.curation.max_clip_frames=6"], []),
    "data.curation.source_frames": ("sample", ["data.curation.source_frames=4"], []),
    # Evenly spaced chunks: the only one is the first possible (the best revisit is this seed's last chunk).
    "data.curation.min_source_frames": ("sample", ["data.curation.min_source_frames=10"],
                                        ["data.curation.revisit_windows=false"]),
    "data.curation.target_frames": ("sample", ["data.curation.target_frames=3"], []),
    "data.curation.working_frames": ("sample", ["data.curation.working_frames=3"], []),
    "data.curation.max_keyframes": ("sample", ["data.curation.max_keyframes=1"], []),
    "data.curation.keyframe_pool": ("sample", ["data.curation.keyframe_pool=1"], []),
    "data.curation.keyframe_min_overlap": ("sample", ["data.curation.keyframe_min_overlap=0.5"], []),
    "data.curation.voxel_size": ("sample", ["data.curation.voxel_size=0.2"], []),
    "data.curation.visibility_voxel_size": ("sample", ["data.curation.visibility_voxel_size=0.5"], []),
    "data.curation.render_supersample": ("sample", ["data.curation.render_supersample=2"], []),
    "data.curation.samples_per_clip": ("curate", ["data.curation.samples_per_clip=2"], []),
    "data.curation.revisit_windows": ("sample", ["data.curation.revisit_windows=false"], []),
    "data.curation.revisit_min_gap": ("sample", ["data.curation.revisit_min_gap=1"], []),
    "data.curation.revisit_min_overlap": ("sample", ["data.curation.revisit_min_overlap=0"], []),
    "data.curation.synthetic_frames": ("sample", ["data.curation.synthetic_frames=20"], []),
    # The kinds in reverse order: the kind a seed draws (by index) is always another one.
    "data.curation.synthetic_paths": ("sample", [f"data.curation.synthetic_paths=[{', '.join(SYNTHETIC_PATH_KINDS[::-1])}]"],
                                      []),
    "data.curation.synthetic_dynamic_fraction": ("sample", ["data.curation.synthetic_dynamic_fraction=1"], []),
    "data.curation.synthetic_fov_deg": ("sample", ["data.curation.synthetic_fov_deg=[40, 50]"], []),
    "data.curation.synthetic_supersample": ("sample", ["data.curation.synthetic_supersample=3"], []),
    "data.curation.clips_per_shard": ("curate", ["data.curation.clips_per_shard=2"], []),
    "optim.steps": ("train", ["optim.steps=3"], []),
    "optim.batch_size": ("train", ["optim.batch_size=2"], []),
    "optim.grad_accum": ("train", ["optim.grad_accum=2"], []),
    "optim.lr": ("train", ["optim.lr=1e-2"], []),
    "optim.weight_decay": ("train", ["optim.weight_decay=0.5"], []),
    "optim.warmup_steps": ("train", ["optim.warmup_steps=0"], []),
    "optim.lr_schedule": ("train", ["optim.lr_schedule=constant"], []),
    "optim.grad_clip": ("train", ["optim.grad_clip=1e-3"], []),
    "optim.ema_decay": ("train", ["optim.ema_decay=0.1"], []),
    "optim.mixed_precision": ("train", ["optim.mixed_precision=bf16"], []),
    "optim.working_noise": ("train", ["optim.working_noise=0.5"], []),
    "dropout.spatial": ("train", ["dropout.spatial=1"], []),
    "dropout.episodic": ("train", ["dropout.episodic=1"], []),
    "dropout.working": ("train", ["dropout.working=1"], []),
    "dropout.camera": ("train", ["dropout.camera=1"], []),
    "dropout.text": ("train", ["dropout.text=1"], TEXT + ["model.text_encoder={text_encoder}", "data.source=shards",
                                                          "data.shards={shards_text}"]),
    GM + "spatial.voxel_size": _memory("spatial.voxel_size=0.1"),
    GM + "spatial.trunc_voxels": _memory("spatial.trunc_voxels=1"),
    GM + "spatial.max_weight": _memory("spatial.max_weight=1"),
    GM + "spatial.carve": _memory("spatial.carve=false"),
    GM + "spatial.carve_weight": _memory("spatial.carve_weight=8"),
    GM + "spatial.min_weight": _memory("spatial.min_weight=4"),
    GM + "spatial.splat_radius": _memory("spatial.splat_radius=2"),
    GM + "spatial.max_splat_px": _memory("spatial.max_splat_px=1"),
    GM + "spatial.depth_max": _memory("spatial.depth_max=0.8"),
    GM + "spatial.render_supersample": _memory("spatial.render_supersample=2"),
    GM + "spatial.max_voxels": _memory("spatial.max_voxels=200"),
    GM + "spatial.sky_resolution": _memory("spatial.sky_resolution=16"),
    GM + "working.window": _memory("working.window=2"),
    GM + "episodic.keyframe_pool": _memory("episodic.keyframe_pool=1"),
    GM + "episodic.num_retrieved": _memory("episodic.num_retrieved=1"),
    GM + "episodic.novelty_threshold": _memory("episodic.novelty_threshold=0.95"),
    GM + "episodic.min_overlap": _memory("episodic.min_overlap=0.6"),
    GM + "episodic.visibility_voxel_size": _memory("episodic.visibility_voxel_size=0.6"),
    GM + "episodic.pixel_stride": _memory("episodic.pixel_stride=8"),
}


def leaf_fields(cls, prefix: str = "") -> list[str]:
    """Dotted names of the leaf fields of dataclass ``cls``, recursing into nested (and Optional) dataclasses."""
    hints, out = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        options = typing.get_args(hints[f.name]) or (hints[f.name],)
        sub = next((t for t in options if dataclasses.is_dataclass(t)), None)
        out += leaf_fields(sub, key + ".") if sub is not None else [key]
    return out


def leaf_values(cfg, keys) -> dict:
    def get(obj, key):
        for part in key.split("."):
            obj = None if obj is None else getattr(obj, part)
        return obj
    return {k: get(cfg, k) for k in keys}


def fingerprint(obj):
    """A comparable, exact summary of nested dataclasses, mappings, sequences and tensors."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().double()
        return tuple(obj.shape), repr(float(t.sum())), repr(float((t * t).sum()))
    if dataclasses.is_dataclass(obj):
        return type(obj).__name__, tuple((f.name, fingerprint(getattr(obj, f.name))) for f in dataclasses.fields(obj))
    if isinstance(obj, dict):
        return tuple(sorted((str(k), fingerprint(v)) for k, v in obj.items()))
    if isinstance(obj, list | tuple):
        return tuple(fingerprint(v) for v in obj)
    return repr(obj)


# ------------------------------------------------------------------------------------------------ observers

def _model(cfg):
    from train.loop import build_model

    torch.manual_seed(0)
    return build_model(cfg)


def observe_model(cfg, ctx):
    model, codec = _model(cfg)
    params = list(model.parameters())
    return (fingerprint(dict(model.config)), sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad),
            model.is_gradient_checkpointing, type(codec).__name__, fingerprint(model.state_dict()))


def observe_budget(cfg, ctx):
    from train.budget import resolve_base_config

    return fingerprint(resolve_base_config(cfg))


def observe_pipeline(cfg, ctx):
    from train.loop import _pipeline

    pipe = _pipeline(*_model(cfg), cfg, None)
    return fingerprint(pipe.generation)


def observe_rollout(cfg, ctx):
    from train.loop import _pipeline
    from train.validate import validation_rollout

    return validation_rollout(_pipeline(*_model(cfg), cfg, None), cfg, None, num_frames=4)


def observe_loader(cfg, ctx):
    from train.data import make_loader

    loader = make_loader(cfg, 0, 1, 0, curation_config(cfg) if cfg.data.source == "synthetic" else None)
    dl = getattr(loader, "loader", loader)
    return type(dl.dataset).__name__, dl.num_workers, dl.batch_size, fingerprint(next(iter(loader)))


def observe_sample(cfg, ctx):
    from worldmem.data import make_synthetic_sample

    return fingerprint(make_synthetic_sample(SEED, cfg.data.curation))


def observe_reader(cfg, ctx):
    from worldmem.data import READERS

    reader = READERS["megasam"]
    clip = reader.load_clip(reader.list_clips(str(ctx["megasam"]))[0], cfg.data.curation)
    return fingerprint((clip.frames, clip.times))


def observe_curate(cfg, ctx):
    from data_curation.build import run_build

    ctx["runs"] += 1
    res = run_build(["synthetic:2"], ctx["tmp"] / f"curated{ctx['runs']}", cfg.data.curation, progress=False)
    return res.summary["shards"], res.samples


def observe_memory(cfg, ctx):
    """A walk written frame by frame into a WorldMemory built from the saved pipeline's memory config, then its
    start again with the world moved back (so that carving has something to remove), read back. A courtyard, so
    that the sky (unknown depth) is seen too."""
    from worldmem.memory import WorldMemory

    frames, depth, cams = fixtures.rendered(10, 24, 24, seed=2)
    memory = WorldMemory(memory_config(cfg))
    for i in range(6):
        memory.write(frames[i:i + 1], depth[i:i + 1], cams[i:i + 1])
    memory.write(frames[:2], depth[:2] * 1.5, cams[:2])
    return fingerprint(memory.read(cams[6:])), repr(memory)


def _train(cfg, ctx):
    from accelerate.state import AcceleratorState

    from train.loop import train

    ctx["logs"].clear()
    AcceleratorState._reset_state(reset_partial_state=True)  # mixed precision is fixed once per process
    try:
        final = train(cfg, quiet=True)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    out = Path(cfg.output_dir)
    weights = load_file(str(final / "transformer" / "diffusion_pytorch_model.safetensors")) if final.is_dir() else None
    index = json.loads((final / "model_index.json").read_text()) if final.is_dir() else None
    return final, (list(ctx["logs"]), sorted(p.name for p in (out / "checkpoints").glob("step_*")),
                   sorted(p.name for p in (out / "validation").glob("*")), fingerprint(weights), fingerprint(index))


def observe_train(cfg, ctx):
    ctx["runs"] += 1  # a fresh output folder for every run, so that only the field under test differs
    return _train(dataclasses.replace(cfg, output_dir=str(ctx["tmp"] / f"train{ctx['runs']}")), ctx)[1]


def observe_train_path(cfg, ctx):
    final, _ = _train(cfg, ctx)
    return str(final.relative_to(ctx["tmp"])), final.is_dir()


OBSERVERS = {name[len("observe_"):]: fn for name, fn in globals().items() if name.startswith("observe_")}


# ------------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """Shared inputs: two tiny shard folders, a tiny local CogVideoX folder, a MegaSaM clip; observation cache."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel

    from data_curation.build import run_build

    tmp = tmp_path_factory.mktemp("fields")
    base = load_config(ROOT / "configs" / "tiny.yaml", [o.format(tmp=tmp) for o in BASE])
    for name, source in (("shards_a", "synthetic:1"), ("shards_b", "synthetic:1+1")):
        run_build([source], tmp / name, base.data.curation, progress=False)
    from tests.models.tiny_text import save_tiny_text_encoder
    from worldmem.data.readers.synthetic import clip_id_of

    save_tiny_text_encoder(tmp / "text_encoder", d_model=16)
    (tmp / "captions.json").write_text(json.dumps({clip_id_of(0): "a red room with a chair"}))
    run_build(["synthetic:1"], tmp / "shards_text", base.data.curation, progress=False, captions=tmp / "captions.json")
    torch.manual_seed(0)
    CogVideoXTransformer3DModel(num_attention_heads=1, attention_head_dim=16, in_channels=8, out_channels=4,
                                time_embed_dim=16, text_embed_dim=8, num_layers=1, sample_width=16, sample_height=16,
                                sample_frames=9, patch_size=4, max_text_seq_length=0,
                                use_rotary_positional_embeddings=True).save_pretrained(tmp / "cogvideox" / "transformer")
    AutoencoderKLCogVideoX(down_block_types=("CogVideoXDownBlock3D",) * 2, up_block_types=("CogVideoXUpBlock3D",) * 2,
                           block_out_channels=(8, 8), latent_channels=4, layers_per_block=1,
                           norm_num_groups=2).save_pretrained(tmp / "cogvideox" / "vae")
    frames, depth, cams = fixtures.rendered(10, 16, 16)
    fixtures.write_megasam(tmp / "megasam" / "clip.npz", frames, depth, cams)
    from train.loop import _pipeline, build_model

    torch.manual_seed(1)  # other weights than the probes' own initialisation (seed 0)
    _pipeline(*build_model(base), base, None).save_pretrained(tmp / "init_pipe")
    paths = {name: tmp / name for name in ("shards_a", "shards_b", "cogvideox", "megasam", "init_pipe", "text_encoder",
                                           "shards_text")}
    return {"tmp": tmp, **paths, "runs": 0, "logs": [], "seen": {}}


@pytest.fixture(autouse=True)
def record_logs(ctx, monkeypatch):
    """Records what ``train`` logs (loss, lr, grad norm per step; not the timing); runs on one torch thread
    (tiny tensors: threads cost more than they give on a busy machine)."""
    from accelerate import Accelerator

    from worldmem.data.builder import single_thread

    def log(self, values, step=None, **kwargs):
        ctx["logs"].append((step, {k: repr(float(v)) for k, v in sorted(values.items()) if k != "samples_per_s"}))

    monkeypatch.setattr(Accelerator, "log", log)
    with single_thread():
        yield


def configure(ctx, overrides: list[str]) -> TrainConfig:
    return load_config(ROOT / "configs" / "tiny.yaml", [o.format(**ctx) for o in BASE + overrides])


def observe(ctx, observer: str, overrides: list[str]):
    return OBSERVERS[observer](configure(ctx, overrides), ctx)


# ------------------------------------------------------------------------------------------------ tests

def test_every_field_has_a_probe():
    fields = leaf_fields(TrainConfig)
    assert len(fields) == len(set(fields)) > 60
    assert sorted(set(fields) - set(PROBES)) == [], "fields without a probe"
    assert sorted(set(PROBES) - set(fields)) == [], "probes of fields that do not exist"
    assert set(observer for observer, _, _ in PROBES.values()) == set(OBSERVERS)


@pytest.mark.parametrize("key", sorted(PROBES))
def test_every_field_has_an_effect(ctx, key):
    observer, change, context = PROBES[key]
    base, perturbed = configure(ctx, context), configure(ctx, context + change)
    before, after = leaf_values(base, PROBES), leaf_values(perturbed, PROBES)
    assert [k for k in PROBES if before[k] != after[k]] == [key], "the perturbation must change this field only"
    seen = ctx["seen"]
    if (observer, tuple(context)) not in seen:
        first = observe(ctx, observer, context)
        assert observe(ctx, observer, context) == first, f"observer {observer} is not deterministic"
        seen[observer, tuple(context)] = first
    assert observe(ctx, observer, context + change) != seen[observer, tuple(context)], \
        f"{key}: {change} changed nothing that {observer} observes"
