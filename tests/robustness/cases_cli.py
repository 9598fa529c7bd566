"""Broken inputs to the commands: ``worldmem generate``, ``python -m eval``, ``python -m train`` and
``python -m data_curation``. Every case fails before any work, so the whole table runs in seconds per entry."""

from __future__ import annotations

from pathlib import Path

from tests.robustness import fixtures as fx
from tests.robustness.runner import Case

GEN = "worldmem generate"
EVAL = "python -m eval"
TRAIN = "python -m train"
CUR = "python -m data_curation"


def _gen(*args, out=lambda tmp, base: str(tmp / "out")):
    """argv of ``worldmem generate`` (random tiny model, one step, ``--out`` from ``out(tmp, base)``) + ``args``."""
    def build(tmp: Path, base: Path) -> list[str]:
        return ["--random-init", "--steps", "1", "--out", out(tmp, base),
                *[a(tmp, base) if callable(a) else a for a in args]]
    return build


def _scene(*args, **kw):
    return _gen("--scene", "synthetic:1", *args, **kw)


def _posed(frames=None, depth=None, cameras=None, *args):
    """``--frames/--depth/--cameras`` of the shared posed video, any of them replaced by ``fn(tmp, base)``."""
    def build(tmp: Path, base: Path) -> list[str]:
        files = fx.posed_video(base)
        given = {"frames": frames, "depth": depth, "cameras": cameras}
        argv = []
        for key, fn in given.items():
            argv += [f"--{key}", str(fn(tmp, base) if fn is not None else files[key])]
        return _gen(*argv, "--trajectory", "keys:WW", "--num-frames", "5", *args)(tmp, base)
    return build


def _ckpt(change):
    def build(tmp: Path, base: Path) -> str:
        folder = fx.checkpoint(tmp)
        change(folder)
        return str(folder)
    return build


def _memory(path: dict | None = None, change=None):
    def build(tmp: Path, base: Path) -> str:
        folder = fx.copy_of(fx.memory(base, path), tmp, "mem")
        if change is not None:
            change(folder)
        return str(folder)
    return build


def _file(name: str, text: str | bytes):
    return lambda tmp, base: str(fx.write(tmp / name, text))


def _cams_json(edit):
    def build(tmp: Path, base: Path) -> str:
        data = fx.cameras_dict()
        edit(data)
        import json

        return str(fx.write(tmp / "cams.json", json.dumps(data)))
    return build


_A_FILE = _file("afile", "x")
_WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"
_PATH = fx.SCENE_PATH

