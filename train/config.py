"""Typed training configuration: dataclasses loaded from YAML, unknown keys and wrong types are errors.

``load_config(path, overrides)`` reads a YAML file (``yaml.safe_load``) into :class:`TrainConfig` and applies
``section.key=value`` overrides (values parsed as YAML scalars). Every value lives in exactly one place.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["TrainConfig", "ModelConfig", "DataConfig", "OptimConfig", "ConditionDropout", "load_config",
           "ConfigError"]


class ConfigError(ValueError):
    """A bad configuration: the message names the key and what was expected."""


@dataclass
class ModelConfig:
    """The transformer (and codec) to train."""

    base_config: dict = field(default_factory=dict)
    """Keyword arguments of the main-stream CogVideoX transformer; empty = the tiny CPU model."""
    pretrained: str = ""
    """A local CogVideoX(-I2V) pipeline or transformer folder to start from (empty: random init)."""
    codec: str = "pixel"
    """"pixel" (RGB-D in pixel space) or "vae" (the VAE of ``pretrained``)."""
    latent_channels: int = 4
    """Channels of the codec's latents (4 for RGB-D pixels, 16 for CogVideoX's VAE)."""
    spatial_mode: str = "concat"
    """How the spatial render enters: controlnet, concat, both, none."""
    num_control_layers: int = 2
    """Blocks copied into the ControlNet branch."""
    keyframe_every: int = 2
    """A keyframe cross-attention layer after every this many blocks (0: none)."""
    use_camera: bool = True
    """Plücker camera embedding."""
    train_new_modules_only: bool = False
    """Freeze the base model's weights and train only the memory paths (as the paper fine-tunes)."""
    gradient_checkpointing: bool = False
    """Recompute block activations in the backward pass to save memory."""


@dataclass
class DataConfig:
    """Where training samples come from."""

    source: str = "synthetic"
    """"synthetic" (generated on the fly from the procedural world) or "shards" (curated, see ``shards``)."""
    shards: str = ""
    """Folder written by ``python -m data_curation build`` (for source "shards")."""
    curation_config: str = ""
    """Curation YAML for on-the-fly synthetic samples (empty: the curation defaults)."""
    chunk_frames: int = 4
    """Frames generated per sample (must equal the data's target length)."""
    working_frames: int = 2
    """Working-window frames per sample (must equal the data's)."""
    num_workers: int = 0
    """DataLoader workers."""
    shuffle_buffer: int = 64
    """Samples held for shuffling when reading shards."""


@dataclass
class ConditionDropout:
    """Probability that a whole batch trains with a memory path switched off (for guidance and ablations)."""

    spatial: float = 0.1
    episodic: float = 0.1
    working: float = 0.05
    camera: float = 0.0
    text: float = 0.1


@dataclass
class OptimConfig:
    """Optimiser, schedule and precision."""

    steps: int = 1000
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    lr_schedule: str = "cosine"
    """Any diffusers ``get_scheduler`` name (constant, linear, cosine, ...)."""
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    """0 disables EMA weights."""
    mixed_precision: str = "no"
    """no, fp16 or bf16 (only where the hardware has it)."""
    working_noise: float = 0.05
    """Max std of the noise added to working-frame latents (against drift at rollout time)."""


@dataclass
class TrainConfig:
    """A training run."""

    output_dir: str = "outputs/train"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    dropout: ConditionDropout = field(default_factory=ConditionDropout)
    memory: dict = field(default_factory=dict)
    """The pipeline's MemoryConfig (as a dict) for validation and the saved model."""
    num_inference_steps: int = 8
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    validate_every: int = 500
    validation_seed: int = 1_000_000
    """Held-out synthetic scene for the validation rollout (outside the training seed range)."""
    log_every: int = 10


class _Raw(str):
    """A command-line override value, parsed according to the type of the field it sets."""


def _check_type(value, hint, where: str):
    if isinstance(value, _Raw):
        # A string field takes the text as is ("no" stays "no"); other fields parse it as a YAML scalar.
        value = str(value) if hint is str else yaml.safe_load(value)
    origin = typing.get_origin(hint)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _check_type(value, option, where)
            except ConfigError:
                pass
        raise ConfigError(f"{where}: expected {hint}, got {value!r}")
    if hint is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null, got {value!r}")
    base = origin or hint
    if base is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if base is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if not isinstance(value, base):
        raise ConfigError(f"{where}: expected {getattr(base, '__name__', base)}, got {value!r}")
    return value


def _parse_raw(value):
    """Overrides inside free-form dicts (e.g. model.base_config.num_layers=2) are parsed as YAML scalars."""
    if isinstance(value, dict):
        return {k: _parse_raw(v) for k, v in value.items()}
    return yaml.safe_load(value) if isinstance(value, _Raw) else value


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where + '.' if where else ''}{unknown[0]}: unknown key (valid: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, key)
        elif hint is dict or typing.get_origin(hint) is dict:
            kwargs[name] = _check_type(_parse_raw(value), hint, key)
        else:
            kwargs[name] = _check_type(value, hint, key)
    return cls(**kwargs)


