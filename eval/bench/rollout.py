"""``python -m eval bench rollout``: generation throughput, per-chunk cost over a long rollout, peak memory.

The model is the tiny configuration with random weights (``worldmem.pipelines.tiny.random_tiny_pipeline``: the same
architecture and sizes as the trained tiny model, so the cost is the same) or ``--checkpoint DIR``, at its
native frame size, along a forward-looking loop in a held-out synthetic scene; the first ``working_window``
frames are given, everything after is generated with the pipeline's generation settings (``pipe.generation``: its
step count, chunk and window) and full memory.

With random weights the model's depth is noise (up to hundreds of scene units), and writing noise back makes
the spatial map grow by ~100 k voxels per chunk without bound, which is no property of the memory. So with
the random model the depth the pipeline writes back is the scene's true depth at those cameras (the
pipeline's ``write_back_depth`` argument), as a trained model's depth approximately is; the frames written are
still the model's. With ``--checkpoint`` the model's own depth is written. The json
records which (``depth_written``).

- ``throughput``: a rollout of 32 new frames (``--quick``: 8), timed ``repeats`` times after one warm-up;
  the median, as generated frames per second;
- ``chunks``: one long rollout of 1,000 frames (``--quick``: 100). The wall time of every chunk (callback to
  callback) is recorded; the median of the first 5 chunks is compared with the median of the last 5
  (``last5_over_first5``: about 1 when a chunk costs the same however long the video is);
- ``at_chunk_s`` / ``ratio_to_chunk2``: the chunk wall time at chunks 2, 10, 50, 100 and 250 (median of the 5
  chunks around each) and its ratio to chunk 2 (target <= 1.1 at chunks 100 and 250);
- ``laps``: the loop repeats its poses every 48 frames, so lap k's frames are compared with lap 2's at the same
  poses (same-pose PSNR per lap; a model that keeps its world scores the same at lap 10 as at lap 3) and the
  map's voxel count is recorded at the end of every lap (bounded: lap 10 over lap 2 near 1);
- ``rebuild_baseline``: at the same chunks, the memory update of ours (fuse the new chunk) against rebuilding
  the map from all frames so far (what the paper's code does after every chunk), on the rollout's own frames;
- ``memory``: the process's resident set size (``/proc/self/statm``) sampled at every chunk of that rollout:
  at the start, the peak, the median of the first vs the last 5 chunks and the peak of the last 10 chunks
  against the peak of chunks 20-30; plus ``ru_maxrss`` (the process's lifetime peak, which includes anything
  done before) and the spatial map's voxel count per chunk.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from eval.bench.timing import median_seconds
from worldmem.utils.io import atomic_write_json

__all__ = ["bench_rollout", "rss_mb"]


def rss_mb() -> float:
    """Current resident set size of this process in MiB (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return _maxrss_mb()


def _maxrss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 2**20 if sys.platform == "darwin" else kb / 2**10  # bytes on macOS, KiB on Linux


PER_TURN = 48


def _loop_path(scene, num_frames: int, size: int, per_turn: int = PER_TURN):
    """The registry's forward-looking loop in ``scene``, ``per_turn`` frames a turn, for ``num_frames`` frames."""
    from worldmem.geometry.paths import make_path

    return make_path("loop", scene.free_box, num_frames, size, size, turns=num_frames / per_turn)


def _rebuild_baseline(res, cams, context: int, chunk: int, marks: list[int]) -> dict:
    """Memory update per chunk: ours (fuse the chunk's frames into the existing map) against the paper's code
    (rebuild the map from all frames so far after every chunk), timed at the same chunks on the rollout's own
    frames and depth (map fusion only, as the rebuild is)."""
    frames, depth = res.frames, res.depth
    rows = {}
    for k in marks:
        end = context + k * chunk
        start = end - chunk
        memory = res.memory.empty_like()
        for s0 in range(0, start, chunk):  # the map as it stood before chunk k
            part = slice(s0, min(s0 + chunk, start))
            memory.fuse(frames[part], depth[part], cams[part])
        t0 = time.perf_counter()
        memory.fuse(frames[start:end], depth[start:end], cams[start:end])
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        rebuilt = res.memory.empty_like()
        rebuilt.fuse(frames[:end], depth[:end], cams[:end])
        rebuild = time.perf_counter() - t0
        rows[str(k)] = {"frames_in_map": end, "ours_write_s": ours, "rebuild_s": rebuild, "rebuild_over_ours": rebuild / ours}
    print("  memory update per chunk, ours vs rebuilding from all frames (the paper's code): " + ", ".join(
        f"chunk {k}: {r['ours_write_s'] * 1e3:.0f} vs {r['rebuild_s'] * 1e3:.0f} ms" for k, r in rows.items()))
    return rows


def _median(xs) -> float | None:
    return statistics.median(xs) if xs else None


def _laps(frames: torch.Tensor, voxels: list[int], context: int, chunk: int, per_turn: int = PER_TURN) -> dict:
    """Same-pose PSNR of every complete lap against lap 2 and the map size at the end of every lap.

    Lap k (1-based) holds frames ``[(k - 1) P, k P)``; the loop's frame ``t + P`` has frame ``t``'s camera.
    Lap 1 starts with the given frames, so lap 2 is the first fully generated one."""
    from eval.metrics import psnr

    n_laps = frames.shape[0] // per_turn
    lap = [frames[k * per_turn:(k + 1) * per_turn] for k in range(n_laps)]
    same_pose = {str(k + 1): float(psnr(lap[k], lap[1]).mean()) for k in range(2, n_laps)}
    # voxels[i] is the map after chunk i, which generates frames context + i * chunk ...
    def voxels_after(frame: int) -> int | None:
        i = (frame - context) // chunk
        return voxels[i] if 0 <= i < len(voxels) else None

    size = {str(k + 1): voxels_after((k + 1) * per_turn - 1) for k in range(n_laps)}
    out = {"per_turn": per_turn, "laps": n_laps, "same_pose_psnr_vs_lap2": same_pose, "voxels_at_lap_end": size}
    if "3" in same_pose and "10" in same_pose:
        out["lap10_minus_lap3_db"] = same_pose["10"] - same_pose["3"]
    if size.get("2") and size.get("10"):
        out["voxels_lap10_over_lap2"] = size["10"] / size["2"]
    return out


def bench_rollout(out: Path, repeats: int = 5, quick: bool = False, checkpoint: Path | None = None) -> dict:
    from worldmem.data.readers.synthetic import EVAL_SEEDS, render_supersampled
    from worldmem.pipelines import load_pipeline
    from worldmem.pipelines.tiny import random_tiny_pipeline
    from worldmem.synthetic import SyntheticScene

    torch.manual_seed(0)
    pipe = load_pipeline(checkpoint) if checkpoint is not None else random_tiny_pipeline(0)
    pipe.set_progress_bar_config(disable=True)
    height, width = pipe.frame_size
    size = height  # the synthetic paths are square
    gen = pipe.generation  # the pipeline's own settings (the random tiny model: GenerationConfig's defaults)
    steps, chunk, window = gen.num_inference_steps, gen.chunk_size, gen.working_window
    context = max(1, window)
    new_frames = 8 if quick else 32
    long_frames = 100 if quick else 1000

    scene = SyntheticScene.random(seed=EVAL_SEEDS.start, dynamic=False)
    cams = _loop_path(scene, long_frames, size, PER_TURN)
    frames, depth, _ = render_supersampled(scene, cams[:context], torch.arange(context, dtype=torch.float32), 3)
    write_back_depth = None
    if checkpoint is None:
        _, turn_depth = scene.render(cams[:PER_TURN])  # the path repeats every PER_TURN frames

        def write_back_depth(start: int, end: int) -> torch.Tensor:
            return turn_depth[torch.arange(start, end) % PER_TURN]

    def rollout(n: int, callback=None):
        return pipe(frames=frames, depth=depth, cameras=cams[: context + n], num_inference_steps=steps,
                    generator=torch.Generator().manual_seed(0), progress=False, callback_on_chunk_end=callback,
                    write_back_depth=write_back_depth)

    results: dict = {
        "machine": {"cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "model": str(checkpoint) if checkpoint is not None else "random tiny (worldmem.pipelines.tiny.random_tiny_pipeline)",
        "image_size": [height, width],
        "steps": steps, "chunk_size": chunk, "working_window": window, "context_frames": context,
        "repeats": repeats,
        "depth_written": "model" if checkpoint is not None else "ground truth (random weights; see the docstring)",
    }
    print(f"rollout bench: {results['model']} at {size}x{size}, {steps} steps, chunks of {chunk}")
    s = median_seconds(lambda: rollout(new_frames), repeats)
    results["throughput"] = {"new_frames": new_frames, "seconds": s, "frames_per_s": new_frames / s,
                             "ms_per_frame": s * 1e3 / new_frames}
    print(f"  throughput: {new_frames / s:.2f} frames/s ({s * 1e3 / new_frames:.1f} ms/frame, median of {repeats} "
          f"rollouts of {new_frames} frames)")

    stamps, rss, voxels = [], [], []
    rss_start = rss_mb()

    def on_chunk(_pipe, _index, info):
        stamps.append(time.perf_counter())
        rss.append(rss_mb())
        voxels.append(info["memory"].spatial.num_voxels)

    t0 = time.perf_counter()
    res = rollout(long_frames - context, on_chunk)
    total = time.perf_counter() - t0
    times = [b - a for a, b in zip([t0] + stamps[:-1], stamps, strict=True)]
    first, last = _median(times[:5]), _median(times[-5:])
    results["chunks"] = {"num_frames": long_frames, "num_chunks": len(times), "seconds_total": total,
                         "first5_median_s": first, "last5_median_s": last,
                         "last5_over_first5": last / first if first else None,
                         "median_s": _median(times), "seconds": times}
    print(f"  {long_frames}-frame rollout: {len(times)} chunks in {total:.1f} s; chunk median first 5 "
          f"{first * 1e3:.0f} ms, last 5 {last * 1e3:.0f} ms (last / first = {last / first:.2f})")
    first_rss, last_rss = _median(rss[:5]), _median(rss[-5:])
    mid_peak = max(rss[20:31]) if len(rss) > 30 else None
    results["memory"] = {"rss_start_mb": rss_start, "rss_peak_mb": max(rss + [rss_start]),
                         "rss_first5_median_mb": first_rss, "rss_last5_median_mb": last_rss,
                         "rss_last5_over_first5": last_rss / first_rss if first_rss else None,
                         "rss_chunks20_30_peak_mb": mid_peak, "rss_last10_peak_mb": max(rss[-10:]) if rss else None,
                         "rss_last10_over_chunks20_30": max(rss[-10:]) / mid_peak if mid_peak else None,
                         "ru_maxrss_mb": _maxrss_mb(), "voxels_first5_median": _median(voxels[:5]),
                         "voxels_end": voxels[-1] if voxels else None, "voxels_per_chunk": voxels,
                         "memory_frames": res.memory.num_frames,
                         "rss_mb_per_chunk": rss}
    # Chunk cost at chunks 2, 10, 50, 100 (median of the 5 chunks around each), as ratios to chunk 2.
    marks = [k for k in (2, 10, 50, 100, 250) if k <= len(times)]
    at = {k: _median(times[max(0, k - 3): k + 2]) for k in marks}
    results["chunks"]["at_chunk_s"] = {str(k): at[k] for k in marks}
    results["chunks"]["ratio_to_chunk2"] = {str(k): at[k] / at[2] for k in marks} if 2 in at else {}
    print("  chunk wall time at chunk " + ", ".join(f"{k}: {at[k] * 1e3:.0f} ms ({at[k] / at[2]:.2f}x chunk 2)" for k in marks))
    results["laps"] = _laps(res.frames.float(), voxels, context, chunk)
    laps = results["laps"]
    print(f"  laps of the loop ({laps['laps']} complete): same-pose PSNR vs lap 2 " + ", ".join(
        f"lap {k}: {v:.2f}" for k, v in laps["same_pose_psnr_vs_lap2"].items() if int(k) in (3, 5, 10, 15, 20))
        + "; map voxels at lap end " + ", ".join(f"lap {k}: {v}" for k, v in laps["voxels_at_lap_end"].items()
                                                  if int(k) in (1, 2, 3, 10, 20)))
    results["rebuild_baseline"] = _rebuild_baseline(res, cams, context, chunk, [k for k in marks if k <= 100])
    m = results["memory"]
    print(f"  memory: RSS {m['rss_start_mb']:.0f} MiB at start, peak {m['rss_peak_mb']:.0f} MiB over the rollout "
          f"(first 5 chunks {first_rss:.0f}, last 5 {last_rss:.0f}: ratio {m['rss_last5_over_first5']:.3f}; peak of "
          f"the last 10 over chunks 20-30: {m['rss_last10_over_chunks20_30'] or float('nan'):.3f}); "
          f"map {m['voxels_end']} voxels")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(f"wrote {out}")
    return results
