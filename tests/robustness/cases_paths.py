"""Paths inside data files followed out of their folder, config files that are not configs, and YAML bounds.

Group ``paths``: a dataset's files (nerfstudio ``transforms.json``, TUM lists, RealEstate10K frames, MegaSaM
``.npz``) name a file in the honeypot (:func:`tests.robustness.fixtures.outside`) by an absolute path, a ``../``
that climbs out or a link; the wanted outcome is a refusal that never opens it (``data_curation build`` exits 2
naming the field; ``load_clip`` raises ``ClipError``). Config includes (``data.curation: FILE``) and config files
that are not configs (a notes file holding :data:`~tests.robustness.fixtures.SECRET`) must be refused without
quoting them. Group ``hangs``: YAML alias bombs. Group ``sizes``: a device, a FIFO, a 5 MB file or a 100,000-deep
nesting named as a YAML file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.robustness import fixtures as fx
from tests.robustness.cases_cli import _build, _train
from tests.robustness.runner import Case

TRAIN = "python -m train"
CUR = "python -m data_curation"


# ---------------------------------------------------------------------------------------------------- datasets

def _originals(base: Path) -> Path:
    """One small clip of each on-disk format (4 frames of 32x32), made once per sweep under ``base``."""
    folder = base / "path_datasets"
    if not folder.is_dir():
        import shutil

        from tests.data.fixtures import rendered, write_megasam, write_nerfstudio, write_realestate10k, write_tum

        tmp = base / ".path_datasets.building"
        shutil.rmtree(tmp, ignore_errors=True)
        frames, depth, cams = rendered(4, fx.SIZE, fx.SIZE)
        write_nerfstudio(tmp / "nerfstudio" / "scene", frames, depth, cams)
        write_tum(tmp / "tum" / "seq", frames, depth, cams)
        write_realestate10k(tmp / "re10k", "clip", frames, depth, cams, tmp / "re10k_depth")
        write_realestate10k(tmp / "re10k_video", "clip", frames, depth, cams, None, video=True)
        write_megasam(tmp / "megasam" / "clip.npz", frames, depth, cams)
        tmp.rename(folder)
    return folder


def _secret(base: Path, name: str) -> Path:
    return fx.outside(base) / name


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_dir() and not link.is_symlink():
            import shutil

            shutil.rmtree(link)
        else:
            link.unlink()
    link.symlink_to(target)


def _rel(target: Path, start: Path) -> str:
    """``target`` as a ``../`` path from folder ``start``."""
    return os.path.relpath(target, start)


def _dataset(kind: str, change):
    """A copy of the ``kind`` original in ``tmp/ds``, changed by ``change(folder, base)``; returns the folder."""
    def make(tmp: Path, base: Path) -> Path:
        folder = fx.copy_of(_originals(base) / kind, tmp, "ds")
        change(folder, base)
        return folder
    return make


def _nerf_frame(key: str, value):
    """Sets ``key`` of frame 0 of ``scene/transforms.json`` to ``value(scene, base)``."""
    def change(folder: Path, base: Path) -> None:
        scene = folder / "scene"
        fx.edit_json(scene / "transforms.json",
                     lambda d: d["frames"][0].__setitem__(key, value(scene, base)))
    return change


def _nerf_link(name: str, secret: str):
    """Replaces ``scene/<name>`` (the file frame 0 names) by a link to the honeypot's ``secret``."""
    def change(folder: Path, base: Path) -> None:
        scene = folder / "scene"
        frame = json.loads((scene / "transforms.json").read_text())["frames"][0]
        _link(scene / frame[name], _secret(base, secret))
    return change


def _nerf_images_link(folder: Path, base: Path) -> None:
    """``scene/images`` becomes a link to the honeypot folder, frame 0 names ``images/secret.png``."""
    scene = folder / "scene"
    _link(scene / "images", fx.outside(base))
    fx.edit_json(scene / "transforms.json", lambda d: d["frames"][0].__setitem__("file_path", "images/secret.png"))


