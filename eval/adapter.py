"""The in-process model adapter of ``python -m eval revisit --model MODULE:FACTORY``: any world model, scored by
the same code as the shipped pipeline.

The model protocol (docs/evaluation.md, "Scoring your own model"): an object with a method ::

    generate(given_frames, given_depth, cameras, generator) -> frames        # or -> (frames, depth)

- ``given_frames``: (C, 3, H, W) float in [0, 1], the ground-truth frames the episode gives;
- ``given_depth``: (C, 1, H, W) float z-depth in scene units, 0 = unknown;
- ``cameras``: :class:`worldmem.geometry.Cameras` with batch shape (T,), every frame's camera (OpenCV axes,
  ``cam_from_world``, ``K`` in pixels; docs/cameras.md); the first C are the given frames' cameras;
- ``generator``: a CPU :class:`torch.Generator` seeded with ``--noise-seed`` (the same for every model);
- returns ``frames`` (T, 3, H, W) in [0, 1], every frame of the path, the given ones included (they are not
  scored), or ``(frames, depth)`` with ``depth`` (T, 1, H, W) z-depth, 0 = unknown (without it the depth metrics
  are null).

Optional attributes, read when present: ``frame_size`` ``(H, W)`` (the frame size the model makes; else
``--image-size``), ``working_window`` and ``chunk_size`` (frames; they set the default ``--min-gap`` as for the
shipped model, max(8, window + chunk + 1); without them the default is 8).

``MODULE:FACTORY`` names a callable that takes no arguments and returns the model: ``MODULE`` is an importable
module (``eval.baselines:repeat_last``) or a file (``path/to/my_model.py:make_model``). A bad spec, an import
error, a factory that is not callable or raises, and a wrong output (shape, range, NaN) are each one line
naming ``--model`` (and the episode, for an output).

:class:`PipelineModel` is the shipped :class:`~worldmem.pipelines.WorldMemPipeline` behind this protocol (one of
the ablation variants' memory switches): through it the pipeline's numbers equal the built-in variants'.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

import torch

from eval.episodes import Episode, RevisitError
from eval.variants import PIPELINE_VARIANTS, Rollout
from worldmem.geometry.cameras import Cameras

__all__ = ["DEFAULT_IMAGE_SIZE", "PipelineModel", "load_model", "model_name", "model_rollout", "model_settings"]

DEFAULT_IMAGE_SIZE = 32
"""``--image-size`` of a model without ``frame_size``: the shipped model's frames (32 x 32), so a model's episodes
are the shipped model's (the same scenes, paths and frames)."""
_SPEC = re.compile(r"^(?P<module>[^:]+):(?P<factory>[A-Za-z_][A-Za-z0-9_]*)$")


def model_name(spec: str) -> str:
    """The variant name of ``MODULE:FACTORY``: the factory's name."""
    m = _SPEC.match(spec.strip())
    return m.group("factory") if m else spec


def _import(module: str, flag: str):
    if module.endswith(".py") or "/" in module or "\\" in module:
        path = Path(module)
        if not path.is_file():
            raise RevisitError(f"{flag}: no such file {path}")
        name = f"_eval_model_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise RevisitError(f"{flag}: cannot import {path} (expected a .py file)")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except Exception as err:  # a user's module: any error is theirs, reported in one line
            sys.modules.pop(name, None)
            raise RevisitError(f"{flag}: importing {path} failed: {type(err).__name__}: {err}") from None
        return mod
    try:
        return importlib.import_module(module)
    except Exception as err:  # ModuleNotFoundError and whatever the module raises at import
        raise RevisitError(f"{flag}: importing {module} failed: {type(err).__name__}: {err}") from None


def load_model(spec: str, flag: str = "--model"):
    """Imports ``MODULE:FACTORY`` and calls the factory: the model (module doc); raises :class:`RevisitError`."""
    m = _SPEC.match(spec.strip())
    if m is None:
        raise RevisitError(f"{flag}: expected MODULE:FACTORY (e.g. eval.baselines:repeat_last or "
                           f"my_model.py:make_model), got {spec!r}")
    mod = _import(m.group("module"), flag)
    factory = getattr(mod, m.group("factory"), None)
    if factory is None:
        raise RevisitError(f"{flag}: {m.group('module')} has no {m.group('factory')!r}")
    if not callable(factory):
        raise RevisitError(f"{flag}: {spec} is not callable (expected a factory taking no arguments)")
    try:
        model = factory()
    except Exception as err:  # the factory is the user's code
        raise RevisitError(f"{flag}: {spec}() failed: {type(err).__name__}: {err}") from None
    if not callable(getattr(model, "generate", None)):
        raise RevisitError(f"{flag}: {spec}() returned a {type(model).__name__} without a generate(given_frames, "
                           "given_depth, cameras, generator) method")
    return model


