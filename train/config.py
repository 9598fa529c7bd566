"""Typed training configuration: the root of the one config tree (model, data + curation, optim, memory).

``load_config(path, overrides)`` reads a YAML file into :class:`TrainConfig` through
:mod:`worldmem.utils.config` (dacite, strict) and applies ``section.key=value`` overrides. Unknown keys, wrong
types, choices outside their ``Literal`` and out-of-range values are one-line :class:`ConfigError` s:
``"{file}: {dotted.key}: expected {what}, got {value!r}"``. Every value lives in exactly one place: the
curation of on-the-fly samples is ``data.curation`` (a mapping or the path of a curation YAML), and the
saved pipeline's generation settings are ``generation`` (:class:`~worldmem.pipelines.GenerationConfig`: chunk,
working window, steps, guidance, write gate, render anchor; its ``memory_config`` null: the memory the training
samples were curated with).
See docs/configs.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from worldmem.data.config import CurationConfig
from worldmem.pipelines.generation_config import GenerationConfig
from worldmem.utils.config import ConfigError, check, load, require

__all__ = ["TrainConfig", "ModelConfig", "DataConfig", "OptimConfig", "ConditionDropout", "ChainedConfig", "load_config",
           "ConfigError", "curation_config", "memory_config", "generation_config", "SpatialMode", "LrSchedule"]

SpatialMode = Literal["controlnet", "concat", "both", "none"]
"""How the spatial render enters the model (``worldmem.models.SPATIAL_MODES``)."""
LrSchedule = Literal["constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial"]
"""The diffusers ``get_scheduler`` names that need no arguments beyond warm-up and total steps."""


@dataclass
class ModelConfig:
    """The transformer (and codec) to train."""

    backbone: Literal["cogvideox", "wan"] = "cogvideox"
    """The base family (``worldmem.models.backbones``): CogVideoX or Wan (Wan2.1-T2V-1.3B, Wan2.2-TI2V-5B)."""
    base_config: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the main-stream base transformer; empty = the family's tiny CPU model."""
    pretrained: str = ""
    """A local diffusers pipeline or transformer folder of the backbone's family to start from (empty: random
    init)."""
    published: str = ""
    """The published configuration this config is written for (``configs/models/NAME-transformer.json``,
    ``NAME-vae.json``): what ``python -m train budget`` counts while ``pretrained`` is not on disk. Empty:
    CogVideoX-5B-I2V for codec "vae"."""
    codec: Literal["pixel", "vae"] = "pixel"
    """"pixel" (RGB-D in pixel space) or "vae" (the VAE of ``pretrained``)."""
    spatial_mode: SpatialMode = "concat"
    """How the spatial render enters: controlnet, concat, both, none."""
    num_control_layers: int = 2
    """Blocks copied into the control branch (spatial_mode controlnet or both)."""
    control_placement: Literal["first", "spread"] = "first"
    """Where the control outputs enter: after the first blocks (ControlNet) or after blocks spread over the
    depth (VACE)."""
    sample_size: list[int] = field(default_factory=list)
    """Latent [height, width] of the frames for a base whose config has no size (Wan); empty: the family's
    default (Wan2.1 480x832, Wan2.2 704x1280; 32x32 for the tiny pixel model)."""
    keyframe_every: int = 2
    """A keyframe cross-attention layer after every this many blocks (0: none)."""
    use_camera: bool = True
    """Plücker camera embedding."""
    train_new_modules_only: bool = False
    """Freeze the base model's weights and train only the memory paths (as the paper fine-tunes)."""
    gradient_checkpointing: bool = False
    """Recompute block activations in the backward pass to save memory."""
    init_from: str = ""
    """A saved WorldMemPipeline folder whose transformer weights initialise the model (fine-tuning); the
    architecture above must match it."""
    text_encoder: str = ""
    """A local folder with ``text_encoder/`` (T5) and ``tokenizer/`` (e.g. the CogVideoX pipeline folder): the
    model trains on the samples' captions (docs/prompts.md) and the saved pipeline includes it. Empty: no text
    tokens (the tiny model)."""

    def __post_init__(self) -> None:
        require(self, ">= 0", "num_control_layers", "keyframe_every")
        check(self.codec != "vae" or bool(self.pretrained), "pretrained",
              "a local CogVideoX or Wan folder with vae/ for codec 'vae'", self.pretrained)
        check(len(self.sample_size) in (0, 2) and all(isinstance(v, int) and v > 0 for v in self.sample_size),
              "sample_size", "[] or [height, width], positive integers", self.sample_size)


@dataclass
class DataConfig:
    """Where training samples come from."""

    source: Literal["synthetic", "shards"] = "synthetic"
    """"synthetic" (generated on the fly from the procedural world) or "shards" (curated, see ``shards``)."""
    shards: str = ""
    """Folder written by ``python -m data_curation build`` (for source "shards")."""
    curation: CurationConfig = field(default_factory=CurationConfig)
    """How on-the-fly synthetic samples are curated (a mapping or the path of a curation YAML); its memory
    settings are also the saved pipeline's unless ``generation.memory_config`` is set."""
    num_workers: int = 0
    """DataLoader workers."""

    def __post_init__(self) -> None:
        require(self, ">= 0", "num_workers")
        check(self.source != "shards" or bool(self.shards), "shards",
              "the folder of curated shards for source 'shards'", self.shards)