def _apply_override(data: dict, item: str) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key=value (e.g. optim.lr=1e-4)")
    key, raw = item.split("=", 1)
    value = _Raw(raw)
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {item!r}: {part} is not a section")
    node[parts[-1]] = value


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Loads a YAML config (or the defaults when ``path`` is None) and applies ``key=value`` overrides."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config: no such file {path}")
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"config: expected a YAML mapping in {path}")
    for item in overrides:
        _apply_override(data, item)
    cfg = _build(TrainConfig, data, "")
    validate(cfg)
    return cfg


def curation_config(cfg: TrainConfig):
    """The curation config of on-the-fly synthetic samples (the file named by ``data.curation_config``)."""
    from worldmem.data.config import load_curation_config

    try:
        return load_curation_config(cfg.data.curation_config or None)
    except ValueError as err:
        raise ConfigError(f"data.curation_config: {err}") from err


def memory_config(cfg: TrainConfig) -> dict:
    """The pipeline's memory config: ``memory`` when set, else the one the training samples were made with."""
    from worldmem.memory import MemoryConfig

    if cfg.memory:
        try:
            return MemoryConfig.from_dict(cfg.memory).to_dict()
        except ValueError as err:
            raise ConfigError(f"memory: {err}") from err
    return curation_config(cfg).memory_config().to_dict()


def validate(cfg: TrainConfig) -> None:
    """Checks values that types alone do not catch; raises :class:`ConfigError` naming the key."""
    from worldmem.models.transformer import SPATIAL_MODES

    if cfg.model.spatial_mode not in SPATIAL_MODES:
        raise ConfigError(f"model.spatial_mode: expected one of {', '.join(SPATIAL_MODES)}, got {cfg.model.spatial_mode!r}")
    if cfg.model.codec not in ("pixel", "vae"):
        raise ConfigError(f"model.codec: expected pixel or vae, got {cfg.model.codec!r}")
    if cfg.model.codec == "vae" and not cfg.model.pretrained:
        raise ConfigError("model.pretrained: codec 'vae' needs a local CogVideoX folder with vae/")
    if cfg.model.pretrained and not Path(cfg.model.pretrained).exists():
        raise ConfigError(f"model.pretrained: no such folder {cfg.model.pretrained}")
    if cfg.data.source not in ("synthetic", "shards"):
        raise ConfigError(f"data.source: expected synthetic or shards, got {cfg.data.source!r}")
    if cfg.data.source == "shards":
        if not cfg.data.shards:
            raise ConfigError("data.shards: expected the folder of curated shards for source 'shards'")
        from worldmem.data.shards import complete_shards

        if not Path(cfg.data.shards).is_dir() or not complete_shards(cfg.data.shards):
            raise ConfigError(f"data.shards: no complete shards in {cfg.data.shards} (run python -m data_curation build)")
    if cfg.data.curation_config and not Path(cfg.data.curation_config).is_file():
        raise ConfigError(f"data.curation_config: no such file {cfg.data.curation_config}")
    if cfg.data.source == "synthetic":
        curation = curation_config(cfg)
        if cfg.data.chunk_frames > curation.target_frames or cfg.data.working_frames > curation.working_frames:
            raise ConfigError(f"data.chunk_frames/working_frames: expected at most the data's {curation.target_frames} "
                              f"target and {curation.working_frames} working frames, got {cfg.data.chunk_frames} and "
                              f"{cfg.data.working_frames}")
    for name in ("chunk_frames", "working_frames"):
        if getattr(cfg.data, name) < (1 if name == "chunk_frames" else 0):
            raise ConfigError(f"data.{name}: expected a positive count, got {getattr(cfg.data, name)}")
    o = cfg.optim
    if o.steps < 1 or o.batch_size < 1 or o.grad_accum < 1:
        raise ConfigError("optim.steps, optim.batch_size, optim.grad_accum: expected >= 1")
    if o.lr <= 0:
        raise ConfigError(f"optim.lr: expected > 0, got {o.lr}")
    if o.mixed_precision not in ("no", "fp16", "bf16"):
        raise ConfigError(f"optim.mixed_precision: expected no, fp16 or bf16, got {o.mixed_precision!r}")
    if not 0 <= o.ema_decay < 1:
        raise ConfigError(f"optim.ema_decay: expected 0 <= decay < 1, got {o.ema_decay}")
    for name in ("spatial", "episodic", "working", "camera", "text"):
        p = getattr(cfg.dropout, name)
        if not 0 <= p <= 1:
            raise ConfigError(f"dropout.{name}: expected a probability in [0, 1], got {p}")
    if cfg.checkpoint_every < 1 or cfg.validate_every < 1 or cfg.log_every < 1:
        raise ConfigError("checkpoint_every, validate_every, log_every: expected >= 1")
