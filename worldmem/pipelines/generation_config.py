"""How a pipeline generates: one typed section of the config tree (:class:`GenerationConfig`).

The same settings in every place they are used:

- saved with the pipeline: each field is one key of its ``model_index.json`` (``chunk_size``, ...,
  ``write_gate``, ``memory_config``), so a saved pipeline is rebuilt from a YAML file (the shipped model's is
  ``configs/generation/tiny.yaml``);
- nested in the training config (``generation:`` in ``configs/*.yaml``): the saved pipeline's, the validation
  rollout's and the chained rollouts' settings;
- overridden by every command that generates with ``generation.KEY=VALUE`` (:func:`generation_from`, e.g.
  ``generation.write_gate.margin=1 generation.render_anchor=0.5``), parsed by :mod:`worldmem.utils.config`
  (one-line errors naming the key);
- overridden per call by the keyword arguments of the same names of ``WorldMemPipeline.__call__``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from worldmem.memory.config import MemoryConfig
from worldmem.pipelines.cost import MAX_GUIDANCE, MAX_STEPS
from worldmem.pipelines.write_gate import WriteGate
from worldmem.utils.config import OVERRIDES, ConfigError, check, from_dict, load, require

__all__ = ["GenerationConfig", "generation_from", "PREFIX"]

PREFIX = "generation."
"""What every command-line override of the generation settings starts with."""


@dataclass(frozen=True)
class GenerationConfig:
    """The generation settings of a pipeline (defaults: a pipeline built in Python without any)."""

    chunk_size: int = 4
    """Frames generated per chunk (the codec may restrict it: a 3D VAE takes 8m + 1)."""
    working_window: int = 2
    """Working frames the model reads in front of each chunk (the number it was trained with); at most
    ``memory_config.working.window``."""
    num_inference_steps: int = 8
    """Denoising steps per chunk (at most ``MAX_STEPS``)."""
    guidance_scale: float = 1.0
    """Classifier-free guidance on the memory paths (the unconditional branch drops the spatial and episodic
    memory); 1 = none, at most ``MAX_GUIDANCE``."""
    text_guidance_scale: float = 1.0
    """Classifier-free guidance on the prompt (needs a text encoder); 1 = none, at most ``MAX_GUIDANCE``."""
    render_anchor: float = 0.0
    """Fraction of the denoising steps, in [0, 1], during which the pixels the map covers follow its render
    (RePaint-style; 0 = never, 1 = covered pixels equal the render; docs/models.md)."""
    write_gate: WriteGate = field(default_factory=WriteGate)
    """Which generated pixels are written back into the map (:mod:`worldmem.pipelines.write_gate`)."""
    memory_config: MemoryConfig | None = None
    """The memory new rollouts build (sizes, voxel, the sky layer). null: the memory the model was trained with
    in a training config (``data.curation``'s), MemoryConfig's defaults in a pipeline built without one; a
    saved pipeline always stores the full config."""

    def __post_init__(self) -> None:
        require(self, ">= 1", "chunk_size", "num_inference_steps")
        require(self, ">= 0", "working_window")
        check(self.num_inference_steps <= MAX_STEPS, "num_inference_steps", f"a value <= {MAX_STEPS} (MAX_STEPS)",
              self.num_inference_steps)
        for name in ("guidance_scale", "text_guidance_scale"):
            require(self, ">= 1", name)
            check(getattr(self, name) <= MAX_GUIDANCE, name, f"a value <= {MAX_GUIDANCE:g} (MAX_GUIDANCE)",
                  getattr(self, name))
        require(self, "in [0, 1]", "render_anchor")
        if self.memory_config is not None:
            window = self.memory_config.working.window
            check(self.working_window <= window, "working_window",
                  f"a value <= memory_config.working.window ({window})", self.working_window)

    def to_dict(self) -> dict:
        """Plain values (the pipeline's config keys)."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict | None) -> GenerationConfig:
        """The config saved as ``to_dict()`` (strict: unknown keys, wrong types and ranges are one-line errors)."""
        return from_dict(GenerationConfig, d)

    def replace(self, **changes) -> GenerationConfig:
        """This config with some fields changed, checked like a loaded one (``write_gate`` and ``memory_config``
        may be mappings); raises :class:`~worldmem.utils.config.ConfigError` naming the key."""
        return from_dict(GenerationConfig, {**self.to_dict(), **changes})


@dataclass
class _Command:
    """The command-line view: overrides are written ``generation.KEY=VALUE``."""

    generation: GenerationConfig = field(default_factory=GenerationConfig)


def generation_from(base, overrides: Iterable[str]) -> GenerationConfig:
    """``base`` (a :class:`GenerationConfig`, or a pipeline: its ``generation``) with ``generation.KEY=VALUE``
    command-line overrides applied in order, parsed by :func:`worldmem.utils.config.load` (values are YAML; a bad
    key or value is a one-line :class:`~worldmem.utils.config.ConfigError` naming ``generation.KEY``).

    Example: ``generation_from(pipe, ["generation.write_gate.margin=1", "generation.render_anchor=0.5"])``.
    """
    if not isinstance(base, GenerationConfig):
        base = base.generation
    overrides = list(overrides)
    for item in overrides:
        if not item.startswith(PREFIX):
            raise ConfigError(item.partition("=")[0], f"a generation setting written {PREFIX}KEY=VALUE (e.g. "
                              f"{PREFIX}write_gate.margin=1)", item, OVERRIDES)
    return load(_Command, overrides=overrides, data={"generation": base.to_dict()}).generation
