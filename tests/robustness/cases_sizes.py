"""Sizes without bounds and numeric edges (issue 22, classes 5 and 6).

``sizes``: a saved memory that claims 10**9 frames or a huge image / sky / window, a memory.json or safetensors
header beyond its bound, run sizes of the commands (``--num-frames``, ``--steps``, ``--scenes``, ``--workers``,
``synthetic:N``) and of the API (cameras, path lengths, splat radii, denoising steps). Each is refused in one line
before anything is allocated or started. ``numeric``: NaN-free but degenerate numbers (depth 1e30 or 1e-40, focal
lengths of 1e-30 or 1e30 pixels, a camera looking straight down, a zero up vector, cameras 1e30 away, guidance 1e30,
no cameras at all): one ``ValueError`` naming the argument, or a documented result.

Several of these would, on the code before the bounds, allocate tens of GB or run for hours (a memory claiming 10**9
frames, ``synthetic:10**10``, ``--num-frames 100000``): the cases are only safe to run against code that refuses them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from tests.robustness import fixtures as fx
from tests.robustness.runner import Case

GEN = "worldmem generate"
EVAL = "python -m eval"
CUR = "python -m data_curation"
S, N = "sizes", "numeric"


# ------------------------------------------------------------------------------------------------ helpers
def _memory_copy(tmp: Path, base: Path, edit=None, empty: bool = False) -> Path:
    folder = fx.copy_of(fx.empty_memory(base) if empty else fx.memory(base), tmp, "mem")
    if edit is not None:
        fx.edit_json(folder / "memory.json", edit)
    return folder


def _load(edit, empty: bool = False):
    def build(tmp: Path, base: Path):
        from worldmem.memory import WorldMemory

        WorldMemory.load(_memory_copy(tmp, base, edit, empty))
    return build


def _set(**values):
    return lambda d: d.update(values)


def _config(section: str, **values):
    return lambda d: d["config"][section].update(values)


def _big_json(tmp: Path, base: Path):
    from worldmem.memory import WorldMemory

    folder = _memory_copy(tmp, base, lambda d: d["metadata"].update(notes="x" * (17 << 20)))
    WorldMemory.load(folder)


def _big_header(tmp: Path, base: Path):
    """A valid safetensors file whose header is padded to 2 MB (its ``__metadata__``)."""
    from safetensors.torch import load_file, save_file

    from worldmem.memory import WorldMemory

    folder = _memory_copy(tmp, base)
    state = load_file(str(folder / "memory.safetensors"))
    save_file(state, str(folder / "memory.safetensors"), metadata={"pad": "x" * (2 << 20)})
    WorldMemory.load(folder)


def _gen(*args, memory=None):
    """argv of ``worldmem generate`` (random tiny model, one step) + ``args``; ``memory(tmp, base)`` -> resumed."""
    def build(tmp: Path, base: Path) -> list[str]:
        argv = ["--random-init", "--steps", "1", "--out", str(tmp / "out")]
        if memory is not None:
            argv += ["--resume-memory", str(memory(tmp, base))]
        return [*argv, *args]
    return build


def _scene(*args):
    return _gen("--scene", "synthetic:1", *args)


def _resume(edit):
    return lambda tmp, base: _memory_copy(tmp, base, edit)


def _path_record(n: int):
    def edit(d):
        d["metadata"]["path"] = {**fx.SCENE_PATH, "num_frames": n}
    return edit


def _revisit(*args):
    return lambda tmp, base: ["revisit", "--checkpoint", str(fx.CHECKPOINT), "--out", str(tmp / "out"), *args]


def _build(*args):
    return lambda tmp, base: ["build", "--out", str(tmp / "out"), "--no-progress", *args]


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _workers_over_cpus(tmp: Path, base: Path) -> list[str]:
    return _build("--source", "synthetic:1", "--workers", str(_cpus() + 1))(tmp, base)


def _api(fn):
    """A case body ``fn()`` that ignores the case folders."""
    return lambda tmp, base: fn()


def _cams(n: int = 2):
    return fx.scene_inputs()[2][:n]


def _with_k(fx_, cx=16.0):
    from worldmem.geometry import Cameras

    cams = _cams(1)
    k = torch.tensor([[fx_, 0.0, cx], [0.0, fx_, 16.0], [0.0, 0.0, 1.0]])
    return Cameras(cams.cam_from_world, k, 32, 32)


def _cameras_json_focal(tmp: Path, base: Path):
    from worldmem.geometry import Cameras
    from worldmem.utils.io import read_json

    data = fx.cameras_dict()
    for k in data["K"]:
        k[0][0] = k[1][1] = 1e-20
    Cameras.from_dict(read_json(fx.write(tmp / "cameras.json", json.dumps(data))))


def _far_cameras(n: int = 2):
    from worldmem.geometry import Cameras

    m = torch.eye(4)
    m[0, 3] = 1e30
    cams = _cams(n)
    return Cameras(m.expand(n, 4, 4), cams.K, 32, 32)


def _write(depth=None, cameras=None, scene_scale=None, method="write"):
    def build(tmp: Path, base: Path):
        from worldmem.memory import WorldMemory

        f, d, cams = fx.scene_inputs()
        mem = WorldMemory(scene_scale=scene_scale)
        getattr(mem, method)(f, d if depth is None else depth(d), cams[:2] if cameras is None else cameras())
    return build


def _pipe(depth=None, cameras=None, **kw):
    def build(tmp: Path, base: Path):
        f, d, cams = fx.scene_inputs()
        fx.tiny_pipeline()(frames=f, depth=d if depth is None else depth(d), cameras=cams if cameras is None
                           else cameras(cams), num_inference_steps=kw.pop("steps", 1), progress=False, **kw)
    return build


def _many_cameras(count: int):
    def make(cams):
        from worldmem.geometry import Cameras

        return Cameras(cams.cam_from_world[:1].expand(count, 4, 4), cams.K[:1].expand(count, 3, 3), 32, 32)
    return make


def _traj(name, *args, **kw):
    def build(tmp: Path, base: Path):
        from worldmem.geometry import trajectories

        getattr(trajectories, name)(*args, **kw)
    return build


def _render(cameras, **kw):
    def build(tmp: Path, base: Path):
        from worldmem.geometry import render_points

        render_points(torch.rand(50, 3) + torch.tensor([0.0, 0.0, 1.0]), torch.rand(50, 3), cameras(), **kw)
    return build


def _render_no_cameras(tmp: Path, base: Path):
    """Documented: no cameras give (0, C, H, W) results (as T cameras give T)."""
    from worldmem.geometry import render_points

    out = render_points(torch.rand(50, 3) + torch.tensor([0.0, 0.0, 1.0]), torch.rand(50, 3), _cams(0))
    assert out.features.shape == (0, 3, 32, 32) and out.depth.shape == out.mask.shape == (0, 1, 32, 32)


def _pipeline_memory_config(**spatial):
    def build(tmp: Path, base: Path):
        from worldmem.pipelines import load_pipeline

        folder = fx.checkpoint(tmp)
        fx.edit_json(folder / "model_index.json", lambda d: d["memory_config"]["spatial"].update(spatial))
        load_pipeline(folder)
    return build


def _tsdf_far_cameras(tmp: Path, base: Path):
    from worldmem.geometry import SparseTSDF

    f, d, _ = fx.scene_inputs()
    SparseTSDF(voxel_size=0.05).integrate(f, d, _far_cameras())


# ------------------------------------------------------------------------------------------------ sizes
MEMORY = [
    Case("WorldMemory.load", "num_frames 10**9", _load(_set(num_frames=10**9)), "num_frames", group=S),
    Case("WorldMemory.load", "num_frames 10**30", _load(_set(num_frames=10**30)), "num_frames", group=S),
    Case("WorldMemory.load", "image_size 10**6 x 10**6", _load(_set(image_size=[10**6, 10**6]), empty=True),
         "image_size", group=S),
    Case("WorldMemory.load", "sky_resolution 10**5", _load(_config("spatial", sky_resolution=10**5)), "sky_resolution",
         group=S),
    Case("WorldMemory.load", "working window 10**9", _load(_config("working", window=10**9)), "window", group=S),
    Case("WorldMemory.load", "keyframe_pool 10**9", _load(_config("episodic", keyframe_pool=10**9)), "keyframe_pool",
         group=S),
    Case("WorldMemory.load", "render_supersample 1000", _load(_config("spatial", render_supersample=1000)),
         "render_supersample", group=S),
    Case("WorldMemory.load", "memory.json of 17 MB", _big_json, "memory.json", group=S),
    Case("WorldMemory.load", "safetensors header of 2 MB", _big_header, "header", group=S),
    Case("WorldMemory", "sky_resolution 10**5", _api(lambda: __import__("worldmem.memory", fromlist=["x"]).WorldMemory(
        {"spatial": {"sky_resolution": 10**5}})), "sky_resolution", group=S),
    Case("load_pipeline", "memory_config sky_resolution 10**5", _pipeline_memory_config(sky_resolution=10**5),
         "sky_resolution", group=S),
    Case("load_pipeline", "memory_config max_splat_px 10**6", _pipeline_memory_config(max_splat_px=10**6),
         "max_splat_px", group=S),
]

COMMANDS = [
    Case(GEN, "--resume-memory claiming 10**9 frames", _gen(memory=_resume(_set(num_frames=10**9))), "num_frames",
         ("out",), group=S, timeout=60),
    Case(GEN, "--resume-memory whose path claims 10**12 frames", _gen(memory=_resume(_path_record(10**12))),
         "num_frames", ("out",), group=S, timeout=60),
    Case(GEN, "--num-frames 100000", _scene("--num-frames", "100000"), "--num-frames", ("out",), group=S, timeout=60),
    Case(GEN, "--num-frames 10**9", _scene("--num-frames", str(10**9)), "--num-frames", ("out",), group=S, timeout=60),
    Case(GEN, "--steps 10**6", _scene("--num-frames", "8", "--steps", str(10**6)), "--steps", ("out",), group=S,
         timeout=60),
    Case(GEN, "--resume-memory --num-frames 100000", _gen("--num-frames", "100000", memory=_resume(None)),
         "--num-frames", ("out",), group=S, timeout=60),
    Case(EVAL, "revisit --scenes 100000", _revisit("--scenes", "100000"), "--scenes", ("out",), group=S, timeout=60),
    Case(EVAL, "revisit --num-frames 10**6", _revisit("--num-frames", str(10**6)), "--num-frames", ("out",), group=S,
         timeout=60),
    Case(EVAL, "revisit --steps 10**5", _revisit("--steps", str(10**5)), "--steps", ("out",), group=S, timeout=60),
    Case(CUR, "build --workers above the CPU count", _workers_over_cpus, "--workers", ("out",), group=S, timeout=60),
    Case(CUR, "build --workers 10**6", _build("--source", "synthetic:1", "--workers", str(10**6)), "--workers",
         ("out",), group=S, timeout=60),
    Case(CUR, "build --source synthetic:10**10", _build("--source", f"synthetic:{10**10}"), "synthetic", ("out",),
         group=S, timeout=60),
    Case(CUR, "build --source synthetic:5+10**6", _build("--source", f"synthetic:5+{10**6}"), "synthetic", ("out",),
         group=S, timeout=60),
    Case(EVAL, "revisit --source synthetic:10**10", _revisit("--protocol", "given-half", "--source",
                                                             f"synthetic:{10**10}"), "synthetic", ("out",), group=S,
         timeout=60),
]

API_SIZES = [
    Case("Cameras.from_dict", "height 10**6", _api(lambda: __import__("worldmem.geometry", fromlist=["x"]).Cameras
                                                   .from_dict({**fx.cameras_dict(), "height": 10**6})), "height", group=S),
    Case("render_points", "max_splat_px 10**6", _render(_cams, max_splat_px=10**6), "max_splat_px", group=S),
    Case("trajectories", "loop of 10**9 frames", _traj("loop", 10**9), "num_frames", group=S),
    Case("trajectories", "from_keys of 3 M keys", _traj("from_keys", "W" * 3_000_000), "keys", group=S),
    Case("paths", "make_path of 10**9 frames", _api(lambda: __import__("worldmem.geometry.paths", fromlist=["x"])
                                                    .make_path("loop", ((-1, -1, -0.2), (1, 1, 0.2)), 10**9, 32, 32)),
         "num_frames", group=S),
    Case("WorldMemPipeline", "10,003 cameras (10,001 new frames)", _pipe(cameras=_many_cameras(10_003)), "cameras",
         group=S, timeout=30),
]

# ------------------------------------------------------------------------------------------------ numeric
NUMERIC = [
    Case("trajectories", "look_at straight down", _traj("look_at", [(0.0, 0.0, 2.0)], (0.0, 0.0, 0.0)), "target",
         group=N),
    Case("trajectories", "look_at straight up", _traj("look_at", [(0.0, 0.0, 0.0)], (0.0, 0.0, 2.0)), "target",
         group=N),
    Case("trajectories", "look_at up (0, 0, 0)", _traj("look_at", [(0.0, 0.0, 0.0)], (1.0, 0.0, 0.0), up=(0, 0, 0)),
         "up", group=N),
    Case("trajectories", "cameras_from_headings up (0, 0, 0)",
         _traj("cameras_from_headings", [(0.0, 0.0, 0.0)], 0.0, 0.0, up=(0, 0, 0)), "up", group=N),
    Case("trajectories", "out_and_back up (0, 0, 0)", _traj("out_and_back", 8, up=(0, 0, 0)), "up", group=N),
    Case("trajectories", "loop up (0, 0, 0)", _traj("loop", 8, up=(0, 0, 0)), "up", group=N),
    Case("trajectories", "from_keys up (0, 0, 0)", _traj("from_keys", "WW", up=(0, 0, 0)), "up", group=N),
    Case("Cameras", "focal length 1e-30", _api(lambda: _with_k(1e-30)), "K", group=N),
    Case("Cameras", "focal length 1e30", _api(lambda: _with_k(1e30)), "K", group=N),
    Case("Cameras", "principal point 1e30", _api(lambda: _with_k(30.0, cx=1e30)), "K", group=N),
    Case("cameras.json", "focal lengths 1e-20", _cameras_json_focal, "K", group=N),
    Case("WorldMemory.write", "depth 1e30 everywhere", _write(lambda d: torch.full_like(d, 1e30)), "depth", group=N),
    Case("WorldMemory.write", "depth 1e-40 everywhere", _write(lambda d: torch.full_like(d, 1e-40)), "depth", group=N),
    Case("WorldMemory.fuse", "depth 1e30 everywhere", _write(lambda d: torch.full_like(d, 1e30), method="fuse"),
         "depth", group=N),
    Case("WorldMemory.write", "cameras 1e30 away", _write(cameras=_far_cameras), "cameras", group=N),
    Case("WorldMemory", "scene_scale 1e30", _api(lambda: __import__("worldmem.memory", fromlist=["x"]).WorldMemory(
        scene_scale=1e30)), "scene_scale", group=N),
    Case("WorldMemory", "scene_scale 1e-30", _api(lambda: __import__("worldmem.memory", fromlist=["x"]).WorldMemory(
        scene_scale=1e-30)), "scene_scale", group=N),
    Case("WorldMemory.load", "scene_scale 1e30", _load(_set(scene_scale=1e30)), "scene_scale", group=N),
    Case("SparseTSDF.integrate", "cameras 1e30 away", _tsdf_far_cameras, "cameras", group=N),
    Case("WorldMemPipeline", "depth 1e30 everywhere", _pipe(depth=lambda d: torch.full_like(d, 1e30)), "depth", group=N),
    Case("WorldMemPipeline", "depth 1e-40 everywhere", _pipe(depth=lambda d: torch.full_like(d, 1e-40)), "depth",
         group=N),
    Case("WorldMemPipeline", "guidance_scale 1e30", _pipe(guidance_scale=1e30), "guidance_scale", group=N),
    Case("render_points", "no cameras: empty results", _render_no_cameras, group=N, wants="success"),
]

CASES = MEMORY + COMMANDS + API_SIZES + NUMERIC
