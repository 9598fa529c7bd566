"""``python -m eval bench explore``: the explorer's chunk latency, headless, stage by stage.

It drives ``worldmem explore`` as a user would, without a browser: the shipped tiny model (``--checkpoint DIR``
for another), a new world in the held-out procedural scene ``synthetic:1000000``, the real page (a viser server
on a free port, no tab open) and the real worker, fed a fixed walk of moves (forward, turns, strafes, up, down)
that ends with a return to a bookmark, ``repeats`` times (``--quick``: a shorter walk). Each chunk's stages are
the pipeline's own timings (read, denoise, decode, depth+align, write) plus sending to the page (the map's new
points, the path, cameras and frames), exactly what ``worldmem explore`` prints per chunk.

The json (default ``outputs/bench/explore.json``): the model and its chunk size and steps; per stage the median
milliseconds and its share of all chunks' time (``other`` is what no stage names: the pipeline call's checks and
set-up); the median chunk latency and the target (``target_ms`` 250: 4 frames, 8 steps on a 2-core CPU), the
chunks' frames per second (``chunk_fps``: frames over the median chunk) and end to end (``end_to_end_fps``: all
frames over the whole walk's wall time, queueing included); the map's points at the end; the machine's load
average (a busy machine slows every stage alike). The first chunk (warm-up: caches, lazy imports) is excluded
from the medians.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import torch

from worldmem.utils.io import atomic_write_json

__all__ = ["WALK", "bench_explore"]

WALK = "BWWQWWQWEEEDDWRFSSAG"
"""The walk of one repetition (letters of ``worldmem explore --moves``): B bookmark ... G go back to it."""
QUICK_WALK = "BWQEG"
SCENE_SEED = 1_000_000
TARGET_MS = 250.0
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny"


def bench_explore(out: Path, repeats: int = 5, quick: bool = False, checkpoint: Path | None = None) -> dict:
    import viser

    from worldmem.explore.arguments import DEFAULT_THREADS, MOVE_KEYS, free_port
    from worldmem.explore.latency import STAGES
    from worldmem.explore.page import Page
    from worldmem.explore.worker import Worker
    from worldmem.explore.world import World
    from worldmem.pipelines import load_pipeline

    checkpoint = DEFAULT_CHECKPOINT if checkpoint is None else checkpoint
    threads = torch.get_num_threads()
    torch.set_num_threads(DEFAULT_THREADS)  # as worldmem explore runs the model (restored at the end)
    pipe = load_pipeline(checkpoint)
    with torch.no_grad():
        world = World.from_scene(pipe, SCENE_SEED)
    server = viser.ViserServer(host="127.0.0.1", port=free_port(), verbose=False)
    lines: list[str] = []
    try:
        up = -world.cameras.world_from_cam[0, :3, 1].double().numpy()
        page = Page(server, {}, None, world.memory.scene_scale or 1.0, up)
        worker = Worker(world, page, Path(out).parent / "explore-world", [], out=lines.append)
        worker.start()
        walk = (QUICK_WALK if quick else WALK) * repeats
        t0 = time.perf_counter()
        for i, key in enumerate(walk):
            action = MOVE_KEYS[key]
            if action == "bookmark":
                worker.bookmark()
            elif action == "return":
                worker.go_back()
            else:
                while not worker.move(action):
                    time.sleep(0.01)
            if i % 10 == 9:
                print(f"  queued {i + 1}/{len(walk)} moves, {len(worker.reports)} chunks done", flush=True)
        worker.wait()
        wall = time.perf_counter() - t0
        worker.stop()
        page.close()
    finally:
        server.stop()
        torch.set_num_threads(threads)

    reports = worker.reports[1:]  # the first chunk warms up
    totals = [r.total for r in reports]
    median_total = statistics.median(totals)
    all_time = sum(totals)
    stages = {}
    for key, name in STAGES.items():
        values = [r.stages.get(key, 0.0) for r in reports]
        stages[name] = {"median_ms": statistics.median(values) * 1e3, "share": sum(values) / all_time}
    other = [r.total - sum(r.stages.values()) for r in reports]
    stages["other"] = {"median_ms": statistics.median(other) * 1e3, "share": sum(other) / all_time}
    frames = sum(r.frames for r in worker.reports)
    results = {
        "model": str(checkpoint), "chunk_size": world.chunk_size, "steps": world.steps,
        "frame_size": list(pipe.frame_size), "scene": f"synthetic:{SCENE_SEED}", "walk": walk, "quick": quick,
        "repeats": repeats, "chunks": len(worker.reports), "chunks_timed": len(reports),
        "median_chunk_ms": median_total * 1e3, "p90_chunk_ms": statistics.quantiles(totals, n=10)[-1] * 1e3
        if len(totals) >= 2 else median_total * 1e3,
        "target_ms": TARGET_MS, "meets_target": median_total * 1e3 <= TARGET_MS, "stages": stages,
        "chunk_fps": world.chunk_size / median_total, "end_to_end_fps": frames / wall, "wall_s": wall,
        "map_points": worker.map_points, "points_sent": worker.increments.sent,
        "machine": {"cpu_threads": DEFAULT_THREADS, "cpus": os.cpu_count(), "load_average":
                    list(os.getloadavg()), "python": platform.python_version(), "torch": torch.__version__},
        "lines": lines,
    }
    print(f"explore bench: {checkpoint}, chunks of {world.chunk_size} frames, {world.steps} steps, "
          f"{results['chunks_timed']} chunks timed (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"  median chunk {median_total * 1e3:.0f} ms (target {TARGET_MS:.0f} ms: "
          f"{'met' if results['meets_target'] else 'NOT met'}), p90 {results['p90_chunk_ms']:.0f} ms, "
          f"{results['chunk_fps']:.1f} fps per chunk, {results['end_to_end_fps']:.1f} fps end to end")
    print("  stages (median ms, share): " + ", ".join(f"{name} {s['median_ms']:.0f} ms {s['share']:.0%}"
                                                     for name, s in stages.items()))
    print(f"  map: {worker.map_points:,} points at the end, {worker.increments.sent:,} sent in increments")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(f"wrote {out}")
    return results