def _tum_row(list_name: str, value):
    """Row 0 of the TUM list ``list_name`` names ``value(seq, base)``."""
    def change(folder: Path, base: Path) -> None:
        seq = folder / "seq"
        lines = (seq / list_name).read_text().splitlines()
        first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
        lines[first] = f"{lines[first].split()[0]} {value(seq, base)}"
        (seq / list_name).write_text("\n".join(lines) + "\n")
    return change


def _tum_link(list_name: str, secret: str):
    """The file that row 0 of ``list_name`` names becomes a link to the honeypot's ``secret``."""
    def change(folder: Path, base: Path) -> None:
        seq = folder / "seq"
        line = next(x for x in (seq / list_name).read_text().splitlines() if not x.startswith("#"))
        _link(seq / line.split()[1], _secret(base, secret))
    return change


def _tum_list_link(name: str, secret: str = "secret.txt"):
    def change(folder: Path, base: Path) -> None:
        _link(folder / "seq" / name, _secret(base, secret))
    return change


def _tum_folder_link(folder: Path, base: Path) -> None:
    """``seq/rgb`` becomes a link to the honeypot folder; row 0 names ``rgb/secret.png``."""
    _link(folder / "seq" / "rgb", fx.outside(base))
    _tum_row("rgb.txt", lambda s, b: "rgb/secret.png")(folder, base)


def _re_frames_link(folder: Path, base: Path) -> None:
    _link(folder / "clip", fx.outside(base))


def _re_frame_link(folder: Path, base: Path) -> None:
    first = sorted((folder / "clip").iterdir())[0]
    _link(first, _secret(base, "secret.png"))


def _re_camera_link(folder: Path, base: Path) -> None:
    _link(folder / "clip.txt", _secret(base, "secret.txt"))


def _re_video_link(folder: Path, base: Path) -> None:
    _link(folder / "clip.mp4", _secret(base, "secret.png"))


def _megasam_link(folder: Path, base: Path) -> None:
    _link(folder / "clip.npz", _secret(base, "secret.npy"))


_ONE = {"nerfstudio": "scene", "tum": "seq"}  # the one clip's folder in a copy


def _curate(kind: str, change, source=None, *args) -> dict:
    """``build --source KIND:PATH`` of the changed copy (made by ``setup``, before the runner watches: making a
    link to the honeypot is no escape): PATH is the clip's own folder, or ``source(folder)``."""
    def make(tmp: Path, base: Path) -> list[str]:
        folder = tmp / "ds"
        path = source(folder) if source is not None else folder / _ONE.get(kind, "")
        extra = [a(tmp, base) if callable(a) else a for a in args]
        return _build("--source", f"{kind.split('_')[0].replace('re10k', 'realestate10k')}:{path}", *extra)(tmp, base)
    return {"build": make, "setup": _dataset(kind, change)}


def _load(kind: str, change, reader: str, ref_path) -> dict:
    """``READERS[reader].load_clip`` of the changed copy (``ref_path(folder)`` is the clip's path)."""
    def make(tmp: Path, base: Path) -> None:
        from worldmem.data.clip import ClipRef
        from worldmem.data.config import CurationConfig
        from worldmem.data.readers import READERS

        path = ref_path(tmp / "ds")
        READERS[reader].load_clip(ClipRef(reader, Path(path).stem, str(path)), CurationConfig(image_size=(32, 32)),
                                  None)
    return {"build": make, "setup": _dataset(kind, change)}


def _case(entry: str, name: str, call: dict, names: str, **kw) -> Case:
    if entry != CUR:
        kw.setdefault("error", _clip_error())
    return Case(entry, name, call["build"], names, group="paths", setup=call["setup"], **kw)


def _clip_error():
    from worldmem.data.clip import ClipError

    return ClipError


_ABS = {"png": lambda s, b: str(_secret(b, "secret.png")), "depth": lambda s, b: str(_secret(b, "secret_depth.png")),
        "npy": lambda s, b: str(_secret(b, "secret.npy"))}
_UP = {"png": lambda s, b: _rel(_secret(b, "secret.png"), s), "depth": lambda s, b: _rel(_secret(b, "secret_depth.png"), s)}
_DEPTH_DIR = ("--depth-dir", lambda t, b: str(t / "ds_depth"))


