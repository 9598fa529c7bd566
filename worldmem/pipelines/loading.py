"""The checks of a saved :class:`WorldMemPipeline` folder, run before and after anything is built.

``DiffusionPipeline.from_pretrained`` reports a broken folder with a long traceback from deep inside diffusers,
and loads weights that disagree with the model's config with only a warning (a ``config.json`` with fewer layers
than the weights runs a cut-down model). This loader checks the folder first and the loaded weights after, and
raises one :class:`ValueError` line that names the folder, the file and what was expected.
``WorldMemPipeline.from_pretrained`` runs them (:func:`checked_folder`) for every local folder, with or without
keyword arguments:

- ``model_index.json``: readable JSON naming a ``WorldMemPipeline`` with its three components and generation
  settings that :class:`~worldmem.pipelines.generation_config.GenerationConfig` accepts (``chunk_size``,
  ``working_window``, ..., ``write_gate``, ``memory_config``: the config tree's ranges and one-line wording);
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
from collections.abc import Callable
from pathlib import Path

from worldmem.pipelines.generation_config import GenerationConfig
from worldmem.utils.config import NO_FILE, ConfigError

__all__ = ["checked_folder", "config_line"]

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


def config_line(err: ConfigError) -> str:
    """A :class:`ConfigError` about values given in Python or read from JSON: ``"{key}: expected ..."``."""
    return str(err).removeprefix(f"{NO_FILE}: ")


def _check_index(path: Path) -> dict:
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
        GenerationConfig.from_dict({k: index[k] for k in GenerationConfig.__dataclass_fields__ if k in index})
    except ConfigError as err:
        raise ValueError(f"model_index.json: {config_line(err)}") from None
    return index


def checked_folder(path: str | os.PathLike, build: Callable[[], object]):
    """``build()`` (diffusers' loader of ``path``), with the module's checks before and after it when ``path`` is a
    local folder (anything else, e.g. a Hub id, is built as is).

    Raises:
        ValueError: one line, ``"<path>: <what is wrong>"``.
    """
    from diffusers.utils import logging as diffusers_logging

    path = Path(path)
    if not path.is_dir():
        return build()
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
            pipe = build()
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