def model_settings(model, flag: str = "--model") -> dict:
    """The model's optional attributes (module doc): ``frame_size`` (tuple or None), ``working_window`` and
    ``chunk_size`` (int or None); a present but malformed one raises :class:`RevisitError`."""
    out: dict = {}
    size = getattr(model, "frame_size", None)
    if size is not None:
        try:
            h, w = (int(x) for x in size)
        except (TypeError, ValueError):
            raise RevisitError(f"{flag}: frame_size: expected (H, W), got {size!r}") from None
        if h < 1 or w < 1:
            raise RevisitError(f"{flag}: frame_size: expected positive (H, W), got {size!r}")
        size = (h, w)
    out["frame_size"] = size
    for key in ("working_window", "chunk_size"):
        value = getattr(model, key, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise RevisitError(f"{flag}: {key}: expected an integer >= 0, got {value!r}")
        out[key] = value
    return out


def _check_output(name: str, x, shape: tuple[int, ...], where: str, unit: bool) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise RevisitError(f"{where}: {name}: expected a torch.Tensor, got {type(x).__name__}")
    if tuple(x.shape) != shape:
        raise RevisitError(f"{where}: {name}: expected shape {shape}, got {tuple(x.shape)}")
    x = x.detach().float().cpu()
    if not torch.isfinite(x).all():
        raise RevisitError(f"{where}: {name}: holds NaN or inf")
    if unit and (x.min() < 0 or x.max() > 1):
        raise RevisitError(f"{where}: {name}: expected values in [0, 1], got {float(x.min()):.4g} .. {float(x.max()):.4g}")
    if not unit and x.min() < 0:
        raise RevisitError(f"{where}: {name}: expected z-depth >= 0 (0 = unknown), got {float(x.min()):.4g}")
    return x


def model_rollout(model, episode: Episode, seed: int, flag: str = "--model") -> Rollout:
    """Runs ``model.generate`` on an episode's given frames and checks its output: a :class:`Rollout`.

    The generator is ``torch.Generator().manual_seed(seed)``, as for the built-in variants. Frames returned
    without depth get an all-unknown depth (zeros). Raises :class:`RevisitError` (one line naming ``flag`` and
    the episode) for a wrong output or an error inside ``generate``.
    """
    c, num = episode.context, len(episode.cameras)
    h, w = episode.cameras.height, episode.cameras.width
    where = f"{flag} on {episode.scene} {episode.trajectory}"
    try:
        out = model.generate(episode.frames[:c].clone(), episode.depth[:c].clone(), episode.cameras,
                             torch.Generator().manual_seed(seed))
    except RevisitError:
        raise
    except Exception as err:  # the model is the user's code
        raise RevisitError(f"{where}: generate failed: {type(err).__name__}: {err}") from None
    depth = None
    if isinstance(out, (tuple, list)):
        if len(out) != 2:
            raise RevisitError(f"{where}: expected frames or (frames, depth), got a {type(out).__name__} of {len(out)}")
        out, depth = out
    frames = _check_output("frames", out, (num, 3, h, w), where, unit=True)
    if depth is None:
        depth = torch.zeros(num, 1, h, w)
    else:
        depth = _check_output("depth", depth, (num, 1, h, w), where, unit=False)
    return Rollout(frames=frames, depth=depth)


class PipelineModel:
    """A :class:`~worldmem.pipelines.WorldMemPipeline` behind the model protocol (module doc).

    Args:
        pipe: the pipeline (its generation settings as set).
        variant: one of :data:`eval.variants.PIPELINE_VARIANTS` (which memories it reads).
        steps: denoising steps per chunk.
    """

    def __init__(self, pipe, variant: str = "full", steps: int = 8) -> None:
        if variant not in PIPELINE_VARIANTS:
            raise ValueError(f"variant: expected one of {', '.join(PIPELINE_VARIANTS)}, got {variant!r}")
        self.pipe, self.flags, self.steps = pipe, PIPELINE_VARIANTS[variant], int(steps)
        self.frame_size = tuple(pipe.frame_size)
        self.working_window = int(pipe.generation.working_window)
        self.chunk_size = int(pipe.generation.chunk_size)

    def generate(self, given_frames: torch.Tensor, given_depth: torch.Tensor, cameras: Cameras,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, 3, H, W) frames and (T, 1, H, W) depth along ``cameras`` from the given (C, ...) frames."""
        out = self.pipe(frames=given_frames, depth=given_depth, cameras=cameras, num_inference_steps=self.steps,
                        generator=generator, progress=False, **self.flags)
        return out.frames.float(), out.depth.float()
