"""Benchmarks, by name. Each is ``fn(out: Path, repeats: int, quick: bool) -> dict``."""

from eval.bench.curation import bench_curation
from eval.bench.geometry import bench_geometry

BENCHMARKS = {"curation": bench_curation, "geometry": bench_geometry}