def _re_depth(kind: str, change):
    """The RealEstate10K copy plus its depth folder (``tmp/ds_depth``)."""
    def both(folder: Path, base: Path) -> None:
        fx.copy_of(_originals(base) / "re10k_depth", folder.parent, "ds_depth")
        change(folder, base)
    return both


NERF = "nerfstudio"
PATHS = [
    _case(CUR, "nerfstudio file_path absolute to a file elsewhere", _curate(NERF, _nerf_frame("file_path", _ABS["png"])),
          "file_path"),
    _case(CUR, "nerfstudio file_path climbing out with ../", _curate(NERF, _nerf_frame("file_path", _UP["png"])),
          "file_path"),
    _case(CUR, "nerfstudio file_path ../ in the middle",
          _curate(NERF, _nerf_frame("file_path", lambda s, b: "images/../" + _rel(_secret(b, "secret.png"), s))),
          "file_path"),
    _case(CUR, "nerfstudio image a link to a file elsewhere", _curate(NERF, _nerf_link("file_path", "secret.png")),
          "file_path"),
    _case(CUR, "nerfstudio images folder a link elsewhere", _curate(NERF, _nerf_images_link), "file_path"),
    _case(CUR, "nerfstudio depth_file_path absolute", _curate(NERF, _nerf_frame("depth_file_path", _ABS["depth"])),
          "depth_file_path"),
    _case(CUR, "nerfstudio depth_file_path climbing out with ../",
          _curate(NERF, _nerf_frame("depth_file_path", _UP["depth"])), "depth_file_path"),
    _case(CUR, "nerfstudio depth_file_path absolute to a .npy", _curate(NERF, _nerf_frame("depth_file_path", _ABS["npy"])),
          "depth_file_path"),
    _case(CUR, "nerfstudio depth map a link elsewhere", _curate(NERF, _nerf_link("depth_file_path", "secret_depth.png")),
          "depth_file_path"),
    _case(CUR, "nerfstudio transforms.json a link elsewhere",
          _curate(NERF, lambda f, b: _link(f / "scene" / "transforms.json", _secret(b, "secret.json"))),
          "transforms.json"),
    _case(CUR, "nerfstudio scene in a folder of scenes, file_path absolute",
          _curate(NERF, _nerf_frame("file_path", _ABS["png"]), lambda f: f), "file_path"),
    _case(CUR, "nerfstudio scene given by its transforms.json, file_path ../",
          _curate(NERF, _nerf_frame("file_path", _UP["png"]), lambda f: f / "scene" / "transforms.json"), "file_path"),
    _case("nerfstudio.load_clip", "file_path absolute",
          _load(NERF, _nerf_frame("file_path", _ABS["png"]), NERF, lambda f: f / "scene" / "transforms.json"),
          "file_path"),
    _case("nerfstudio.load_clip", "depth_file_path a link elsewhere",
          _load(NERF, _nerf_link("depth_file_path", "secret_depth.png"), NERF, lambda f: f / "scene" / "transforms.json"),
          "depth_file_path"),
    _case("nerfstudio.load_clip", "file_path ../ climbing out",
          _load(NERF, _nerf_frame("file_path", _UP["png"]), NERF, lambda f: f / "scene" / "transforms.json"),
          "outside the dataset folder"),

    _case(CUR, "tum rgb.txt row absolute", _curate("tum", _tum_row("rgb.txt", _ABS["png"])), "rgb.txt"),
    _case(CUR, "tum rgb.txt row climbing out with ../", _curate("tum", _tum_row("rgb.txt", _UP["png"])), "rgb.txt"),
    _case(CUR, "tum rgb image a link elsewhere", _curate("tum", _tum_link("rgb.txt", "secret.png")), "rgb.txt"),
    _case(CUR, "tum rgb folder a link elsewhere", _curate("tum", _tum_folder_link), "rgb.txt"),
    _case(CUR, "tum depth.txt row absolute", _curate("tum", _tum_row("depth.txt", _ABS["depth"])), "depth.txt"),
    _case(CUR, "tum depth.txt row climbing out with ../", _curate("tum", _tum_row("depth.txt", _UP["depth"])),
          "depth.txt"),
    _case(CUR, "tum depth image a link elsewhere", _curate("tum", _tum_link("depth.txt", "secret_depth.png")),
          "depth.txt"),
    _case(CUR, "tum rgb.txt a link elsewhere", _curate("tum", _tum_list_link("rgb.txt")), "rgb.txt"),
    _case(CUR, "tum groundtruth.txt a link elsewhere", _curate("tum", _tum_list_link("groundtruth.txt")),
          "groundtruth.txt"),
    _case(CUR, "tum intrinsics.txt a link elsewhere", _curate("tum", _tum_list_link("intrinsics.txt")),
          "intrinsics.txt"),
    _case("tum.load_clip", "rgb.txt row absolute",
          _load("tum", _tum_row("rgb.txt", _ABS["png"]), "tum", lambda f: f / "seq"), "rgb.txt"),
    _case("tum.load_clip", "depth image a link elsewhere",
          _load("tum", _tum_link("depth.txt", "secret_depth.png"), "tum", lambda f: f / "seq"), "depth.txt"),

    _case(CUR, "realestate10k frames folder a link elsewhere",
          _curate("re10k", _re_depth("re10k", _re_frames_link), lambda f: f, *_DEPTH_DIR), "frames folder"),
    _case(CUR, "realestate10k one frame a link elsewhere",
          _curate("re10k", _re_depth("re10k", _re_frame_link), lambda f: f, *_DEPTH_DIR), "frame clip/"),
    _case(CUR, "realestate10k camera file a link elsewhere",
          _curate("re10k", _re_depth("re10k", _re_camera_link), lambda f: f, *_DEPTH_DIR), "camera file"),
    _case(CUR, "realestate10k video a link elsewhere", _curate("re10k_video", _re_video_link), "video clip.mp4"),
    _case("realestate10k.load_clip", "frames folder a link elsewhere",
          _load("re10k", _re_frames_link, "realestate10k", lambda f: f / "clip.txt"), "frames folder"),

    _case(CUR, "megasam .npz a link elsewhere", _curate("megasam", _megasam_link), "clip.npz"),
    _case("megasam.load_clip", ".npz a link elsewhere",
          _load("megasam", _megasam_link, "megasam", lambda f: f / "clip.npz"), "clip.npz"),
]


