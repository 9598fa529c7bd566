"""What ``python -m eval revisit`` evaluates: episodes (ground truth along one path, the first frames given).

- synthetic episodes: held-out scenes rendered along paths of the registry :mod:`worldmem.geometry.paths`
  (canonical parameters, fitted to each scene's free box; docs/paths.md draws them all), at the pipeline's
  native size with the training data's supersampling. The default paths (:data:`DEFAULT_TRAJECTORIES`):
  ``out-and-back`` (across the box while the view turns 180 degrees, then the same poses backwards), ``loop``
  (1.5 turns of a forward-looking circle: the last third repeats the first) and ``excursion`` (go round the
  box facing away from the start, come back and face it; see ``AWAY_FACTOR`` in :mod:`eval.revisit`);
- recorded episodes: the clips of any curation reader (:func:`source_clips`, :func:`source_episodes`), each
  clip its own path.

The retracing paths of the recall and cycle protocols (:data:`eval.protocols.RETRACING_PATHS`: ``out-and-back``,
``arc-and-back``, ``turn-and-back``) come from the same registry; their frame ``T - 1 - i`` has frame ``i``'s
camera.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from worldmem.geometry.cameras import Cameras
from worldmem.geometry.paths import KEYS_PREFIX, PATH_NAMES, make_path, path_spec
from worldmem.utils.cli_errors import UsageError

__all__ = ["DEFAULT_TRAJECTORIES", "RevisitError", "Episode", "eval_path", "check_trajectory_name",
           "protocol_options", "dynamic_scenes_rule", "synthetic_episodes", "source_clips", "source_episodes"]

DEFAULT_TRAJECTORIES = ("out-and-back", "loop", "excursion")


class RevisitError(UsageError):
    """A bad input to the benchmark (``eval revisit``, ``eval strip``): reported as one line, exit status 2."""


@dataclass
class Episode:
    """One path to evaluate: ground-truth frames, depth and cameras, of which the first ``context`` are given."""

    scene: str
    trajectory: str
    frames: torch.Tensor
    depth: torch.Tensor
    cameras: Cameras
    context: int
    dynamic: bool | None = None
    moving: torch.Tensor | None = None
    """(T, 1, H, W) bool: the truth's pixels that show a moving object (synthetic episodes; None for recorded)."""


def eval_path(scene, name: str, num_frames: int, size: int) -> Cameras:
    """The benchmark's path ``name`` in a synthetic scene: the registry path with its canonical parameters."""
    return make_path(name, scene.free_box, num_frames, size, size)


def check_trajectory_name(name: str, num_frames: int) -> None:
    """Raises :class:`RevisitError` for a name that is not a registry path or a key path of the wrong length."""
    try:
        path_spec(name)
    except ValueError:
        raise RevisitError(f"--trajectories: unknown trajectory {name!r}; expected one of "
                           f"{', '.join(PATH_NAMES)}") from None
    keys = name[len(KEYS_PREFIX):] if name.startswith(KEYS_PREFIX) else None
    if keys is not None and len(keys) + 1 != num_frames:
        raise RevisitError(f"--trajectories: {name!r} gives {len(keys) + 1} frames, expected --num-frames {num_frames}")


def _render_synthetic(seed: int, dynamic: bool, name: str, num_frames: int, size: int, offset: bool = False,
                      with_moving: bool = False):
    from worldmem.data.config import CurationConfig
    from worldmem.data.readers.synthetic import render_supersampled
    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=seed, dynamic=dynamic)
    cams = eval_path(scene, name, num_frames, size)
    if offset:
        from eval.offset import offset_return

        cams = offset_return(cams, scene.free_box)
    frames, depth, ids = render_supersampled(scene, cams, torch.arange(num_frames, dtype=torch.float32),
                                             CurationConfig().synthetic_supersample)
    return (frames, depth, cams, scene.dynamic_mask(ids)) if with_moving else (frames, depth, cams)


