"""From a posed RGB-D clip to training samples.

Per clip: quantise the frames to 8 bits (what a sample stores), normalise the scene scale (median depth 1),
score every possible target chunk, choose ``samples_per_clip`` of them, and for each chunk starting at frame
``t0`` build the memory a generator would have there:

- the source part, frames ``[s0, t0)`` with ``s0 = max(0, t0 - source_frames)``, is written into a
  :class:`WorldMemory` (sparse TSDF fusion with free-space carving, so moving things are carved out; working
  window; episodic keyframes);
- the memory is read along the T target cameras: the TSDF rendered into them (RGB, depth, coverage), the W
  source frames right before ``t0``, and up to K keyframes retrieved by the voxels they co-see with the
  targets (as seen in the rendered depth: what is known at generation time).

Scores of a chunk (from coarse visibility voxel sets of the frames' own depth):
``overlap`` = fraction of the targets' visible voxels that some source frame saw; ``revisit_score`` = the same
for source frames at least ``revisit_min_gap`` frames before ``t0`` only (a camera that merely continues sees
what the last frames saw; a revisit sees what was seen long ago).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from worldmem.data.clip import Clip, ClipError, check_clip, normalise_scale
from worldmem.data.config import CurationConfig
from worldmem.data.sample import TrainingSample, quantize_images
from worldmem.geometry.points import visible_voxel_keys
from worldmem.memory import FrameSet, MemoryReadout, SpatialRender, WorldMemory
from worldmem.metrics import as_one_image, psnr

__all__ = ["Window", "single_thread", "sample_key", "frame_visibility", "score_windows", "choose_windows", "build_sample",
           "build_clip_samples", "prepare_clip"]


@dataclass(frozen=True)
class Window:
    """A target chunk ``[t0, t0 + T)`` with its source part ``[s0, t0)`` and scores."""

    s0: int
    t0: int
    overlap: float
    revisit_score: float


@contextmanager
def single_thread() -> Iterator[None]:
    """Runs torch on one intra-op thread inside the block (restored after).

    Curation works on many small tensors, where intra-op threads cost more than they give (several times
    slower on a busy machine), and one thread makes every sample bitwise the same whatever the caller's thread
    count or worker layout. Parallelism comes from worker processes instead.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def sample_key(source: str, clip_id: str, t0: int) -> str:
    """The sample's key in a shard: ``<source>-<clip_id>-<t0, 6 digits>`` with characters outside
    ``[A-Za-z0-9_-]`` replaced by ``_`` (no dots: WebDataset splits names at the first dot)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{source}-{clip_id}-{t0:06d}")


def prepare_clip(clip: Clip) -> tuple[Clip, float]:
    """Checks the clip, quantises its frames to 8 bits and normalises its scale; returns (clip, scale)."""
    check_clip(clip)
    clip = Clip(frames=quantize_images(clip.frames.float()), depth=clip.depth.float(), cameras=clip.cameras,
                ref=clip.ref, times=clip.times, meta=clip.meta)
    return normalise_scale(clip)


def frame_visibility(clip: Clip, config: CurationConfig) -> list[torch.Tensor]:
    """Per frame, the sorted coarse-voxel keys its depth sees (``visibility_voxel_size``, every 2nd pixel)."""
    try:
        return [visible_voxel_keys(clip.depth[i:i + 1], clip.cameras[i:i + 1], config.visibility_voxel_size, 2)
                for i in range(len(clip))]
    except ValueError as err:
        raise ClipError(f"scene too large for the visibility voxels: {err}") from err


def _seen_fraction(target: torch.Tensor, seen: list[torch.Tensor]) -> float:
    if target.numel() == 0 or not seen:
        return 0.0
    return float(torch.isin(target, torch.cat(seen)).float().mean())


def score_windows(visibility: list[torch.Tensor], config: CurationConfig) -> list[Window]:
    """Every chunk start ``t0`` in ``[min_source_frames, N - T]`` with its overlap and revisit scores."""
    n, t = len(visibility), config.target_frames
    out = []
    for t0 in range(config.min_source_frames, n - t + 1):
        s0 = max(0, t0 - config.source_frames)
        target = torch.unique(torch.cat(visibility[t0:t0 + t]))
        old_end = t0 - config.revisit_min_gap
        out.append(Window(s0=s0, t0=t0, overlap=_seen_fraction(target, visibility[s0:t0]),
                          revisit_score=_seen_fraction(target, visibility[s0:old_end]) if old_end > s0 else 0.0))
    return out


def choose_windows(windows: list[Window], config: CurationConfig) -> list[Window]:
    """Up to ``samples_per_clip`` chunks whose target frames do not overlap, in ``t0`` order.

    With ``revisit_windows`` the best revisit scores go first (ties: the earlier chunk); otherwise the chunks
    are spread evenly from the first to the last possible start.
    """
    k, t = config.samples_per_clip, config.target_frames
    if not windows:
        return []
    if config.revisit_windows:
        order = sorted(windows, key=lambda w: (-round(w.revisit_score, 6), w.t0))
    else:
        m = len(windows)
        picks = sorted({round(i * (m - 1) / max(k - 1, 1)) for i in range(min(k, m))})
        order = [windows[i] for i in picks] + windows
    chosen: list[Window] = []
    for w in order:
        if len(chosen) == k:
            break
        if all(abs(w.t0 - c.t0) >= t for c in chosen):
            chosen.append(w)
    return sorted(chosen, key=lambda w: w.t0)


def _offset(fs: FrameSet | None, s0: int) -> FrameSet | None:
    if fs is None:
        return None
    return FrameSet(frames=fs.frames, depth=fs.depth, cameras=fs.cameras, indices=fs.indices + s0, scores=fs.scores)


def _r(x: float | None) -> float | None:
    return None if x is None or x != x else round(float(x), 6)


def _render_psnr(render: torch.Tensor, target: torch.Tensor, covered: torch.Tensor) -> float:
    """PSNR (dB) of the render on every covered pixel of the chunk: the chunk scored as one image."""
    return float(psnr(as_one_image(render), as_one_image(target), as_one_image(covered))[0])


def read_chunk(memory: WorldMemory, clip: Clip, window: Window, config: CurationConfig
               ) -> tuple[MemoryReadout, FrameSet]:
    """The readout of ``window``'s target chunk from ``memory`` (which holds the clip's frames ``[s0, t0)``, in
    the clip's normalised units) as a sample stores it, render colours quantised to 8 bits and frame indices
    those of the clip, and the chunk's ground truth."""
    s0, t0, t1 = window.s0, window.t0, window.t0 + config.target_frames
    target_cams = clip.cameras[t0:t1]
    raw = memory.read(target_cams)
    spatial = SpatialRender(rgb=quantize_images(raw.spatial.rgb), depth=raw.spatial.depth, mask=raw.spatial.mask)
    readout = MemoryReadout(target_cameras=target_cams, spatial=spatial, working=_offset(raw.working, s0),
                            keyframes=_offset(raw.keyframes, s0))
    target = FrameSet(frames=clip.frames[t0:t1], depth=clip.depth[t0:t1], cameras=target_cams,
                      indices=torch.arange(t0, t1, dtype=torch.int64))
    return readout, target


