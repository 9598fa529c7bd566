"""Benchmarks, by name. Each is ``fn(out: Path, repeats: int, quick: bool, **kw) -> dict``.

``gpu`` (eval/bench/gpu.py: GPU results against the CPU's, bf16 training, one full-size chunk; ``--device``,
``--tiny``) is not part of ``all``. The memory budget of training a config is ``python -m train budget``
(train/budget.py).

``explore`` (eval/bench/explore.py: ``worldmem explore``'s chunk latency per stage, headless, with the shipped
tiny model or ``--checkpoint``; needs ``pip install -e ".[explore]"``) is not part of ``all`` either.

``all`` runs geometry, rollout and curation in turn (each also writes its own ``NAME.json`` next to ``out``)
and gathers their results into ``out`` (default ``outputs/bench/bench.json``): ``{"machine", "quick",
"repeats", "seconds", "benchmarks": {"geometry": ..., "rollout": ..., "curation": ...}}``.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from eval.bench.curation import bench_curation
from eval.bench.explore import bench_explore
from eval.bench.geometry import bench_geometry
from eval.bench.gpu import bench_gpu
from eval.bench.rollout import bench_rollout
from worldmem.utils.io import atomic_write_json

ALL_ORDER = ("geometry", "rollout", "curation")


def bench_all(out: Path, repeats: int = 5, quick: bool = False, checkpoint: Path | None = None) -> dict:
    gathered: dict = {}
    t0 = time.perf_counter()
    for name in ALL_ORDER:
        print(f"== bench {name}")
        kwargs = {"checkpoint": checkpoint} if name in CHECKPOINT_BENCHMARKS and checkpoint is not None else {}
        gathered[name] = BENCHMARKS[name](out=Path(out).parent / f"{name}.json", repeats=repeats, quick=quick,
                                          **kwargs)
    results = {"machine": {"cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
                           "torch": torch.__version__},
               "quick": quick, "repeats": repeats, "seconds": time.perf_counter() - t0, "benchmarks": gathered}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(f"wrote {out}")
    return results


BENCHMARKS = {"curation": bench_curation, "geometry": bench_geometry, "rollout": bench_rollout, "all": bench_all,
              "gpu": bench_gpu, "explore": bench_explore}
CHECKPOINT_BENCHMARKS = {"rollout", "all", "explore"}
DEVICE_BENCHMARKS = {"gpu"}
"""Benchmarks that take ``--device`` and ``--tiny``."""