GENERATE = [
    Case(GEN, "--scene not synthetic:SEED", _gen("--scene", "synthetic:x"), "--scene", ("out",)),
    Case(GEN, "--scene of an unknown kind", _gen("--scene", "colmap:1"), "--scene", ("out",)),
    Case(GEN, "--trajectory unknown", _scene("--trajectory", "zigzag"), "--trajectory", ("out",)),
    Case(GEN, "--trajectory with a bad key", _scene("--trajectory", "keys:WQ", "--num-frames", "3"), "keys", ("out",)),
    Case(GEN, "--trajectory keys of the wrong length", _scene("--trajectory", "keys:WW", "--num-frames", "9"),
         "--trajectory", ("out",)),
    Case(GEN, "--num-frames 1", _scene("--num-frames", "1"), "--num-frames", ("out",)),
    Case(GEN, "--num-frames negative", _scene("--num-frames", "-5"), "--num-frames", ("out",)),
    Case(GEN, "--num-frames not an int", _scene("--num-frames", "ten"), "--num-frames", ("out",)),
    Case(GEN, "--steps 0", _scene("--steps", "0"), "--steps", ("out",)),
    Case(GEN, "--context-frames 0", _scene("--context-frames", "0"), "--context-frames", ("out",)),
    Case(GEN, "--context-frames >= --num-frames", _scene("--context-frames", "48"), "--context-frames", ("out",)),
    Case(GEN, "--stop-after inside a chunk", _scene("--num-frames", "10", "--stop-after", "7"), "--stop-after",
         ("out",)),
    Case(GEN, "--stop-after 0", _scene("--stop-after", "0"), "--stop-after", ("out",)),
    Case(GEN, "--stop-after past --num-frames", _scene("--num-frames", "10", "--stop-after", "11"), "--stop-after",
         ("out",)),
    Case(GEN, "no source", _gen(), "expected --scene", ("out",)),
    Case(GEN, "--scene and --frames", _scene("--frames", "x.mp4"), "--frames", ("out",)),
    Case(GEN, "unknown flag", _scene("--nosuchflag"), "--nosuchflag", ("out",)),
    Case(GEN, "--checkpoint missing", lambda t, b: ["--checkpoint", str(t / "none"), "--scene", "synthetic:1", "--out",
                                                    str(t / "out")], "--checkpoint", ("out",)),
    Case(GEN, "--checkpoint with broken model_index.json",
         lambda t, b: ["--checkpoint", _ckpt(lambda f: (f / "model_index.json").write_text("{"))(t, b), "--scene",
                       "synthetic:1", "--out", str(t / "out")], "model_index.json", ("out",)),
    Case(GEN, "--checkpoint with truncated weights",
         lambda t, b: ["--checkpoint", _ckpt(lambda f: (f / _WEIGHTS).write_bytes((f / _WEIGHTS).read_bytes()[:999]))(t, b),
                       "--scene", "synthetic:1", "--out", str(t / "out")], "safetensors", ("out",)),
    Case(GEN, "--frames missing", _posed(frames=lambda t, b: t / "none.mp4"), "--frames", ("out",)),
    Case(GEN, "--frames not a video", _posed(frames=_file("bad.mp4", b"not a video")), "bad.mp4", ("out",)),
    Case(GEN, "--depth missing", _posed(depth=lambda t, b: t / "none.npy"), "--depth", ("out",)),
    Case(GEN, "--depth not a .npy", _posed(depth=_file("d.npy", b"garbage")), "d.npy", ("out",)),
    Case(GEN, "--depth of the wrong shape", _posed(depth=lambda t, b: _npy(t, (2, 32, 32))), "--depth", ("out",)),
    Case(GEN, "--depth with NaN", _posed(depth=lambda t, b: _npy(t, (3, 32, 32), float("nan"))), "--depth", ("out",)),
    Case(GEN, "--depth negative", _posed(depth=lambda t, b: _npy(t, (3, 32, 32), -1.0)), "--depth", ("out",)),
    Case(GEN, "--cameras not JSON", _posed(cameras=_file("c.json", "{")), "c.json", ("out",)),
    Case(GEN, "--cameras of another count", _posed(cameras=_cams_json(lambda d: d.update(
        cam_from_world=d["cam_from_world"][:2], K=d["K"][:2]))), "--cameras", ("out",)),
    Case(GEN, "--cameras with NaN", _posed(cameras=_cams_json(lambda d: d["cam_from_world"][0][0].__setitem__(
        0, float("nan")))), "cam_from_world", ("out",)),
    Case(GEN, "--cameras of another image size", _posed(cameras=_cams_json(lambda d: d.update(height=64, width=64))),
         "--cameras", ("out",)),
    Case(GEN, "--num-frames not more than the given frames",
         _posed(None, None, None, "--num-frames", "3"), "--num-frames", ("out",)),
    Case(GEN, "--out is a file", _scene(out=_A_FILE), "--out", ()),
    Case(GEN, "--out under a file", _scene(out=lambda t, b: _A_FILE(t, b) + "/o"), "--out", ()),
    Case(GEN, "--save-memory is a file", _scene("--save-memory", _A_FILE), "--save-memory", ("out",)),
    Case(GEN, "--depth with --scene (unused)", _scene("--depth", "d.npy"), "--depth", ("out",)),
    Case(GEN, "--cameras with --scene (unused)", _scene("--cameras", "c.json"), "--cameras", ("out",)),
    Case(GEN, "--context-frames with --frames (unused)", _posed(None, None, None, "--context-frames", "1"),
         "--context-frames", ("out",)),
    Case(GEN, "--context-frames with --resume-memory (unused)",
         _gen("--resume-memory", _memory(), "--context-frames", "1"), "--context-frames", ("out",)),
    Case(GEN, "--frames with --resume-memory (unused)",
         _gen("--frames", lambda t, b: str(fx.posed_video(b)["frames"]), "--resume-memory", _memory()),
         "--frames", ("out",)),
    Case(GEN, "--resume-memory missing", _gen("--resume-memory", lambda t, b: str(t / "none")), "--resume-memory",
         ("out",)),
    Case(GEN, "--resume-memory with broken memory.json",
         _gen("--resume-memory", _memory(change=lambda f: (f / "memory.json").write_text("{"))), "memory.json", ("out",)),
    Case(GEN, "--resume-memory with truncated tensors",
         _gen("--resume-memory", _memory(change=lambda f: (f / "memory.safetensors").write_bytes(b"\x00" * 20))),
         "memory.safetensors", ("out",)),
    Case(GEN, "--resume-memory with a malformed path record",
         _gen("--resume-memory", _memory(change=lambda f: fx.edit_json(f / "memory.json", lambda d: d.update(
             metadata={"path": {"trajectory": "loop"}})))), "metadata.path", ("out",)),
    Case(GEN, "--resume-memory with metadata not an object",
         _gen("--resume-memory", _memory(change=lambda f: fx.edit_json(f / "memory.json", lambda d: d.update(
             metadata=[1])))), "metadata", ("out",)),
    Case(GEN, "--resume-memory holding no frames",
         _gen("--resume-memory", lambda t, b: str(fx.copy_of(fx.empty_memory(b), t))), "--resume-memory", ("out",)),
    Case(GEN, "--resume-memory and --scene with no path to follow",
         _scene("--resume-memory", _memory()), "--scene", ("out",)),
    Case(GEN, "--resume-memory with another --trajectory than its path",
         _gen("--resume-memory", _memory(_PATH), "--trajectory", "excursion"), "--trajectory", ("out",)),
    Case(GEN, "--resume-memory with another --scene than its path",
         _gen("--resume-memory", _memory(_PATH), "--scene", "synthetic:5"), "--scene", ("out",)),
    Case(GEN, "--resume-memory: more frames than its path has left",
         _gen("--resume-memory", _memory(_PATH), "--num-frames", "20"), "--num-frames", ("out",)),
    Case(GEN, "--resume-memory stopping inside a chunk",
         _gen("--resume-memory", _memory(_PATH), "--num-frames", "3"), "--num-frames", ("out",)),
    Case(GEN, "--resume-memory with --stop-after", _gen("--resume-memory", _memory(), "--stop-after", "4"),
         "--stop-after", ("out",)),
    Case(GEN, "--resume-memory: key path and --num-frames disagree",
         _gen("--resume-memory", _memory(), "--trajectory", "keys:JJ", "--num-frames", "10"), "--num-frames", ("out",)),
]


