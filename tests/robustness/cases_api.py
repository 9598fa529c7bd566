"""Broken inputs to the public API: loaders (``load_pipeline``, ``WorldMemory.load``, ``Cameras.from_dict`` and
cameras.json), ``render_points``, trajectories and the path registry, the TSDF constructor, the pipeline's
``check_inputs`` and config values. Each ``build(tmp, base)`` makes the call; the expected error is ValueError."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.robustness import fixtures as fx
from tests.robustness.runner import Case

NAN, INF = float("nan"), float("inf")
_WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


def _load_pipeline(change):
    def build(tmp: Path, base: Path):
        from worldmem.pipelines import load_pipeline

        folder = fx.checkpoint(tmp)
        change(folder)
        load_pipeline(folder)
    return build


def _load_memory(change):
    def build(tmp: Path, base: Path):
        from worldmem.memory import WorldMemory

        folder = fx.copy_of(fx.memory(base), tmp, "mem")
        change(folder)
        WorldMemory.load(folder)
    return build


def _sky_memory(resolution_in_json: int):
    """A memory saved with a sky layer of 8 bins per face whose memory.json then claims another resolution."""
    def build(tmp: Path, base: Path):
        from worldmem.memory import WorldMemory

        cams, frames, depth = fx._scene()
        mem = WorldMemory({"spatial": {"sky_resolution": 8}})
        mem.write(frames[:2], depth[:2], cams[:2])
        mem.save(tmp / "mem")
        fx.edit_json(tmp / "mem" / "memory.json",
                     lambda d: d["config"]["spatial"].update(sky_resolution=resolution_in_json))
        WorldMemory.load(tmp / "mem")
    return build


def _memory_json(**values):
    return _load_memory(lambda f: fx.edit_json(f / "memory.json", lambda d: d.update(values)))


def _cameras(edit):
    def build(tmp: Path, base: Path):
        from worldmem.geometry import Cameras

        data = fx.cameras_dict()
        data = edit(data) or data
        Cameras.from_dict(data)
    return build


def _set(key, value):
    return lambda d: d.update({key: value})


def _cameras_json(text: str):
    def build(tmp: Path, base: Path):
        from worldmem.geometry import Cameras
        from worldmem.utils.io import read_json

        Cameras.from_dict(read_json(fx.write(tmp / "cameras.json", text)))
    return build


def _render(points=None, features=None, cameras="ok", **kw):
    def build(tmp: Path, base: Path):
        from worldmem.geometry import render_points

        cams = fx.scene_inputs()[2][:2] if cameras == "ok" else cameras
        p = torch.rand(50, 3) + torch.tensor([0.0, 0.0, 1.0]) if points is None else points
        f = torch.rand(len(p), 3) if features is None else features
        render_points(p, f, cams, **kw)
    return build


def _traj(fn_name: str, *args, **kw):
    def build(tmp: Path, base: Path):
        from worldmem.geometry import trajectories

        getattr(trajectories, fn_name)(*args, **kw)
    return build


def _path(name, num_frames=8, box=((-1, -1, -0.2), (1, 1, 0.2)), **kw):
    def build(tmp: Path, base: Path):
        from worldmem.geometry.paths import make_path

        make_path(name, box, num_frames, 32, 32, **kw)
    return build


def _tsdf(**kw):
    def build(tmp: Path, base: Path):
        from worldmem.geometry import SparseTSDF

        SparseTSDF(**kw)
    return build


def _pipe(size=fx.SIZE, frames=None, depth=None, **kw):
    """A call of the random tiny pipeline (32x32) on a scene rendered at ``size``, with some argument broken."""
    def build(tmp: Path, base: Path):
        f, d, cams = fx.scene_inputs(size)
        cams = cams[:kw.pop("n_cameras", len(cams))]
        f = f if frames is None else frames(f)
        d = d if depth is None else depth(d)
        kw.setdefault("cameras", cams)
        fx.tiny_pipeline()(frames=f, depth=d, num_inference_steps=kw.pop("steps", 1), progress=False, **kw)
    return build


def _config(*overrides, yaml: str | None = None):
    def build(tmp: Path, base: Path):
        from train.config import load_config

        path = None if yaml is None else fx.write(tmp / "c.yaml", yaml)
        load_config(path, list(overrides))
    return build


def _curation_config(yaml: str):
    def build(tmp: Path, base: Path):
        from worldmem.data.config import load_curation_config

        load_curation_config(fx.write(tmp / "cur.yaml", yaml))
    return build


def _nan_first(d):
    d["cam_from_world"][0][0][0] = NAN


LOADERS = [
    Case("load_pipeline", "folder missing", lambda t, b: __import__("worldmem.pipelines", fromlist=["x"]).load_pipeline(
        t / "none"), "none"),
    Case("load_pipeline", "model_index.json broken", _load_pipeline(lambda f: (f / "model_index.json").write_text("{")),
         "model_index.json"),
    Case("load_pipeline", "model_index.json of another class", _load_pipeline(lambda f: fx.edit_json(
        f / "model_index.json", _set("_class_name", "Other"))), "_class_name"),
    Case("load_pipeline", "chunk_size 0", _load_pipeline(lambda f: fx.edit_json(f / "model_index.json",
                                                                               _set("chunk_size", 0))), "chunk_size"),
    Case("load_pipeline", "weights truncated", _load_pipeline(
        lambda f: (f / _WEIGHTS).write_bytes((f / _WEIGHTS).read_bytes()[:-1000])), "safetensors"),
    Case("load_pipeline", "weights empty", _load_pipeline(lambda f: (f / _WEIGHTS).write_bytes(b"")), "safetensors"),
    Case("load_pipeline", "transformer config missing", _load_pipeline(
        lambda f: (f / "transformer" / "config.json").unlink()), "config.json"),
    Case("load_pipeline", "fewer layers than the weights", _load_pipeline(lambda f: fx.edit_json(
        f / "transformer" / "config.json", lambda d: d["base_config"].update(num_layers=2))), "transformer/"),
    Case("WorldMemory.load", "folder missing", lambda t, b: __import__("worldmem.memory", fromlist=["x"]).WorldMemory.load(
        t / "none"), "none"),
    Case("WorldMemory.load", "memory.json broken", _load_memory(lambda f: (f / "memory.json").write_text("{")),
         "memory.json"),
    Case("WorldMemory.load", "format_version unknown", _memory_json(format_version=99), "format_version"),
    Case("WorldMemory.load", "num_frames -1", _memory_json(num_frames=-1), "num_frames"),
    Case("WorldMemory.load", "scene_scale NaN", _load_memory(lambda f: (f / "memory.json").write_text(
        (f / "memory.json").read_text().replace('"scene_scale": ', '"scene_scale": NaN, "x": '))), "scene_scale"),
    Case("WorldMemory.load", "image_size wrong", _memory_json(image_size=[32]), "image_size"),
    Case("WorldMemory.load", "metadata not an object", _memory_json(metadata="path"), "metadata"),
    Case("WorldMemory.load", "config with a bad value", _memory_json(config={"spatial": {"voxel_size": -1}}), "config"),
    Case("WorldMemory.load", "tensors truncated", _load_memory(
        lambda f: (f / "memory.safetensors").write_bytes((f / "memory.safetensors").read_bytes()[:100])),
         "memory.safetensors"),
    Case("WorldMemory.load", "sky tensors of another resolution", _sky_memory(4), "sky.colour_sum"),
    Case("WorldMemory.load", "sky tensors but no sky layer", _sky_memory(0), "sky_resolution 0"),
    Case("Cameras.from_dict", "not a mapping", _cameras(lambda d: [1, 2]), "cameras"),
    Case("Cameras.from_dict", "K missing", _cameras(lambda d: d.pop("K") and None), "K"),
    Case("Cameras.from_dict", "height 0", _cameras(_set("height", 0)), "height"),
    Case("Cameras.from_dict", "height 1.5", _cameras(_set("height", 1.5)), "height"),
    Case("Cameras.from_dict", "convention OpenGL", _cameras(_set("convention", "opengl")), "convention"),
    Case("Cameras.from_dict", "NaN in cam_from_world", _cameras(_nan_first), "cam_from_world"),
    Case("Cameras.from_dict", "K not upper triangular", _cameras(lambda d: d["K"][0][2].__setitem__(0, 5.0)), "K"),
    Case("Cameras.from_dict", "strings for matrices", _cameras(_set("K", "eye")), "K"),
    Case("Cameras.from_dict", "fewer K than cameras", _cameras(lambda d: d.update(K=d["K"][:1])), "K"),
    Case("cameras.json", "not JSON", _cameras_json("{"), "cameras.json"),
    Case("cameras.json", "a list", _cameras_json("[]"), "cameras"),
    Case("cameras.json", "empty file", _cameras_json(""), "cameras.json"),
]

GEOMETRY = [
    Case("render_points", "NaN features", _render(features=torch.full((50, 3), NAN)), "features"),
    Case("render_points", "NaN points", _render(points=torch.full((50, 3), NAN)), "points"),
    Case("render_points", "points of the wrong shape", _render(points=torch.rand(50, 2)), "points"),
    Case("render_points", "features of another count", _render(features=torch.rand(49, 3)), "features"),
    Case("render_points", "negative near", _render(near=-1.0), "near"),
    Case("render_points", "infinite background", _render(background=INF), "background"),
    Case("render_points", "cameras not Cameras", _render(cameras="x"), "cameras"),
    Case("render_points", "unknown backend", _render(backend="opengl"), "backend"),
    Case("trajectories", "out_and_back distance NaN", _traj("out_and_back", 8, distance=NAN), "distance"),
    Case("trajectories", "out_and_back 0 frames", _traj("out_and_back", 0), "num_frames"),
    Case("trajectories", "loop negative radius", _traj("loop", 8, radius=-1.0), "radius"),
    Case("trajectories", "loop look sideways", _traj("loop", 8, look="sideways"), "look"),
    Case("trajectories", "orbit radius inf", _traj("orbit", 8, radius=INF), "radius"),
    Case("trajectories", "look_around NaN yaw range", _traj("look_around", 8, yaw_range_deg=NAN), "yaw_range_deg"),
    Case("trajectories", "from_keys unknown key", _traj("from_keys", "WQ"), "keys"),
    Case("trajectories", "look_at eye on the target", _traj("look_at", [(0, 0, 0)], (0, 0, 0)), "target"),
    Case("trajectories", "start not a 3-vector", _traj("out_and_back", 8, start=(0.0, 1.0)), "start"),
    Case("paths", "unknown name", _path("zigzag"), "zigzag"),
    Case("paths", "1 frame", _path("loop", 1), "num_frames"),
    Case("paths", "box with lo > hi", _path("loop", box=((1, 1, 1), (0, 0, 0))), "box"),
    Case("paths", "box with NaN", _path("loop", box=((NAN, 0, 0), (1, 1, 1))), "box"),
    Case("paths", "unknown parameter", _path("loop", radiuss=1.0), "radiuss"),
    Case("paths", "keys of the wrong length", _path("keys:WW", 8), "keys:WW"),
    Case("SparseTSDF", "voxel_size -1", _tsdf(voxel_size=-1.0), "voxel_size"),
    Case("SparseTSDF", "voxel_size 0", _tsdf(voxel_size=0.0), "voxel_size"),
    Case("SparseTSDF", "voxel_size NaN", _tsdf(voxel_size=NAN), "voxel_size"),
    Case("SparseTSDF", "trunc_voxels inf", _tsdf(trunc_voxels=INF), "trunc_voxels"),
    Case("SparseTSDF", "carve_stride 0", _tsdf(carve_stride=0), "carve_stride"),
    Case("SparseTSDF", "max_voxels 0", _tsdf(max_voxels=0), "max_voxels"),
    Case("SparseTSDF", "carve 'yes'", _tsdf(carve="yes"), "carve"),
    Case("SparseTSDF", "depth_max -1", _tsdf(depth_max=-1.0), "depth_max"),
]

PIPELINE = [
    Case("WorldMemPipeline", "64x64 frames into a 32x32 model", _pipe(64), "frames"),
    Case("WorldMemPipeline", "64x64 frames, 32x32 cameras", _pipe(frames=lambda f: torch.nn.functional.interpolate(
        f, size=64)), "frames"),
    Case("WorldMemPipeline", "guidance_scale NaN", _pipe(guidance_scale=NAN), "guidance_scale"),
    Case("WorldMemPipeline", "guidance_scale inf", _pipe(guidance_scale=INF), "guidance_scale"),
    Case("WorldMemPipeline", "render_anchor NaN", _pipe(render_anchor=NAN), "render_anchor"),
    Case("WorldMemPipeline", "render_anchor -1", _pipe(render_anchor=-1.0), "render_anchor"),
    Case("WorldMemPipeline", "render_anchor 2", _pipe(render_anchor=2.0), "render_anchor"),
    Case("WorldMemPipeline", "num_inference_steps 0", _pipe(steps=0), "num_inference_steps"),
    Case("WorldMemPipeline", "chunk_size 0", _pipe(chunk_size=0), "chunk_size"),
    Case("WorldMemPipeline", "working_window beyond the memory", _pipe(working_window=99), "working_window"),
    Case("WorldMemPipeline", "cameras not Cameras", _pipe(cameras="path"), "cameras"),
    Case("WorldMemPipeline", "frames with NaN", _pipe(frames=lambda f: f * NAN), "frames"),
    Case("WorldMemPipeline", "frames above 1", _pipe(frames=lambda f: f + 1), "frames"),
    Case("WorldMemPipeline", "negative depth", _pipe(depth=lambda d: -d), "depth"),
    Case("WorldMemPipeline", "depth of another count", _pipe(depth=lambda d: d[:1]), "depth"),
    Case("WorldMemPipeline", "write_gate mode unknown", _pipe(write_gate={"mode": "pil"}), "write_gate.mode"),
    Case("WorldMemPipeline", "no more cameras than frames", _pipe(n_cameras=2), "cameras"),
]

CONFIGS = [
    Case("train config", "optim.grad_clip=-1", _config("optim.grad_clip=-1"), "optim.grad_clip"),
    Case("train config", "optim.lr=.inf", _config("optim.lr=.inf"), "optim.lr"),
    Case("train config", "keep_checkpoints=-1", _config("keep_checkpoints=-1"), "keep_checkpoints"),
    Case("train config", "generation.num_inference_steps=0", _config("generation.num_inference_steps=0"),
         "generation.num_inference_steps"),
    Case("train config", "optim.warmup_steps=-5", _config("optim.warmup_steps=-5"), "optim.warmup_steps"),
    Case("train config", "optim.working_noise=-1 in YAML", _config(yaml="optim: {working_noise: -1}\n"),
         "optim.working_noise"),
    Case("train config", "YAML syntax error", _config(yaml="optim: [\n"), "c.yaml"),
    Case("train config", "!!python/name tag", _config(yaml="seed: !!python/name:os.system\n"), "c.yaml"),
    Case("train config", "seed a string", _config(yaml="seed: zero\n"), "seed"),
    Case("train config", "model a list", _config(yaml="model: [1]\n"), "model"),
    Case("curation config", "negative voxel size", _curation_config("voxel_size: -1\n"), "voxel_size"),
    Case("curation config", "unknown key", _curation_config("voxelsize: 0.05\n"), "voxelsize"),
    Case("curation config", "image_size of one number", _curation_config("image_size: [24]\n"), "image_size"),
]

CASES = LOADERS + GEOMETRY + PIPELINE + CONFIGS