def build_sample(clip: Clip, window: Window, scale: float, config: CurationConfig,
                 memory: WorldMemory | None = None) -> TrainingSample:
    """The sample of one chunk of a prepared (quantised, normalised) clip.

    ``memory``: optionally, a memory that already holds frames ``[s0, t)`` of this clip for some ``t <= t0``
    (the rest up to ``t0`` is written into it): chunks that share ``s0`` reuse one memory, which gives the same
    result as a fresh one because every write is frame by frame.
    """
    s0, t0, t1 = window.s0, window.t0, window.t0 + config.target_frames
    if memory is None:
        memory = WorldMemory(config.memory_config(), scene_scale=1.0)  # the clip is already normalised
    done = s0 + memory.num_frames
    if done > t0:
        raise ValueError(f"memory: holds frames up to {done}, past the chunk start {t0}")
    memory.write(clip.frames[done:t0], clip.depth[done:t0], clip.cameras[done:t0])
    readout, target = read_chunk(memory, clip, window, config)
    spatial = readout.spatial
    surface = target.depth > 0
    covered = spatial.mask
    rel_err = ((spatial.depth - target.depth).abs() / target.depth.clamp_min(1e-6))[covered & surface]
    kf = readout.keyframes
    meta = {
        "key": sample_key(clip.ref.source, clip.ref.clip_id, t0),
        "source": clip.ref.source,
        "clip_id": clip.ref.clip_id,
        "clip_path": clip.ref.path,
        "clip_frames": len(clip),
        "source_range": [s0, t0],
        "target_indices": target.indices.tolist(),
        "working_indices": readout.working.indices.tolist(),
        "keyframe_indices": [] if kf is None else kf.indices.tolist(),
        "keyframe_scores": [] if kf is None else [_r(s) for s in kf.scores.tolist()],
        "target_times": None if clip.times is None else [_r(x) for x in clip.times[t0:t1].tolist()],
        "scale": _r(scale),
        "coverage": _r(spatial.coverage.mean()),
        "coverage_per_frame": [_r(c) for c in spatial.coverage.tolist()],
        "surface_coverage": _r((covered & surface).sum() / surface.sum().clamp_min(1)),
        "overlap": _r(window.overlap),
        "revisit_score": _r(window.revisit_score),
        "revisit": bool(window.revisit_score >= config.revisit_min_overlap),
        "render_psnr": _r(_render_psnr(spatial.rgb, target.frames, covered)) if bool(covered.any()) else None,
        "render_depth_rel_error": _r(rel_err.median()) if rel_err.numel() else None,
        "clip": {k: v for k, v in clip.meta.items() if k != "caption"},
    }
    if clip.meta.get("caption") is not None:  # from the reader's metadata or a captions file
        meta["caption"] = clip.meta["caption"]
    return TrainingSample(target=target, readout=readout, meta=meta)


