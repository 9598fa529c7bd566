"""``python -m eval bench geometry``: point rendering and TSDF integration throughput.

Measures, in one run on the same inputs (medians over ``repeats``):
- ``render_points`` (torch z-buffer) at 100 k and 1 M points into one 256x256 camera, as points/s, without
  and with the splat footprint; pytorch3d's point rasterizer on the same points when it is installed;
- ``SparseTSDF.integrate`` per 256x256 synthetic frame (ms), with carving (the default) and without (Open3D's
  band-only integration, the like-for-like row), and Open3D's ``ScalableTSDFVolume`` (0.19) on the
  same frames with the same voxel size and truncation, when installed; ratios are Open3D / ours. Each is timed back
  to back (warm); ours without carving and Open3D are also timed in interleaved rounds (one of each per round,
  each starting cold after the other), and ``open3d_over_ours_no_carve_interleaved`` is the median of those
  round-by-round ratios. Both sides run multi-threaded (torch's intra-op threads, Open3D's OpenMP loops), so the
  TSDF rows are measured twice: at this process's thread settings (``tsdf``), and in a child process with
  ``OMP_NUM_THREADS=1`` where each side runs on one thread (``tsdf_one_thread``): on a small shared machine a
  busy second core slows a two-thread run by up to 2x, and not both sides alike.

Every timing records its median (``ms``) and all its repeats (``all_ms``); the TSDF section records the voxel
size and truncation each side ran with (Open3D's read back from its volume).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from eval.bench.timing import interleaved_seconds, repeat_seconds
from worldmem.geometry import trajectories
from worldmem.geometry.render import available_backends, render_points
from worldmem.geometry.tsdf import SparseTSDF
from worldmem.synthetic import SyntheticScene
from worldmem.utils.io import atomic_write_json

_REPO = Path(__file__).resolve().parents[2]
TSDF_VOXEL, TSDF_TRUNC_VOXELS = 0.05, 4.0
# Point counts rendered, by ``quick``.
RENDER_POINTS = {True: (20_000, 200_000), False: (100_000, 1_000_000)}


def _points_in_view(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # A slab of points 1.5 to 6 units in front of a camera at the origin looking along +x.
    pts = torch.rand(n, 3, generator=g) * torch.tensor([4.5, 6.0, 6.0]) + torch.tensor([1.5, -3.0, -3.0])
    return pts, torch.rand(n, 3, generator=g)


def _open3d_integrator(frames, depth, cams, voxel_size, trunc):
    try:
        import numpy as np
        import open3d as o3d
    except ImportError:
        return None

    def run():
        vol = o3d.pipelines.integration.ScalableTSDFVolume(
            voxel_length=voxel_size, sdf_trunc=trunc, color_type=o3d.pipelines.integration.TSDFVolumeColorType.RGB8)
        for i in range(len(cams)):
            k = cams.K[i]
            intr = o3d.camera.PinholeCameraIntrinsic(cams.width, cams.height, float(k[0, 0]), float(k[1, 1]),
                                                     float(k[0, 2]) - 0.5, float(k[1, 2]) - 0.5)
            color = o3d.geometry.Image(np.ascontiguousarray((frames[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8)))
            dimg = o3d.geometry.Image(np.ascontiguousarray(depth[i, 0].numpy().astype(np.float32)))
            rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
                color, dimg, depth_scale=1.0, depth_trunc=100.0, convert_rgb_to_intensity=False)
            vol.integrate(rgbd, intr, cams.cam_from_world[i].double().numpy())
        return vol

    return run


def _timed(fn, repeats: int, per: float = 1.0) -> dict:
    """``{"ms": median, "all_ms": every repeat}``, in milliseconds divided by ``per`` (e.g. per frame)."""
    all_ms = [t * 1e3 / per for t in repeat_seconds(fn, repeats)]
    return {"ms": statistics.median(all_ms), "all_ms": all_ms}


def bench_geometry(out: Path, repeats: int = 5, quick: bool = False) -> dict:
    torch.manual_seed(0)
    size = 128 if quick else 256
    results: dict = {"machine": {"cpu_threads": torch.get_num_threads(), "python": platform.python_version(),
                                 "torch": torch.__version__}, "image_size": size, "repeats": repeats,
                     "render": {}, "tsdf": {}}
    cam = trajectories.look_around(1, position=(0.0, 0.0, 0.0), height=size, width=size, fov_deg=70.0)
    print(f"render_points into one {size}x{size} camera (median of {repeats})")
    for n in RENDER_POINTS[quick]:
        pts, cols = _points_in_view(n)
        row = {}
        for label, kwargs in (("torch", {}), ("torch_splat", {"radius": 0.02})):
            row[label] = _timed(lambda kw=kwargs, p=pts, c=cols: render_points(p, c, cam, **kw), repeats)
        if "pytorch3d" in available_backends():
            row["pytorch3d"] = _timed(lambda p=pts, c=cols: render_points(p, c, cam, backend="pytorch3d"), repeats)
        for timing in row.values():
            timing["points_per_s"] = n / (timing["ms"] / 1e3)
        if "pytorch3d" in row:
            row["pytorch3d_over_torch_time"] = row["pytorch3d"]["ms"] / row["torch"]["ms"]
        results["render"][str(n)] = row
        line = "  ".join(f"{k} {v['ms']:.1f} ms ({v['points_per_s'] / 1e6:.1f} M pts/s)"
                         for k, v in row.items() if isinstance(v, dict))
        print(f"  {n:>9,d} points: {line}")

    print(f"TSDF integration, {4 if quick else 8} frames of {size}x{size}, voxel {TSDF_VOXEL}, "
          f"trunc {TSDF_TRUNC_VOXELS} voxels")
    print(f"  {torch.get_num_threads()} torch threads, OpenMP (Open3D) as the environment sets it:")
    results["tsdf"] = tsdf_timings(quick, repeats)
    # Open3D's integration runs OpenMP loops: with one thread each side, neither gains from the second core
    # nor loses to whatever else runs on it.
    print("  one thread each (a child process with OMP_NUM_THREADS=1):", flush=True)
    results["tsdf_one_thread"] = _one_thread_child(quick, repeats)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, results)
    print(f"wrote {out}")
    return json.loads(json.dumps(results))


def tsdf_timings(quick: bool, repeats: int) -> dict:
    """The TSDF rows in this process, at its thread settings (see the module notes)."""
    scene = SyntheticScene.random(seed=0, dynamic=False, kind="room")
    lo, hi = scene.free_box
    center = ((lo + hi) / 2).tolist()
    size, n_frames = (128, 4) if quick else (256, 8)
    cams = trajectories.look_around(n_frames, position=center, yaw_range_deg=120.0, height=size, width=size,
                                    fov_deg=70.0)
    frames, depth = scene.render(cams)
    voxel, trunc_voxels = TSDF_VOXEL, TSDF_TRUNC_VOXELS

    def ours(carve: bool = True):
        tsdf = SparseTSDF(voxel_size=voxel, trunc_voxels=trunc_voxels, carve=carve)
        tsdf.integrate(frames, depth, cams)
        return tsdf

    tsdf = ours()
    res = {"threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
           "frames": n_frames, "voxel_size": tsdf.voxel_size, "trunc": tsdf.trunc, "voxels": tsdf.num_voxels}
    # Carving off is what Open3D does (it integrates the truncation band only): the like-for-like row. Each is
    # timed back to back (warm: its buffers stay mapped between repeats), and ours without carving and Open3D
    # once more in interleaved rounds (a busy spell of the machine weighs on both alike, and each starts after the
    # other has run: cold, as in a rollout where the model runs between two integrations).
    runs = {"ours": ours, "ours_no_carve": lambda: ours(carve=False)}
    o3d_run = _open3d_integrator(frames, depth, cams, tsdf.voxel_size, tsdf.trunc)
    if o3d_run is not None:
        vol = o3d_run()
        # Read back from the volume, so the json shows what Open3D actually ran with.
        res["open3d_voxel_size"], res["open3d_trunc"] = vol.voxel_length, vol.sdf_trunc
        runs["open3d"] = o3d_run
    for name, fn in runs.items():
        all_ms = [t * 1e3 / n_frames for t in repeat_seconds(fn, repeats)]
        res[f"{name}_ms_per_frame"], res[f"{name}_all_ms_per_frame"] = statistics.median(all_ms), all_ms
    print(f"    ours (sparse-voxel torch): {res['ours_ms_per_frame']:.1f} ms/frame with carving, "
          f"{res['ours_no_carve_ms_per_frame']:.1f} ms/frame without")
    if o3d_run is not None:
        res["open3d_over_ours_time"] = res["open3d_ms_per_frame"] / res["ours_ms_per_frame"]
        res["open3d_over_ours_no_carve_time"] = res["open3d_ms_per_frame"] / res["ours_no_carve_ms_per_frame"]
        pair = interleaved_seconds({"ours_no_carve": runs["ours_no_carve"], "open3d": o3d_run}, repeats)
        res["interleaved_all_ms_per_frame"] = {k: [t * 1e3 / n_frames for t in v] for k, v in pair.items()}
        res["open3d_over_ours_no_carve_interleaved"] = statistics.median(
            o / n for o, n in zip(pair["open3d"], pair["ours_no_carve"], strict=True))
        print(f"    open3d ScalableTSDFVolume: {res['open3d_ms_per_frame']:.1f} ms/frame (open3d time / ours = "
              f"{res['open3d_over_ours_time']:.2f} with carving, {res['open3d_over_ours_no_carve_time']:.2f} without; "
              f"in interleaved rounds, cold, {res['open3d_over_ours_no_carve_interleaved']:.2f} without)", flush=True)
    else:
        res["open3d_ms_per_frame"] = None
        print("    open3d: not installed (pip install -e '.[dev]')")
    return res


def _one_thread_child(quick: bool, repeats: int) -> dict:
    """:func:`tsdf_timings` in a child process with ``OMP_NUM_THREADS=1`` (OpenMP reads it once, at start-up)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tsdf.json"
        cmd = [sys.executable, "-c", "import sys; from eval.bench.geometry import main; sys.exit(main(sys.argv[1:]))",
               "--repeats", str(repeats), "--out", str(out)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        subprocess.run(cmd + (["--quick"] if quick else []), env=env, check=True, cwd=_REPO)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    """The child of :func:`_one_thread_child`: the TSDF rows alone, as JSON."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench.geometry", description=main.__doc__)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    atomic_write_json(args.out, tsdf_timings(args.quick, args.repeats))
    return 0
