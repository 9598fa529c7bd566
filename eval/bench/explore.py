"""``python -m eval bench explore``: the explorer's chunk latency, headless, stage by stage.

It drives ``worldmem explore`` as a user would, without a browser: the shipped tiny model (``--checkpoint DIR``
for another), a new world in the held-out procedural scene ``synthetic:1000000``, the real page (a viser server
on a free port, no tab open) and the real worker, fed a fixed walk of moves (forward, turns, strafes, up, down)
that ends with a return to a bookmark, ``repeats`` times (``--quick``: a shorter walk). Each chunk's stages are
the pipeline's own timings (read, denoise, decode, depth+align, write) plus sending to the page (the map's new
points, the path, cameras and frames), exactly what ``worldmem explore`` prints per chunk.

Both of the explorer's modes are measured in one run, each on a new pipeline and world along the same walk:
``eager`` (``--no-compile``) and ``compiled`` (the default: the transformer blocks compiled and warmed up before
the walk, :mod:`worldmem.explore.compiled`; the seconds that took are ``compile_s``). Interleaving is not
possible (a compiled block stays compiled), so the eager walk runs first; the load average is recorded.

The json (default ``outputs/bench/explore.json``): the model and its chunk size and steps; the default mode's
median chunk latency against the target (``target_ms`` 250: 4 frames, 8 steps on a 2-core CPU) and
``compiled_over_eager`` (the ratio of the two medians); per mode (``modes``): per stage the median milliseconds
and its share of all chunks' time (``other`` is what no stage names: the pipeline call's checks and set-up), the
median and p90 chunk latency, the chunks' frames per second (``chunk_fps``: frames over the median chunk) and
end to end (``end_to_end_fps``: all frames over the whole walk's wall time, queueing included), the map's points
at the end and the printed chunk lines; the machine's load average (a busy machine slows every stage alike).
The first chunk of each walk is excluded from the medians.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import torch

from worldmem.utils.io import atomic_write_json

__all__ = ["MODES", "WALK", "bench_explore"]

WALK = "BWWQWWQWEEEDDWRFSSAG"
"""The walk of one repetition (letters of ``worldmem explore --moves``): B bookmark ... G go back to it."""
QUICK_WALK = "BWQEG"
SCENE_SEED = 1_000_000
TARGET_MS = 250.0
DEFAULT_MODE = "compiled"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "worldmem-tiny"


MODES = ("eager", "compiled")
"""Both of ``worldmem explore``'s modes, measured in one run: ``--no-compile`` and the default ``--compile``."""


def _walk_once(checkpoint: Path, mode: str, walk: str, out: Path) -> dict:
    """One mode's walk on a new pipeline and world; its chunk reports and what they add up to."""
    import viser

    from worldmem.explore.arguments import DEFAULT_THREADS, MOVE_KEYS, free_port
    from worldmem.explore.latency import STAGES
    from worldmem.explore.page import Page
    from worldmem.explore.worker import Worker
    from worldmem.explore.world import World
    from worldmem.pipelines import load_pipeline

    torch.set_num_threads(1)  # as worldmem explore loads; the worker's thread runs the model on DEFAULT_THREADS
    pipe = load_pipeline(checkpoint)
    with torch.no_grad():
        world = World.from_scene(pipe, SCENE_SEED)
    server = viser.ViserServer(host="127.0.0.1", port=free_port(), verbose=False)
    lines: list[str] = []
    try:
        up = -world.cameras.world_from_cam[0, :3, 1].double().numpy()
        page = Page(server, {}, None, world.memory.scene_scale or 1.0, up)
        worker = Worker(world, page, Path(out).parent / "explore-world", [], out=lines.append,
                        threads=DEFAULT_THREADS, compile=mode == "compiled")
        worker.start()
        worker.ready.wait()  # the compiling is not part of the walk (its seconds are compile_s)
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
                print(f"  {mode}: queued {i + 1}/{len(walk)} moves, {len(worker.reports)} chunks done", flush=True)
        worker.wait()
        wall = time.perf_counter() - t0
        worker.stop()
        page.close()
    finally:
        server.stop()

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
    return {
        "chunk_size": world.chunk_size, "steps": world.steps, "frame_size": list(pipe.frame_size),
        "compile_s": worker.compile_s, "chunks": len(worker.reports), "chunks_timed": len(reports),
        "median_chunk_ms": median_total * 1e3,
        "p90_chunk_ms": statistics.quantiles(totals, n=10)[-1] * 1e3 if len(totals) >= 2 else median_total * 1e3,
        "stages": stages, "chunk_fps": world.chunk_size / median_total, "end_to_end_fps": frames / wall,
        "wall_s": wall, "map_points": worker.map_points, "points_sent": worker.increments.sent, "lines": lines,
    }


def bench_explore(out: Path, repeats: int = 5, quick: bool = False, checkpoint: Path | None = None) -> dict:
    from worldmem.explore.arguments import DEFAULT_THREADS

    checkpoint = DEFAULT_CHECKPOINT if checkpoint is None else checkpoint
    threads = torch.get_num_threads()  # (restored at the end)
    walk = (QUICK_WALK if quick else WALK) * repeats
    try:
        modes = {mode: _walk_once(checkpoint, mode, walk, out) for mode in MODES}
    finally:
        torch.set_num_threads(threads)
    default = modes[DEFAULT_MODE]
    results = {
        "model": str(checkpoint), "chunk_size": default["chunk_size"], "steps": default["steps"],
        "frame_size": default["frame_size"], "scene": f"synthetic:{SCENE_SEED}", "walk": walk, "quick": quick,
        "repeats": repeats, "default_mode": DEFAULT_MODE, "target_ms": TARGET_MS,
        "median_chunk_ms": default["median_chunk_ms"], "meets_target": default["median_chunk_ms"] <= TARGET_MS,
        "compiled_over_eager": modes["compiled"]["median_chunk_ms"] / modes["eager"]["median_chunk_ms"],
        "modes": modes,
        "machine": {"cpu_threads": DEFAULT_THREADS, "cpus": os.cpu_count(), "load_average":
                    list(os.getloadavg()), "python": platform.python_version(), "torch": torch.__version__},
    }
    print(f"explore bench: {checkpoint}, chunks of {default['chunk_size']} frames, {default['steps']} steps, "
          f"{default['chunks_timed']} chunks timed per mode (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")
    for mode, r in modes.items():
        note = f", compiled in {r['compile_s']:.1f} s" if mode == "compiled" else ""
        print(f"  {mode}{' (default)' if mode == DEFAULT_MODE else ''}: median chunk {r['median_chunk_ms']:.0f} ms, "
              f"p90 {r['p90_chunk_ms']:.0f} ms, {r['chunk_fps']:.1f} fps per chunk, {r['end_to_end_fps']:.1f} fps end "
              f"to end{note}")
        print("    stages (median ms, share): " + ", ".join(f"{name} {s['median_ms']:.0f} ms {s['share']:.0%}"
                                                         for name, s in r["stages"].items()))
    print(f"  compiled / eager: {results['compiled_over_eager']:.2f}; target {TARGET_MS:.0f} ms "
          f"({DEFAULT_MODE}): {'met' if results['meets_target'] else 'NOT met'}")
    print(f"  map: {default['map_points']:,} points at the end, {default['points_sent']:,} sent in increments")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(f"wrote {out}")
    return results