def _npy(tmp: Path, shape, value: float = 1.0) -> Path:
    import numpy as np

    path = tmp / "depth.npy"
    np.save(path, np.full(shape, value, dtype=np.float32))
    return path


def _revisit(*args):
    def build(tmp: Path, base: Path) -> list[str]:
        return ["revisit", "--checkpoint", str(fx.CHECKPOINT), "--out", str(tmp / "out"),
                *[a(tmp, base) if callable(a) else a for a in args]]
    return build


def _bench(*args):
    def build(tmp: Path, base: Path) -> list[str]:
        argv = [a(tmp, base) if callable(a) else a for a in args]
        return ["bench", *argv, *([] if "--out" in argv else ["--out", str(tmp / "out" / "b.json")])]
    return build


EVALUATION = [
    Case(EVAL, "revisit --checkpoint missing", lambda t, b: ["revisit", "--checkpoint", str(t / "none"), "--out",
                                                             str(t / "out")], "--checkpoint", ("out",)),
    Case(EVAL, "revisit --checkpoint broken", lambda t, b: ["revisit", "--checkpoint", _ckpt(
        lambda f: (f / "transformer" / "config.json").unlink())(t, b), "--out", str(t / "out")], "config.json", ("out",)),
    Case(EVAL, "revisit --protocol unknown", _revisit("--protocol", "nope"), "--protocol", ("out",)),
    Case(EVAL, "revisit --variants unknown", _revisit("--variants", "full,nope"), "--variants", ("out",)),
    Case(EVAL, "revisit --trajectories unknown", _revisit("--trajectories", "zigzag"), "--trajectories", ("out",)),
    Case(EVAL, "revisit --trajectories that do not retrace", _revisit("--trajectories", "loop"), "--trajectories",
         ("out",)),
    Case(EVAL, "revisit --num-frames 2", _revisit("--num-frames", "2"), "--num-frames", ("out",)),
    Case(EVAL, "revisit --scenes 0", _revisit("--scenes", "0"), "--scenes", ("out",)),
    Case(EVAL, "revisit --context-frames 5 (recall)", _revisit("--context-frames", "5"), "--context-frames", ("out",)),
    Case(EVAL, "revisit --steps 0", _revisit("--steps", "0"), "--steps", ("out",)),
    Case(EVAL, "revisit --frame-stride 0", _revisit("--frame-stride", "0"), "--frame-stride", ("out",)),
    Case(EVAL, "revisit --min-covisibility NaN", _revisit("--min-covisibility", "nan"), "--min-covisibility", ("out",)),
    Case(EVAL, "revisit --min-covisibility 2", _revisit("--min-covisibility", "2"), "--min-covisibility", ("out",)),
    Case(EVAL, "revisit --min-gap 0", _revisit("--min-gap", "0"), "--min-gap", ("out",)),
    Case(EVAL, "revisit --seed outside the held-out scenes", _revisit("--seed", "3"), "--seed", ("out",)),
    Case(EVAL, "revisit --source with recall", _revisit("--source", "tum:/x"), "--source", ("out",)),
    Case(EVAL, "revisit --lpips-weights missing", _revisit("--lpips-weights", lambda t, b: str(t / "none.pth")),
         "--lpips-weights", ("out",)),
    Case(EVAL, "revisit write gate mode unknown", _revisit("generation.write_gate.mode=maybe"),
         "generation.write_gate.mode", ("out",)),
    Case(EVAL, "revisit sky_resolution -1", _revisit("generation.memory_config.spatial.sky_resolution=-1"),
         "generation.memory_config.spatial.sky_resolution", ("out",)),
    Case(EVAL, "revisit --out is a file", lambda t, b: _revisit()(t, b)[:-2] + ["--out", _A_FILE(t, b)], "--out", ()),
    Case(EVAL, "revisit --out under a file", lambda t, b: _revisit()(t, b)[:-2] + ["--out", _A_FILE(t, b) + "/o"],
         "--out", ()),
    Case(EVAL, "bench unknown name", _bench("nope"), "nope", ("out",)),
    Case(EVAL, "bench --repeats 0", _bench("geometry", "--repeats", "0"), "--repeats", ("out",)),
    Case(EVAL, "bench --repeats not an int", _bench("geometry", "--repeats", "x"), "--repeats", ("out",)),
    Case(EVAL, "bench --checkpoint for geometry", _bench("geometry", "--checkpoint", str(fx.CHECKPOINT)),
         "--checkpoint", ("out",)),
    Case(EVAL, "bench rollout --checkpoint missing", _bench("rollout", "--checkpoint", lambda t, b: str(t / "none")),
         "--checkpoint", ("out",)),
    Case(EVAL, "bench rollout --checkpoint broken", _bench("rollout", "--checkpoint", _ckpt(
        lambda f: (f / _WEIGHTS).write_bytes(b""))), "safetensors", ("out",)),
    Case(EVAL, "bench --out is a folder", _bench("geometry", "--quick", "--out", lambda t, b: str(
        (t / "out").mkdir() or t / "out")), "--out", ()),
    Case(EVAL, "bench --out under a file", _bench("geometry", "--quick", "--out", lambda t, b: _A_FILE(t, b) + "/b.json"),
         "--out", ()),
]


