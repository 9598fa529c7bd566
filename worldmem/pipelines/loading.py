"""``load_pipeline(path)``: a saved :class:`WorldMemPipeline`, checked before anything is built.

``DiffusionPipeline.from_pretrained`` reports a broken folder with a long traceback from deep inside diffusers,
and loads weights that disagree with the model's config with only a warning (a ``config.json`` with fewer layers
than the weights runs a cut-down model). This loader checks the folder first and the loaded weights after, and
raises one :class:`ValueError` line that names the folder, the file and what was expected:

- ``model_index.json``: readable JSON naming a ``WorldMemPipeline`` with its three components, a valid
  ``memory_config`` and ``write_gate``, positive ``chunk_size`` and a ``working_window`` the memory holds;
- each component folder (``transformer/``, ``codec/``, ``scheduler/``): present, with a readable config; the
  optional text components (``text_encoder/`` and ``tokenizer/``), when listed, both listed and present (the
  text encoder's width and the transformer's text length are checked when the pipeline is built);
- every ``*.safetensors`` file: a readable header that covers the file (truncated, empty or corrupted files are
  named), read without loading the weights;
- the loaded transformer's and codec's parameters equal the files' tensors one for one (the same names and
  shapes, nothing missing, nothing left over).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["load_pipeline"]

_COMPONENTS = ("transformer", "scheduler", "codec")
_TEXT_COMPONENTS = ("text_encoder", "tokenizer")


def _json(path: Path, what: str) -> dict:
    try:
        with open(path) as f:
            value = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{what}: missing {path.name}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{what}: {path.name} is not readable JSON ({' '.join(str(err).split())[:100]})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what}: {path.name}: expected a JSON object, got {type(value).__name__}")
    return value


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    try:
        # The header alone: safetensors checks that its offsets cover the file exactly, so a truncated or padded
        # file fails here without reading the weights (from_pretrained reads them once, afterwards).
        with safe_open(str(path), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:  # safetensors raises its own error types for truncated or corrupted files
        raise ValueError(f"{path.parent.name}/{path.name}: not a readable safetensors file "
                         f"({' '.join(str(err).split())[:100]})") from None
    return shapes


def _check_index(path: Path) -> dict:
    from worldmem.memory import MemoryConfig
    from worldmem.pipelines.write_gate import WriteGate

    index = _json(path / "model_index.json", "model_index.json")
    if index.get("_class_name") != "WorldMemPipeline":
        raise ValueError(f"model_index.json: _class_name: expected 'WorldMemPipeline', got {index.get('_class_name')!r}")
    for name in _COMPONENTS:
        spec = index.get(name)
        if not (isinstance(spec, list) and len(spec) == 2 and all(isinstance(s, str) for s in spec)):
            raise ValueError(f"model_index.json: {name}: expected [module, class], got {spec!r}")
        if not (path / name).is_dir():
            raise ValueError(f"{name}/: missing (model_index.json lists it)")
        config = "scheduler_config.json" if name == "scheduler" else "config.json"
        _json(path / name / config, f"{name}/")
    listed = [name for name in _TEXT_COMPONENTS if index.get(name) not in (None, [None, None])]
    for name in listed:
        spec = index[name]
        if not (isinstance(spec, list) and len(spec) == 2 and all(isinstance(s, str) for s in spec)):
            raise ValueError(f"model_index.json: {name}: expected [module, class] or [null, null], got {spec!r}")
        if not (path / name).is_dir():
            raise ValueError(f"{name}/: missing (model_index.json lists it)")
    if len(listed) == 1:
        raise ValueError(f"model_index.json: lists {listed[0]} without {set(_TEXT_COMPONENTS).difference(listed).pop()}"
                         " (expected both text components or neither)")
    try:
        memory = MemoryConfig.from_dict(index.get("memory_config"))
    except ValueError as err:
        raise ValueError(f"model_index.json: memory_config: {err}") from None
    try:
        WriteGate.from_dict(index.get("write_gate"))
    except ValueError as err:
        raise ValueError(f"model_index.json: {err}") from None
    for key, low in (("chunk_size", 1), ("working_window", 0)):
        value = index.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"model_index.json: {key}: expected an int >= {low}, got {value!r}")
    if index["working_window"] > memory.working.window:
        raise ValueError(f"model_index.json: working_window: expected at most memory_config.working.window "
                         f"({memory.working.window}), got {index['working_window']}")
    return index


def load_pipeline(path: str | os.PathLike):
    """The :class:`~worldmem.pipelines.WorldMemPipeline` saved in folder ``path``, checked as the module says.

    Raises:
        ValueError: one line, ``"<path>: <what is wrong>"``.
    """
    from diffusers.utils import logging as diffusers_logging

    from worldmem.pipelines.pipeline_worldmem import WorldMemPipeline

    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path}: no such folder (expected a saved WorldMemPipeline)")
    try:
        _check_index(path)
        files = {}
        for name in ("transformer", "codec"):
            weights = sorted((path / name).glob("*.safetensors"))
            if len(weights) != 1:
                raise ValueError(f"{name}/: expected one .safetensors weights file, got {len(weights)}")
            files[name] = _tensor_shapes(weights[0])
        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.disable_progress_bar()
        diffusers_logging.set_verbosity_error()
        try:
            pipe = WorldMemPipeline.from_pretrained(str(path), _checked=True)
        except Exception as err:  # noqa: BLE001 - a config the classes refuse is a bad input: one line
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise ValueError(f"could not build the pipeline: {first[:200]}") from None
        finally:
            diffusers_logging.set_verbosity(verbosity)
            diffusers_logging.enable_progress_bar()
        for name, shapes in files.items():
            model = {k: tuple(v.shape) for k, v in getattr(pipe, name).state_dict().items()}
            missing, extra = sorted(set(model) - set(shapes)), sorted(set(shapes) - set(model))
            wrong = sorted(k for k in set(model) & set(shapes) if model[k] != shapes[k])
            if missing or extra or wrong:
                detail = (f"missing {missing[:2]}" if missing else f"unexpected {extra[:2]}" if extra
                          else f"{wrong[0]} has shape {shapes[wrong[0]]}, the config gives {model[wrong[0]]}")
                raise ValueError(f"{name}/: the weights do not match its config.json ({detail})")
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return pipe