@dataclass
class ConditionDropout:
    """Probability that a whole batch trains with a memory path switched off (for guidance and ablations)."""

    spatial: float = 0.1
    episodic: float = 0.1
    working: float = 0.05
    camera: float = 0.0
    text: float = 0.1
    """The batch's text is the empty prompt's embedding instead of its captions (with ``model.text_encoder``),
    which is the unconditional branch of text guidance."""

    def __post_init__(self) -> None:
        require(self, "in [0, 1]", "spatial", "episodic", "working", "camera", "text")


@dataclass
class OptimConfig:
    """Optimiser, schedule and precision."""

    steps: int = 1000
    batch_size: int = 4
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    lr_schedule: LrSchedule = "cosine"
    """A diffusers ``get_scheduler`` name (constant ignores ``warmup_steps``)."""
    grad_clip: float = 1.0
    """Max gradient norm."""
    ema_decay: float = 0.999
    """0 disables EMA weights."""
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    """no, fp16 or bf16 (only where the hardware has it)."""
    working_noise: float = 0.05
    """Max std of the noise added to working-frame latents (against drift at rollout time)."""

    def __post_init__(self) -> None:
        require(self, ">= 1", "steps", "batch_size", "grad_accum")
        require(self, "> 0", "lr", "grad_clip")
        require(self, ">= 0", "weight_decay", "warmup_steps", "working_noise")
        require(self, "in [0, 1)", "ema_decay")


@dataclass
class ChainedConfig:
    """Chained forward training (train/chained.py): samples whose context the current model generated."""

    fraction: float = 0.0
    """Fraction of each batch that is chained (0: none, the ground-truth context only)."""
    max_chunks: int = 1
    """A chained sample generates 1 .. max_chunks chunks (drawn per sample) in front of its target."""
    steps: int = 4
    """Denoising steps of those rollouts."""

    def __post_init__(self) -> None:
        require(self, "in [0, 1]", "fraction")
        require(self, ">= 1", "max_chunks", "steps")


@dataclass
class TrainConfig:
    """A training run."""

    output_dir: str = "outputs/train"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    dropout: ConditionDropout = field(default_factory=ConditionDropout)
    chained: ChainedConfig = field(default_factory=ChainedConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    """The saved pipeline's generation settings, also those of the validation rollout and of chained rollouts
    (``chunk_size``: frames generated per sample, at most ``data.curation.target_frames``; ``working_window``: at
    most ``data.curation.working_frames``; ``memory_config`` null: ``data.curation``'s memory)."""
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    validate_every: int = 500
    validation_seed: int = 1_000_000
    """Held-out synthetic scene for the validation rollout (outside the training seed range)."""
    log_every: int = 10

    def __post_init__(self) -> None:
        require(self, ">= 0", "seed", "validation_seed")
        require(self, ">= 1", "checkpoint_every", "keep_checkpoints", "validate_every", "log_every")
        if self.data.source == "synthetic":
            c, g = self.data.curation, self.generation
            check(g.chunk_size <= c.target_frames, "generation.chunk_size",
                  f"at most the data's target frames (data.curation.target_frames = {c.target_frames})", g.chunk_size)
            check(g.working_window <= c.working_frames, "generation.working_window",
                  f"at most the data's working frames (data.curation.working_frames = {c.working_frames})",
                  g.working_window)


def _check_files(cfg: TrainConfig) -> None:
    """The folders the config names exist (checked at load, not in ``__post_init__``: they are not ranges)."""
    if cfg.model.pretrained:
        check(Path(cfg.model.pretrained).exists(), "model.pretrained", "an existing local folder",
              cfg.model.pretrained)
    if cfg.model.text_encoder:
        check((Path(cfg.model.text_encoder) / "text_encoder").is_dir(), "model.text_encoder",
              "a local folder with text_encoder/ and tokenizer/", cfg.model.text_encoder)
    if cfg.model.init_from:
        check((Path(cfg.model.init_from) / "transformer").is_dir(), "model.init_from",
              "a saved WorldMemPipeline folder (with transformer/)", cfg.model.init_from)

    if cfg.data.source == "shards":
        from worldmem.data.shards import complete_shards

        ok = Path(cfg.data.shards).is_dir() and bool(complete_shards(cfg.data.shards))
        check(ok, "data.shards", "a folder with complete shards (python -m data_curation build)", cfg.data.shards)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Loads a YAML config (or the defaults when ``path`` is None) and applies ``key=value`` overrides."""
    return load(TrainConfig, path, overrides, check=_check_files)


def curation_config(cfg: TrainConfig) -> CurationConfig:
    """The curation config of on-the-fly synthetic samples (``data.curation``)."""
    return cfg.data.curation


def memory_config(cfg: TrainConfig) -> dict:
    """The pipeline's memory config as a dict: ``generation.memory_config`` when set, else the one the samples were
    made with."""
    return generation_config(cfg).memory_config.to_dict()


def generation_config(cfg: TrainConfig) -> GenerationConfig:
    """The saved pipeline's :class:`GenerationConfig`: ``generation`` with its memory resolved (null: the memory of
    ``data.curation``)."""
    g = cfg.generation
    return g if g.memory_config is not None else g.replace(memory_config=cfg.data.curation.memory_config())