def _train(*overrides, config=None):
    def build(tmp: Path, base: Path) -> list[str]:
        cfg = config(tmp, base) if callable(config) else str(fx.train_config(base))
        return ["--config", cfg, f"output_dir={tmp / 'out'}",
                *[o(tmp, base) if callable(o) else o for o in overrides]]
    return build


def _yaml(text: str):
    return lambda tmp, base: str(fx.write(tmp / "bad.yaml", text))


TRAINING = [
    Case(TRAIN, "--config missing", _train(config=lambda t, b: str(t / "none.yaml")), "none.yaml", ("out",)),
    Case(TRAIN, "YAML syntax error", _train(config=_yaml("optim: {lr: 1\n")), "bad.yaml", ("out",)),
    Case(TRAIN, "a !!python tag", _train(config=_yaml("seed: !!python/object/apply:os.system [echo]\n")), "bad.yaml",
         ("out",)),
    Case(TRAIN, "a top level that is a list", _train(config=_yaml("- 1\n- 2\n")), "bad.yaml", ("out",)),
    Case(TRAIN, "optim.grad_clip=-1", _train("optim.grad_clip=-1"), "optim.grad_clip", ("out",)),
    Case(TRAIN, "keep_checkpoints=-1", _train("keep_checkpoints=-1"), "keep_checkpoints", ("out",)),
    Case(TRAIN, "optim.warmup_steps=-1", _train("optim.warmup_steps=-1"), "optim.warmup_steps", ("out",)),
    Case(TRAIN, "optim.working_noise=-0.1", _train("optim.working_noise=-0.1"), "optim.working_noise", ("out",)),
    Case(TRAIN, "generation.num_inference_steps=0", _train("generation.num_inference_steps=0"),
         "generation.num_inference_steps", ("out",)),
    Case(TRAIN, "optim.lr=.inf", _train("optim.lr=.inf"), "optim.lr", ("out",)),
    Case(TRAIN, "optim.lr=.nan", _train("optim.lr=.nan"), "optim.lr", ("out",)),
    Case(TRAIN, "optim.lr=abc", _train("optim.lr=abc"), "optim.lr", ("out",)),
    Case(TRAIN, "optim.lr=0", _train("optim.lr=0"), "optim.lr", ("out",)),
    Case(TRAIN, "optim.batch_size=0", _train("optim.batch_size=0"), "optim.batch_size", ("out",)),
    Case(TRAIN, "optim.batch_size=1.5", _train("optim.batch_size=1.5"), "optim.batch_size", ("out",)),
    Case(TRAIN, "optim.ema_decay=1", _train("optim.ema_decay=1"), "optim.ema_decay", ("out",)),
    Case(TRAIN, "optim.lr_schedule unknown", _train("optim.lr_schedule=sometimes"), "optim.lr_schedule", ("out",)),
    Case(TRAIN, "dropout.spatial=2", _train("dropout.spatial=2"), "dropout.spatial", ("out",)),
    Case(TRAIN, "chained.fraction=-1", _train("chained.fraction=-1"), "chained.fraction", ("out",)),
    Case(TRAIN, "write_gate unknown", _train("generation.write_gate.mode=maybe"), "generation.write_gate.mode",
         ("out",)),
    Case(TRAIN, "seed=-1", _train("seed=-1"), "seed", ("out",)),
    Case(TRAIN, "log_every=0", _train("log_every=0"), "log_every", ("out",)),
    Case(TRAIN, "an unknown key", _train("optim.lrr=1e-4"), "optim.lrr", ("out",)),
    Case(TRAIN, "an override without =", _train("optim.lr"), "optim.lr", ("out",)),
    Case(TRAIN, "model.codec unknown", _train("model.codec=jpeg"), "model.codec", ("out",)),
    Case(TRAIN, "model.pretrained missing", _train("model.pretrained=/no/such/folder"), "model.pretrained", ("out",)),
    Case(TRAIN, "model.init_from missing", _train("model.init_from=/no/such/folder"), "model.init_from", ("out",)),
    Case(TRAIN, "data.source shards without shards", _train("data.source=shards"), "data.shards", ("out",)),
    Case(TRAIN, "data.curation file missing", _train("data.curation=/no/such.yaml"), "data.curation", ("out",)),
    Case(TRAIN, "generation.chunk_size=0", _train("generation.chunk_size=0"), "generation.chunk_size", ("out",)),
    Case(TRAIN, "memory.spatial.voxel_size=-1", _train("generation.memory_config.spatial.voxel_size=-1"),
         "generation.memory_config.spatial.voxel_size", ("out",)),
    Case(TRAIN, "--max-steps 0", _train("--max-steps", "0"), "--max-steps", ("out",)),
    Case(TRAIN, "--resume with no checkpoint", _train("--resume"), "--resume", ("out",)),
    Case(TRAIN, "output_dir is a file", lambda t, b: _train()(t, b) + [f"output_dir={_A_FILE(t, b)}"], "output_dir", ()),
    Case(TRAIN, "output_dir under a file", lambda t, b: _train()(t, b) + [f"output_dir={_A_FILE(t, b)}/o"],
         "output_dir", ()),
]


