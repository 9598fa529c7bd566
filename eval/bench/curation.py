"""``python -m eval bench curation``: curation throughput on the synthetic source, both engines, in one run.

Each measurement is a complete ``data_curation build --source synthetic:N`` into a fresh folder (rendering,
TSDF fusion, memory reads, shard writing, manifest; with 2 workers also starting the worker processes),
timed ``repeats`` times; the figures are medians. The default config is the tiny model's
(``CurationConfig()``: 64x64, 2 samples per clip); ``--quick`` uses 24x24 frames and short clips.

Rows: ``workers`` ``"1"`` and ``"2"``: the local engine (``--workers 1``, ``--workers 2``); ``ray`` ``"2"``:
``--engine ray --workers 2`` as the command runs it, each build starting (and stopping) its local 2-CPU Ray;
``ray_running`` ``"2"``: the same on a Ray started once before the builds, as on a cluster (``--address``).
The ratios (``speedup_2_over_1``, ``ray_2_over_local_2``, ``ray_running_2_over_local_2``) compare clips per
minute of the same run. Wall-clock figures depend on what else runs on the machine, so the CPU seconds per clip
(this process and its workers) are reported for the local rows; Ray's workers are not this process's children,
so its rows have ``cpu_seconds_per_clip: null``. Each row also keeps every repeat (``all_seconds``,
``all_cpu_seconds``) and the clips and samples one build made. Without ray installed the Ray rows are null.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import resource
import statistics
import tempfile
from pathlib import Path

import torch

from data_curation.build import run_build
from worldmem.data.config import CurationConfig
from worldmem.utils.io import atomic_write_json

QUICK = dict(image_size=(24, 24), voxel_size=0.05, synthetic_supersample=1, synthetic_frames=10, source_frames=8,
             min_source_frames=4, target_frames=2, working_frames=1, max_keyframes=2, samples_per_clip=1)


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the worker pools)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _measure(clips: int, config: CurationConfig, repeats: int, **build_kw) -> dict:
    seconds, cpu, samples = [], [], 0
    for _ in range(repeats):
        cpu0 = _cpu_seconds()
        with tempfile.TemporaryDirectory() as tmp:
            res = run_build([f"synthetic:{clips}"], Path(tmp) / "out", config, progress=False, **build_kw)
        if res.clips_failed:
            raise RuntimeError(f"bench build failed on {res.clips_failed} clips: {res.summary}")
        seconds.append(res.seconds)
        cpu.append(_cpu_seconds() - cpu0)
        samples = res.samples
    s = statistics.median(seconds)
    local = build_kw.get("engine", "local") == "local"
    return {"seconds": s, "clips": clips, "samples": samples, "clips_per_min": clips / s * 60,
            "samples_per_min": samples / s * 60,
            "cpu_seconds_per_clip": statistics.median(cpu) / clips if local else None,
            "all_seconds": seconds, "all_cpu_seconds": cpu if local else None}


def _print_row(name: str, row: dict) -> None:
    cpu = "" if row["cpu_seconds_per_clip"] is None else f", {row['cpu_seconds_per_clip']:.2f} CPU s per clip"
    print(f"  {name}: {row['clips_per_min']:6.1f} clips/min  {row['samples_per_min']:6.1f} samples/min  "
          f"({row['seconds']:.1f} s per build{cpu})")


def _ray_rows(clips: int, config: CurationConfig, repeats: int) -> tuple[dict | None, dict | None]:
    """``--engine ray --workers 2``: each build with its own local Ray, then all builds on one running Ray."""
    try:
        import ray
    except ImportError:
        print('  ray: not installed (pip install -e ".[ray]"); no Ray rows')
        return None, None
    cold = _measure(clips, config, repeats, workers=2, engine="ray")
    _print_row("ray, 2 workers (a local Ray per build)", cold)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    try:
        _measure(clips, config, 1, workers=2, engine="ray")  # untimed: the workers' first import of torch
        warm = _measure(clips, config, repeats, workers=2, engine="ray")
    finally:
        ray.shutdown()
    _print_row("ray, 2 workers (a running Ray)", warm)
    return cold, warm


def bench_curation(out: Path, repeats: int = 5, quick: bool = False) -> dict:
    config = CurationConfig(**QUICK) if quick else CurationConfig()
    clips = 4 if quick else 8
    config = dataclasses.replace(config, clips_per_shard=1)
    results: dict = {"machine": {"cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
                                 "torch": torch.__version__},
                     "source": f"synthetic:{clips}", "config": config.to_dict(), "repeats": repeats, "workers": {}}
    print(f"curation of synthetic:{clips} at {config.height}x{config.width}, {config.samples_per_clip} samples/clip "
          f"(median of {repeats} complete builds)")
    for workers in (1, 2):
        results["workers"][str(workers)] = row = _measure(clips, config, repeats, workers=workers)
        _print_row(f"workers {workers}", row)
    cold, warm = _ray_rows(clips, config, repeats)
    results["ray"], results["ray_running"] = {"2": cold} if cold else None, {"2": warm} if warm else None
    local1, local2 = results["workers"]["1"]["clips_per_min"], results["workers"]["2"]["clips_per_min"]
    ratios = {"speedup_2_over_1": ("2 workers / 1 worker", local2 / local1)}
    if cold:
        ratios["ray_2_over_local_2"] = ("ray 2 workers (a local Ray per build) / local 2 workers",
                                        cold["clips_per_min"] / local2)
        ratios["ray_2_over_local_1"] = ("ray 2 workers (a local Ray per build) / local 1 worker",
                                        cold["clips_per_min"] / local1)
        ratios["ray_running_2_over_local_2"] = ("ray 2 workers (a running Ray) / local 2 workers",
                                                warm["clips_per_min"] / local2)
    for key, (what, ratio) in ratios.items():
        results[key] = ratio
        print(f"  {what}: {ratio:.2f}x throughput (same run)")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(f"wrote {out}")
    return results
