"""Benchmarks, by name. Each is ``fn(out: Path, repeats: int, quick: bool) -> dict``."""

from eval.bench.geometry import bench_geometry

BENCHMARKS = {"geometry": bench_geometry}