# ---------------------------------------------------------------------------------------------------- config files

def _notes(name: str, text: str):
    """A file of the user's that is not a config (it holds the secret token), in the case folder."""
    return lambda tmp, base: str(fx.write(tmp / "notes" / name, text))


_SECRET_YAML = f"{fx.SECRET}: 1\nseed: {fx.SECRET}\n"
_SECRET_TEXT = f"password = {fx.SECRET}\n"
_SECRET_BAD_YAML = f"token: {fx.SECRET}: x\n"  # "mapping values are not allowed here" at line 1
_SECRET_LIST = f"- {fx.SECRET}\n- 2\n"


def _config_with(section: str, key: str, target):
    """configs/tiny.yaml (curation by absolute path) with ``section.key: target(tmp, base)`` written in it."""
    def make(tmp: Path, base: Path) -> str:
        import yaml

        data = yaml.safe_load(fx.train_config(base).read_text())
        node = data
        for part in section.split(".") if section else []:
            node = node.setdefault(part, {})
        node[key] = target(tmp, base)
        return str(fx.write(tmp / "exp.yaml", yaml.safe_dump(data)))
    return make


def _load_config(path, overrides=()):
    def make(tmp: Path, base: Path) -> None:
        from train.config import load_config

        load_config(path(tmp, base) if callable(path) else path, [o(tmp, base) if callable(o) else o for o in overrides])
    return make


def _load_curation(path):
    def make(tmp: Path, base: Path) -> None:
        from worldmem.data.config import load_curation_config

        load_curation_config(path(tmp, base))
    return make


def _override(key: str, target):
    return lambda tmp, base: f"{key}={target(tmp, base)}"