def protocol_options(protocol: str) -> dict:
    """The :func:`synthetic_episodes` keywords of a protocol: ``offset`` moves the way back sideways (protocol
    offset), ``all_dynamic`` gives every scene moving objects (protocol dynamic)."""
    return {"offset": protocol == "offset", "all_dynamic": protocol == "dynamic"}


def dynamic_scenes_rule(protocol: str) -> str:
    """Which synthetic scenes of a protocol have moving objects, in words (results.json's ``dynamic_scenes``)."""
    return "every scene" if protocol == "dynamic" else "scene k has moving objects when k % 3 == 2"


def synthetic_episodes(seeds: list[int], names: list[str], num_frames: int, size: int,
                       context: int | None, offset: bool = False, all_dynamic: bool = False) -> Iterator[Episode]:
    """Every (seed, path) episode; scene ``k`` of ``seeds`` has moving objects when ``k % 3 == 2`` (every
    scene with ``all_dynamic``, the dynamic protocol); ``offset``: the way back shifted sideways and turned
    (:func:`eval.offset.offset_return`, the offset protocol)."""
    for k, seed in enumerate(seeds):
        dynamic = all_dynamic or k % 3 == 2
        for name in names:
            try:
                frames, depth, cams, moving = _render_synthetic(seed, dynamic, name, num_frames, size, offset,
                                                                with_moving=True)
            except ValueError as err:
                raise RevisitError(f"--trajectories: {err}") from None
            c = context if context is not None else num_frames // 2
            yield Episode(f"synthetic:{seed}", name, frames, depth, cams, c, dynamic, moving)


def source_clips(source: str, limit: int | None, size: tuple[int, int], num_frames: int, frame_stride: int,
                 depth_dir: str | None):
    """``(refs, load)``: the source's clip refs (at most ``limit``) and a loader ref -> Clip (raises ClipError)."""
    from worldmem.data.config import CurationConfig
    from worldmem.data.readers import READERS, parse_source

    try:
        kind, path = parse_source(source)
        refs = READERS[kind].list_clips(path)
    except (ValueError, OSError) as err:
        raise RevisitError(f"--source: {' '.join(str(err).split())}") from None
    if not refs:
        raise RevisitError(f"--source: no clips found in {source}")
    config = dataclasses.replace(CurationConfig(), image_size=size, frame_stride=frame_stride,
                                 max_clip_frames=num_frames)
    reader = READERS[kind]

    def load(ref):
        return reader.load_clip(ref, config, depth_dir)

    return refs[:limit] if limit is not None else refs, load


def source_episodes(source: str, limit: int | None, size: tuple[int, int], num_frames: int, frame_stride: int,
                    depth_dir: str | None, context: int | None, prog: str) -> tuple[Iterator[Episode | None], list]:
    """``(episodes, clip ids)``: one "recorded" episode per clip, None for a clip that cannot be used (a warning
    naming it is printed); ``context`` None gives half the used frames."""
    import sys

    from tqdm.auto import tqdm

    from worldmem.data.clip import ClipError

    refs, load = source_clips(source, limit, size, num_frames, frame_stride, depth_dir)

    def episodes() -> Iterator[Episode | None]:
        for ref in refs:
            try:
                clip = load(ref)
            except (ClipError, ValueError, OSError) as err:
                tqdm.write(f"{prog}: skipping clip {ref.clip_id}: {' '.join(str(err).split())}", file=sys.stderr)
                yield None
                continue
            n = min(len(clip), num_frames)
            c = context if context is not None else n // 2
            if not 1 <= c < n:
                tqdm.write(f"{prog}: skipping clip {ref.clip_id}: {n} frames, cannot give {c}", file=sys.stderr)
                yield None
                continue
            yield Episode(f"{ref.source}:{ref.clip_id}", "recorded", clip.frames[:n].float(), clip.depth[:n].float(),
                          clip.cameras[:n], c, None)

    return episodes(), [r.clip_id for r in refs]