def clip_windows(clip: Clip, config: CurationConfig) -> tuple[Clip, float, list[Window]]:
    """The prepared (quantised, normalised) clip, its scale and its target chunks (:func:`choose_windows`).

    Raises :class:`ClipError` when the clip as a whole is unusable (bad shapes, no depth, too short).
    """
    clip, scale = prepare_clip(clip)
    need = config.min_source_frames + config.target_frames
    if len(clip) < need:
        raise ClipError(f"too short: {len(clip)} frames (after frame_stride), need >= {need} "
                        "(min_source_frames + target_frames)")
    return clip, scale, choose_windows(score_windows(frame_visibility(clip, config), config), config)


def build_clip_samples(clip: Clip, config: CurationConfig) -> tuple[list[TrainingSample], list[tuple[str, str]]]:
    """All samples of a clip and the chunks that failed as (key, one-line reason).

    Raises :class:`ClipError` when the clip as a whole is unusable (bad shapes, no depth, too short).
    """
    clip, scale, windows = clip_windows(clip, config)
    samples, failures = [], []
    memory, memory_s0 = None, None
    for w in windows:  # in t0 order: chunks with the same source start extend one memory
        if memory is None or memory_s0 != w.s0:
            memory, memory_s0 = WorldMemory(config.memory_config(), scene_scale=1.0), w.s0
        try:
            samples.append(build_sample(clip, w, scale, config, memory))
        except (ClipError, ValueError) as err:
            memory = None
            failures.append((sample_key(clip.ref.source, clip.ref.clip_id, w.t0), " ".join(str(err).split())[:400]))
    return samples, failures