ECHOES = [
    Case(TRAIN, "data.curation a YAML file of other keys (override)",
         _train(_override("data.curation", _notes("secret.yaml", _SECRET_YAML))), "data.curation", ("out",),
         group="paths"),
    Case(TRAIN, "data.curation a YAML file of other keys (in the config)",
         _train(config=_config_with("data", "curation", _notes("secret.yaml", _SECRET_YAML))), "data.curation",
         ("out",), group="paths"),
    Case(TRAIN, "data.curation a text file", _train(_override("data.curation", _notes("secret.txt", _SECRET_TEXT))),
         "data.curation", ("out",), group="paths"),
    Case(TRAIN, "data.curation a list", _train(_override("data.curation", _notes("list.yaml", _SECRET_LIST))),
         "data.curation", ("out",), group="paths"),
    Case(TRAIN, "data.curation a file that is not YAML",
         _train(_override("data.curation", _notes("bad.yaml", _SECRET_BAD_YAML))), "line 1", ("out",), group="paths"),
    Case(TRAIN, "data.curation a JSON file of other keys",
         _train(_override("data.curation", _notes("secret.json", json.dumps({fx.SECRET: 1})))), "data.curation",
         ("out",), group="paths"),
    Case(TRAIN, "memory a YAML file of other keys",
         _train(_override("generation.memory_config", _notes("secret.yaml", _SECRET_YAML))),
         "generation.memory_config", ("out",), group="paths"),
    Case(TRAIN, "memory.spatial a YAML file of other keys",
         _train(_override("generation.memory_config.spatial", _notes("secret.yaml", _SECRET_YAML))),
         "generation.memory_config.spatial", ("out",), group="paths"),
    Case(TRAIN, "an override into a data.curation that is a text file",
         _train(_override("data.curation", _notes("secret.txt", _SECRET_TEXT)), "data.curation.voxel_size=0.1"),
         "data.curation", ("out",), group="paths"),
    Case(TRAIN, "--config a text file", _train(config=_notes("secret.txt", _SECRET_TEXT)), "secret.txt", ("out",),
         group="paths"),
    Case(TRAIN, "--config a list", _train(config=_notes("list.yaml", _SECRET_LIST)), "list.yaml", ("out",),
         group="paths"),
    Case(CUR, "build --config a text file", _build("--source", "synthetic:1", "--config", _notes("c.txt", _SECRET_TEXT)),
         "c.txt", ("out",), group="paths"),
    Case("train config", "data.curation a YAML file of other keys",
         _load_config(lambda t, b: fx.train_config(b), [_override("data.curation", _notes("secret.yaml", _SECRET_YAML))]),
         "data.curation", group="paths"),
    Case("train config", "data.curation a text file",
         _load_config(lambda t, b: fx.train_config(b), [_override("data.curation", _notes("secret.txt", _SECRET_TEXT))]),
         "data.curation", group="paths"),
    Case("curation config", "a text file", _load_curation(_notes("secret.txt", _SECRET_TEXT)), "secret.txt",
         group="paths"),
]


