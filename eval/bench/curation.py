"""``python -m eval bench curation``: curation throughput on the synthetic source, 1 and 2 workers.

Each measurement is a complete ``data_curation build --source synthetic:N`` into a fresh folder (rendering,
TSDF fusion, memory reads, shard writing, manifest; with 2 workers also starting the worker processes),
timed ``repeats`` times; the figures are medians. The default config is the tiny model's
(``CurationConfig()``: 64x64, 2 samples per clip); ``--quick`` uses 24x24 frames and short clips.
Wall-clock figures depend on what else runs on the machine, so the CPU seconds per clip (this process and its
workers) are reported too. Each row also keeps every repeat (``all_seconds``, ``all_cpu_seconds``) and the
clips and samples one build made.
"""

from __future__ import annotations

import dataclasses
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
        seconds, cpu, samples = [], [], 0
        for _ in range(repeats):
            cpu0 = _cpu_seconds()
            with tempfile.TemporaryDirectory() as tmp:
                res = run_build([f"synthetic:{clips}"], Path(tmp) / "out", config, workers=workers, progress=False)
            if res.clips_failed:
                raise RuntimeError(f"bench build failed on {res.clips_failed} clips: {res.summary}")
            seconds.append(res.seconds)
            cpu.append(_cpu_seconds() - cpu0)
            samples = res.samples
        s = statistics.median(seconds)
        row = {"seconds": s, "clips": clips, "samples": samples, "clips_per_min": clips / s * 60,
               "samples_per_min": samples / s * 60, "cpu_seconds_per_clip": statistics.median(cpu) / clips,
               "all_seconds": seconds, "all_cpu_seconds": cpu}
        results["workers"][str(workers)] = row
        print(f"  workers {workers}: {row['clips_per_min']:6.1f} clips/min  {row['samples_per_min']:6.1f} samples/min  "
              f"({s:.1f} s per build, {row['cpu_seconds_per_clip']:.2f} CPU s per clip)")
    ratio = results["workers"]["2"]["clips_per_min"] / results["workers"]["1"]["clips_per_min"]
    results["speedup_2_over_1"] = ratio
    print(f"  2 workers / 1 worker: {ratio:.2f}x throughput (same run)")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(f"wrote {out}")
    return results
