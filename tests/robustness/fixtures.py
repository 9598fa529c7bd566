"""Valid inputs that the robustness cases copy and break: built once per sweep under a base folder.

Each builder returns a path inside ``base`` (made on first use). Cases never edit these originals: they copy one
into their own folder (:func:`copy_of`) and break the copy.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT = ROOT / "checkpoints" / "worldmem-tiny"
SIZE = 32  # the tiny model's image size
SECRET = "SECRET-7f3a9c-HONEYPOT"
"""A token in every honeypot text file: printed anywhere by a call, it is an escape (a file's content echoed)."""
SCENE_PATH = {"trajectory": "loop", "num_frames": 10, "scene": "synthetic:4", "anchor": None, "anchor_index": None}


@functools.cache
def _scene():
    from tests.synthetic.scene_paths import out_and_back_in_scene
    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=2, kind="room")
    cams = out_and_back_in_scene(scene, 3, SIZE)
    frames, depth = scene.render(cams)
    return cams, frames, depth


def outside(base: Path) -> Path:
    """The honeypot: a folder outside every case folder that no call may read, list or write.

    Cases point data files' paths here (``../``, absolute paths, links) to check that they are refused; the runner
    watches every file event while a case runs (:class:`tests.robustness.runner._Watch`). Holds ``secret.png``
    (RGB, 32x32), ``secret_depth.png`` (16-bit), ``secret.npy`` (32x32 float32), ``secret.txt``, ``secret.yaml``
    and ``secret.json`` (the last three carry :data:`SECRET`).
    """
    folder = base / "outside"
    if not folder.is_dir():
        from PIL import Image

        tmp = base / ".outside.building"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        rgb = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
        Image.fromarray(rgb).save(tmp / "secret.png")
        Image.fromarray(np.full((32, 32), 1000, np.uint16)).save(tmp / "secret_depth.png")
        np.save(tmp / "secret.npy", np.ones((32, 32), np.float32))
        (tmp / "secret.txt").write_text(f"{SECRET}\n")
        (tmp / "secret.yaml").write_text(f"{SECRET}: 1\nseed: {SECRET}\n")
        (tmp / "secret.json").write_text(json.dumps({SECRET: 1}))
        tmp.rename(folder)
    return folder


def copy_of(original: Path, folder: Path, name: str | None = None) -> Path:
    """A copy of file or folder ``original`` in ``folder``."""
    target = folder / (name or original.name)
    (shutil.copytree if original.is_dir() else shutil.copyfile)(original, target)
    return target


def checkpoint(folder: Path) -> Path:
    """A copy of the shipped tiny checkpoint in ``folder``."""
    return copy_of(CHECKPOINT, folder, "ckpt")


def memory(base: Path, path: dict | None = None) -> Path:
    """A saved two-frame memory (recording ``path`` as the path it was written along, when given)."""
    folder = base / ("memory" if path is None else "memory_with_path")
    if not folder.exists():
        from worldmem.memory import WorldMemory

        cams, frames, depth = _scene()
        mem = WorldMemory()
        mem.write(frames[:2], depth[:2], cams[:2])
        if path is not None:
            mem.metadata["path"] = path
        mem.save(folder)
    return folder


def empty_memory(base: Path) -> Path:
    folder = base / "empty_memory"
    if not folder.exists():
        from worldmem.memory import WorldMemory

        WorldMemory().save(folder)
    return folder


def posed_video(base: Path) -> dict[str, Path]:
    """``given.mp4`` (3 frames), ``depth.npy`` (3, H, W) and ``cams.json`` (3 cameras) of one scene."""
    folder = base / "posed"
    files = {"frames": folder / "given.mp4", "depth": folder / "depth.npy", "cameras": folder / "cams.json"}
    if not folder.exists():
        from worldmem.utils.video import write_video

        folder.mkdir(parents=True)
        cams, frames, depth = _scene()
        write_video(files["frames"], frames)
        np.save(files["depth"], depth[:, 0].numpy())
        files["cameras"].write_text(json.dumps(cams.to_dict()))
    return files


def train_config(base: Path) -> Path:
    """configs/tiny.yaml with its curation file named by an absolute path (the cases run in their own folder)."""
    path = base / "tiny.yaml"
    if not path.exists():
        text = (ROOT / "configs" / "tiny.yaml").read_text()
        path.write_text(text.replace("configs/curation/", f"{ROOT}/configs/curation/"))
    return path


def cameras_dict() -> dict:
    return _scene()[0].to_dict()


def edit_json(path: Path, edit) -> Path:
    """Applies ``edit(data)`` to the JSON file ``path`` in place; returns ``path``."""
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


@functools.cache
def tiny_pipeline():
    """The random tiny pipeline (32x32), for the API cases."""
    from worldmem.pipelines.tiny import random_tiny_pipeline

    pipe = random_tiny_pipeline(0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def scene_inputs(size: int = SIZE, n: int = 6):
    """(frames (2, 3, s, s), depth (2, 1, s, s), cameras (n,)) of a synthetic scene at image size ``size``."""
    from tests.synthetic.scene_paths import out_and_back_in_scene
    from worldmem.synthetic import SyntheticScene

    scene = SyntheticScene.random(seed=3, kind="room")
    cams = out_and_back_in_scene(scene, n, size)
    frames, depth = scene.render(cams[:2])
    return frames, depth, cams