def _build(*args):
    def build(tmp: Path, base: Path) -> list[str]:
        argv = [a(tmp, base) if callable(a) else a for a in args]
        return ["build", *argv, *([] if "--out" in argv else ["--out", str(tmp / "out")]), "--no-progress"]
    return build


def _estimator(name: str, config: str | None):
    """``transformers:FOLDER``, the folder holding ``config.json`` with ``config`` (None: an empty folder)."""
    def build(tmp: Path, base: Path) -> str:
        folder = tmp / name
        folder.mkdir(parents=True, exist_ok=True)
        if config is not None:
            fx.write(folder / "config.json", config)
        return f"transformers:{folder}"
    return build


CURATION = [
    Case(CUR, "build --source of an unknown kind", _build("--source", "colmap:/x"), "colmap", ("out",)),
    Case(CUR, "build --source synthetic:abc", _build("--source", "synthetic:abc"), "synthetic:abc", ("out",)),
    Case(CUR, "build --source synthetic:0", _build("--source", "synthetic:0"), "synthetic:0", ("out",)),
    Case(CUR, "build --source folder missing", _build("--source", "tum:/no/where"), "tum:/no/where", ("out",)),
    Case(CUR, "build --config missing", _build("--source", "synthetic:1", "--config", "/no/such.yaml"), "/no/such.yaml",
         ("out",)),
    Case(CUR, "build --config YAML syntax error", _build("--source", "synthetic:1", "--config", _yaml("a: [1\n")),
         "bad.yaml", ("out",)),
    Case(CUR, "build --config unknown key", _build("--source", "synthetic:1", "--config", _yaml("nonsense: 1\n")),
         "nonsense", ("out",)),
    Case(CUR, "build --config negative voxel size",
         _build("--source", "synthetic:1", "--config", _yaml("voxel_size: -0.05\n")), "voxel_size", ("out",)),
    Case(CUR, "build --num-shards 0", _build("--source", "synthetic:1", "--num-shards", "0"), "--num-shards", ("out",)),
    Case(CUR, "build --shard-id out of range", _build("--source", "synthetic:2", "--num-shards", "2", "--shard-id", "2"),
         "--shard-id", ("out",)),
    Case(CUR, "build --shard-id -1", _build("--source", "synthetic:2", "--shard-id", "-1"), "--shard-id", ("out",)),
    Case(CUR, "build --workers 0", _build("--source", "synthetic:1", "--workers", "0"), "--workers", ("out",)),
    Case(CUR, "build --depth-dir missing", _build("--source", "synthetic:1", "--depth-dir", "/no/where"), "--depth-dir",
         ("out",)),
    Case(CUR, "build without --out", lambda t, b: ["build", "--source", "synthetic:1"], "--out", ()),
    Case(CUR, "build --out is a file", _build("--source", "synthetic:1", "--out", _A_FILE), "--out", ()),
    Case(CUR, "build --out under a file", _build("--source", "synthetic:1", "--out", lambda t, b: _A_FILE(t, b) + "/o"),
         "--out", ()),
    Case(CUR, "preview of a folder that is not a dataset", lambda t, b: ["preview", str(t), "--sample", "0"],
         "manifest.jsonl", ()),
    Case(CUR, "stats of a folder that is not a dataset", lambda t, b: ["stats", str(t)], "summary.json", ()),
    Case(CUR, "build --depth-estimator folder missing",
         _build("--source", "synthetic:1", "--depth-estimator", "transformers:/no/where"), "transformers:/no/where",
         ("out",)),
    Case(CUR, "build --depth-estimator folder without config.json",
         _build("--source", "synthetic:1", "--depth-estimator", _estimator("empty", None)), "config.json", ("out",)),
    Case(CUR, "build --depth-estimator with a broken config.json",
         _build("--source", "synthetic:1", "--depth-estimator", _estimator("broken", "{not json")), "broken",
         ("out",)),
    Case(CUR, "build --depth-estimator of an unknown kind",
         _build("--source", "synthetic:1", "--depth-estimator", "onnx:/x"), "onnx:/x", ("out",)),
    Case(CUR, "build --depth-estimator together with --depth-dir",
         _build("--source", "synthetic:1", "--depth-dir", lambda t, b: str(fx.write(t / "depth" / "c.npy", b"").parent),
                "--depth-estimator",
                _estimator("broken", "{not json")), "--depth-estimator", ("out",)),
    Case(CUR, "build --engine unknown", _build("--source", "synthetic:1", "--engine", "spark"), "--engine", ("out",)),
    Case(CUR, "build --address without --engine ray", _build("--source", "synthetic:1", "--address", "auto"),
         "--address", ("out",)),
    Case(CUR, "build --engine ray --address not HOST:PORT",
         _build("--source", "synthetic:1", "--engine", "ray", "--address", "nowhere"), "--address nowhere", ("out",)),
    Case(CUR, "build --engine ray --address where nothing answers",  # port 1: refused at once
         _build("--source", "synthetic:1", "--engine", "ray", "--address", "127.0.0.1:1"), "--address 127.0.0.1:1",
         ("out",)),
]

CASES = GENERATE + EVALUATION + TRAINING + CURATION