def _bomb(levels: int = 12, width: int = 9) -> str:
    """Nested mappings, each naming the previous one ``width`` times by alias: ``width ** levels`` leaves."""
    lines = ["l0: &l0 {a: 1, b: 2}"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} {{" + ", ".join(f"k{j}: *l{i - 1}" for j in range(width)) + "}")
    return "\n".join(lines) + f"\nseed: *l{levels - 1}\n"


_ALIAS_TIMEOUT = 5.0
HANGS = [
    Case(TRAIN, "--config an alias bomb", _train(config=_notes("bomb.yaml", _bomb())), "alias", ("out",),
         group="hangs", timeout=_ALIAS_TIMEOUT),
    Case(TRAIN, "data.curation an alias bomb", _train(_override("data.curation", _notes("bomb.yaml", _bomb()))),
         "alias", ("out",), group="hangs", timeout=_ALIAS_TIMEOUT),
    Case(TRAIN, "data.curation an alias bomb (in the config)",
         _train(config=_config_with("data", "curation", _notes("bomb.yaml", _bomb()))), "alias", ("out",),
         group="hangs", timeout=_ALIAS_TIMEOUT),
    Case(CUR, "build --config an alias bomb", _build("--source", "synthetic:1", "--config", _notes("bomb.yaml", _bomb())),
         "alias", ("out",), group="hangs", timeout=_ALIAS_TIMEOUT),
    Case("train config", "an alias bomb", _load_config(_notes("bomb.yaml", _bomb())), "alias", group="hangs",
         timeout=_ALIAS_TIMEOUT),
    Case("curation config", "an alias bomb", _load_curation(_notes("bomb.yaml", _bomb())), "alias",
         group="hangs", timeout=_ALIAS_TIMEOUT),
    Case("train config", "an alias bomb under model.base_config",
         _load_config(_notes("bomb.yaml", _bomb().replace("seed:", "model:\n  base_config:\n    x:"))), "alias",
         group="hangs", timeout=_ALIAS_TIMEOUT),
]


# ---------------------------------------------------------------------------------------------------- sizes

def _fifo(tmp: Path, base: Path) -> str:
    path = tmp / "pipe.yaml"
    if not path.exists():
        os.mkfifo(path)
    return str(path)


def _big(tmp: Path, base: Path) -> str:
    """A 5 MB YAML file: one valid key, then comments."""
    return str(fx.write(tmp / "big.yaml", "voxel_size: 0.05\n" + ("#" * 99 + "\n") * 50_000))


def _deep(tmp: Path, base: Path) -> str:
    return str(fx.write(tmp / "deep.yaml", "seed: " + "[" * 100_000 + "\n"))


_DEVICE = "/dev/zero"
_FIFO_TIMEOUT, _BIG_TIMEOUT = 5.0, 30.0
SIZES = [
    Case(TRAIN, "data.curation a device", _train(f"data.curation={_DEVICE}"), "regular", ("out",), group="sizes",
         timeout=_FIFO_TIMEOUT),
    Case(TRAIN, "data.curation a FIFO", _train(_override("data.curation", _fifo)), "regular", ("out",), group="sizes",
         timeout=_FIFO_TIMEOUT),
    Case(TRAIN, "data.curation a 5 MB file", _train(_override("data.curation", _big)), "1 MiB", ("out",),
         group="sizes", timeout=_BIG_TIMEOUT),
    Case(TRAIN, "--config a FIFO", _train(config=_fifo), "regular", ("out",), group="sizes", timeout=_FIFO_TIMEOUT),
    Case(TRAIN, "--config a device", _train(config=lambda t, b: _DEVICE), "regular", ("out",), group="sizes",
         timeout=_FIFO_TIMEOUT),
    Case(TRAIN, "--config nested 100,000 deep", _train(config=_deep), "nested", ("out",), group="sizes"),
    Case(CUR, "build --config a device", _build("--source", "synthetic:1", "--config", _DEVICE), "regular", ("out",),
         group="sizes", timeout=_FIFO_TIMEOUT),
    Case(CUR, "build --config a FIFO", _build("--source", "synthetic:1", "--config", _fifo), "regular", ("out",),
         group="sizes", timeout=_FIFO_TIMEOUT),
    Case(CUR, "build --config a 5 MB file", _build("--source", "synthetic:1", "--config", _big), "1 MiB", ("out",),
         group="sizes", timeout=_BIG_TIMEOUT),
    Case("curation config", "a device", _load_curation(lambda t, b: _DEVICE), "regular", group="sizes",
         timeout=_FIFO_TIMEOUT),
    Case("curation config", "a FIFO", _load_curation(_fifo), "regular", group="sizes", timeout=_FIFO_TIMEOUT),
    Case("curation config", "a 5 MB file", _load_curation(_big), "1 MiB", group="sizes", timeout=_BIG_TIMEOUT),
    Case("curation config", "nested 100,000 deep", _load_curation(_deep), "nested", group="sizes"),
    Case("train config", "data.curation a device",
         _load_config(lambda t, b: fx.train_config(b), [f"data.curation={_DEVICE}"]), "regular", group="sizes",
         timeout=_FIFO_TIMEOUT),
]

CASES = PATHS + ECHOES + HANGS + SIZES
