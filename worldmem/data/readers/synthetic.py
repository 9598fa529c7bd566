"""``synthetic:N``: procedural scenes from :mod:`worldmem.synthetic`, rendered along paths that explore, then
revisit.

Seeds: training clips use :data:`TRAIN_SEEDS` (0 .. 999,999), evaluation must use :data:`EVAL_SEEDS`
(1,000,000 .. 1,999,999); the two ranges never meet. ``synthetic:N`` takes the first N training seeds,
``synthetic:START+N`` the N seeds from START (e.g. ``synthetic:1000000+50`` for 50 held-out scenes). The clip
id is ``scene-<seed, 7 digits>``.

Per seed (drawn from ``worldmem.utils.seeding.numpy_rng("synthetic_path", seed)``, independent of the scene's
own draws): the path kind (from ``config.synthetic_paths``), whether objects move
(``synthetic_dynamic_fraction``), the field of view, the pitch and the path family's free parameters. The kinds
are the random families of the path registry :mod:`worldmem.geometry.paths` (docs/paths.md); every path stays
inside the scene's free box (no object comes near it):

- ``walk-and-retrace``: walk between two points while the view sweeps, then retrace the same poses backwards;
- ``loop``: 1.25-1.6 turns of a circle (looking forward, outward or inward): the last part repeats the first;
- ``round-trip``: look around at A, walk far to B, turn, walk back and look at A's view again;
- ``look-around``: turn in place by 1.3-1.6 turns.

Frames are ray-cast at ``synthetic_supersample``^2 rays per pixel and tent-filtered (a pixel integrates over
its neighbourhood like a camera does, instead of aliasing the textures); depth and object ids come from the
ray through the pixel centre, so they are exact. Scene time is the frame index.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from worldmem.data.clip import Clip, ClipRef
from worldmem.data.config import CurationConfig
from worldmem.geometry import paths
from worldmem.geometry.cameras import Cameras
from worldmem.synthetic import SyntheticScene
from worldmem.utils.seeding import numpy_rng

__all__ = ["TRAIN_SEEDS", "EVAL_SEEDS", "list_clips", "load_clip", "synthetic_clip", "clip_id_of",
           "render_supersampled", "synthetic_path"]

TRAIN_SEEDS = range(0, 1_000_000)
"""Scene seeds for training data."""
EVAL_SEEDS = range(1_000_000, 2_000_000)
"""Scene seeds reserved for evaluation (held out from training)."""


def clip_id_of(seed: int) -> str:
    return f"scene-{seed:07d}"


MAX_SYNTHETIC_CLIPS = 100_000
"""The most scenes one ``synthetic:N`` (or ``START+N``) lists (a clip list of ~30 MB in a build's plan.json); a
bigger dataset is several sources (``synthetic:100000+100000``, ...). Checked before anything is listed."""


def list_clips(path: str) -> list[ClipRef]:
    """``"N"`` (the first N training seeds) or ``"START+N"``; N at most :data:`MAX_SYNTHETIC_CLIPS`."""
    text = str(path).strip()
    start_text, plus, count_text = text.partition("+")
    if not plus:
        start_text, count_text = str(TRAIN_SEEDS.start), text
    count_text = count_text.strip()
    if count_text.isdigit() and (len(count_text) > 12 or int(count_text) > MAX_SYNTHETIC_CLIPS):
        raise ValueError(f"synthetic:{text[:40]}: expected at most {MAX_SYNTHETIC_CLIPS} scenes per source "
                         f"(MAX_SYNTHETIC_CLIPS; give several sources for more), got {count_text[:40]}")
    try:
        start, count = int(start_text), int(count_text)
    except ValueError:
        raise ValueError(f"synthetic:{path}: expected N or START+N (ints), e.g. synthetic:100") from None
    if start < 0 or count < 1:
        raise ValueError(f"synthetic:{path}: expected START >= 0 and N >= 1")
    return [ClipRef("synthetic", clip_id_of(s), str(s)) for s in range(start, start + count)]


def tent_downsample(frames: torch.Tensor, s: int) -> torch.Tensor:
    """(T, C, s*H, s*W) -> (T, C, H, W): a tent filter reaching one output pixel each side (odd ``s``)."""
    if s == 1:
        return frames
    w = torch.cat([torch.arange(1, s + 1), torch.arange(s - 1, 0, -1)]).to(frames.dtype)
    w = w / w.sum()
    t, c, h, wd = frames.shape
    pad = (s - 1) // 2
    x = F.pad(frames.reshape(t * c, 1, h, wd), (pad, pad, pad, pad), mode="replicate")
    x = F.conv2d(x, w.view(1, 1, 1, -1), stride=(1, s))
    x = F.conv2d(x, w.view(1, 1, -1, 1), stride=(s, 1))
    return x.reshape(t, c, h // s, wd // s).clamp(0.0, 1.0)


def render_supersampled(scene: SyntheticScene, cams: Cameras, times: torch.Tensor, s: int):
    """Frames (T, 3, H, W) tent-filtered from s x s rays per pixel; depth (T, 1, H, W) and ids at pixel centres."""
    frames, depth, ids = scene.render(cams.resize(cams.height * s, cams.width * s), times=times, return_ids=True)
    c = (s - 1) // 2  # the sub-ray through the pixel centre
    return tent_downsample(frames, s), depth[..., c::s, c::s].contiguous(), ids[..., c::s, c::s].contiguous()


def _draw_plan(seed: int, config: CurationConfig) -> tuple[np.random.Generator, str, bool]:
    """The seed's path generator, path kind and whether objects move (drawn in this order)."""
    rng = numpy_rng("synthetic_path", seed)
    kind = config.synthetic_paths[int(rng.integers(len(config.synthetic_paths)))]
    return rng, kind, bool(rng.random() < config.synthetic_dynamic_fraction)


def synthetic_path(scene: SyntheticScene, rng: np.random.Generator, kind: str, config: CurationConfig
                   ) -> tuple[Cameras, dict]:
    """The clip's cameras (N,) and a json-able description of the path (field of view, shape, ...).

    Draws, in this order: the field of view, the pitch, then the family's own parameters
    (:func:`~worldmem.geometry.paths.draw_path_params`).
    """
    fov = float(rng.uniform(*config.synthetic_fov_deg))
    pitch = float(rng.uniform(-10.0, 5.0))
    n, (height, width) = config.synthetic_frames, config.image_size
    params = paths.draw_path_params(kind, scene.free_box, n, rng)
    cams = paths.make_path(kind, scene.free_box, n, height, width, fov_deg=fov, pitch_deg=pitch, **params)
    recorded = {key: params[key] for key in paths.PATHS[kind].recorded}
    return cams, {"path": kind, "fov_deg": round(fov, 3), "pitch_deg": round(pitch, 3), **recorded}


def synthetic_clip(seed: int, config: CurationConfig, frames: slice | None = None) -> Clip:
    """Renders the clip of ``seed`` (optionally only the frames in ``frames``; the path is the same)."""
    rng, kind, dynamic = _draw_plan(seed, config)
    scene = SyntheticScene.random(seed=seed, dynamic=dynamic)
    cams, desc = synthetic_path(scene, rng, kind, config)
    times = torch.arange(len(cams), dtype=torch.float32)
    if frames is not None:
        cams, times = cams[frames], times[frames]
    rgb, depth, ids = render_supersampled(scene, cams, times, config.synthetic_supersample)
    moving = scene.dynamic_mask(ids)
    meta = {"seed": seed, "scene_kind": scene.kind, "dynamic": dynamic, **desc, "moving_ids": list(scene.dynamic_ids),
            "moving_pixel_fraction": round(float(moving.float().mean()), 6)}
    return Clip(frames=rgb, depth=depth, cameras=cams, ref=ClipRef("synthetic", clip_id_of(seed), str(seed)),
                times=times, meta=meta)


def load_clip(ref: ClipRef, config: CurationConfig, depth_dir: str | None = None,
              allow_outside: bool = False) -> Clip:
    """``allow_outside`` is accepted like the other readers' (a synthetic clip reads no file)."""
    return synthetic_clip(int(ref.path), config)
