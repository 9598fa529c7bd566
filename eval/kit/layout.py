"""The kit's files: writing an episode, reading ``episodes.json`` back, and reading a model's videos.

Every path read from a kit or a videos folder stays inside it (:func:`worldmem.utils.paths.inside`); every
problem is a :class:`~eval.episodes.RevisitError` of one line naming the file or the episode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from eval.episodes import Episode, RevisitError
from worldmem.geometry.cameras import Cameras
from worldmem.utils.paths import inside, plain_name

__all__ = ["KIT_MARKER", "KIT_FORMAT", "KIT_VERSION", "episode_id", "write_episode", "read_kit", "check_cameras",
           "read_video_frames", "read_video_depth"]

KIT_MARKER = "episodes.json"
"""The file every kit holds, written last: a folder with it may be replaced by a new export."""
KIT_FORMAT = "worldmem-revisit-kit"
KIT_VERSION = 1
_NO_OPTION = "(no option: a model's videos stay in their folder)"
CAMERA_ATOL = 1e-5
"""How far a kit's cameras.json may be from the regenerated cameras (float32 round trip through JSON)."""


def episode_id(seed: int, trajectory: str) -> str:
    """The episode's folder and video name: ``<seed>_<trajectory>`` (e.g. ``1000000_out-and-back``)."""
    return f"{seed}_{trajectory}"


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    return (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_episode(folder: Path, episode: Episode) -> None:
    """Writes one episode's given frames, given depth and cameras (never the truth after the given frames)."""
    import imageio.v2 as imageio

    c = episode.context
    (folder / "given").mkdir(parents=True)
    for t, frame in enumerate(_to_uint8(episode.frames[:c])):
        imageio.imwrite(folder / "given" / f"{t:05d}.png", frame)
    np.save(folder / "given.npy", episode.frames[:c].permute(0, 2, 3, 1).numpy().astype(np.float32))
    np.save(folder / "given_depth.npy", episode.depth[:c, 0].numpy().astype(np.float32))
    import json

    (folder / "cameras.json").write_text(json.dumps(episode.cameras.to_dict()))
    rows = episode.cameras.to_realestate10k().numpy()
    lines = [" ".join([str(int(r[0]))] + [repr(float(v)) for v in r[1:]]) for r in rows]
    (folder / "cameras.txt").write_text("\n".join(lines) + "\n")


def read_kit(kit: Path) -> dict:
    """``KIT/episodes.json``, checked: its format, settings and episode list (ids are plain names)."""
    from worldmem.utils.io import read_json

    if not kit.is_dir():
        raise RevisitError(f"--kit: no such folder {kit}")
    path = kit / KIT_MARKER
    if not path.is_file():
        raise RevisitError(f"--kit: no {KIT_MARKER} in {kit} (expected a folder written by python -m eval export)")
    try:
        data = read_json(path)
    except ValueError as err:
        raise RevisitError(f"--kit: {err}") from None
    if not isinstance(data, dict) or data.get("format") != KIT_FORMAT or data.get("version") != KIT_VERSION:
        raise RevisitError(f"--kit: {path} is not a {KIT_FORMAT} version {KIT_VERSION} file")
    settings, episodes = data.get("settings"), data.get("episodes")
    _check_settings(path, settings)
    if not isinstance(episodes, list) or not episodes:
        raise RevisitError(f"--kit: {path}: expected a non-empty episode list")
    for k, ep in enumerate(episodes):
        fields = ("id", "seed", "dynamic", "trajectory", "num_frames", "given_frames", "height", "width")
        if not isinstance(ep, dict) or any(f not in ep for f in fields):
            raise RevisitError(f"--kit: {path}: episode {k} must hold {', '.join(fields)}")
        try:
            plain_name(ep["id"], f"{path}: episode {k}: id")
            inside(kit, ep["id"], f"{path}: episode {ep['id']}", opt_in="(no option: a kit is self-contained)")
        except ValueError as err:
            raise RevisitError(f"--kit: {err}") from None
    return data


def _check_settings(path: Path, settings) -> None:
    from eval.episodes import check_trajectory_name
    from eval.protocols import PROTOCOLS
    from worldmem.data.readers.synthetic import EVAL_SEEDS

    def count(x, least=1):
        return isinstance(x, int) and not isinstance(x, bool) and x >= least

    keys = ("protocol", "seeds", "trajectories", "image_size", "num_frames", "context_frames", "min_gap",
            "min_covisibility")
    if not isinstance(settings, dict) or any(k not in settings for k in keys):
        raise RevisitError(f"--kit: {path}: settings must hold {', '.join(keys)}")
    s = settings
    checks = {
        "protocol": s["protocol"] in PROTOCOLS,
        "seeds": isinstance(s["seeds"], list) and bool(s["seeds"]) and all(count(x, 0) and x in EVAL_SEEDS
                                                                           for x in s["seeds"]),
        "trajectories": isinstance(s["trajectories"], list) and bool(s["trajectories"])
                        and all(isinstance(x, str) for x in s["trajectories"]),
        "image_size": isinstance(s["image_size"], list) and len(s["image_size"]) == 2
                      and all(count(x) for x in s["image_size"]) and s["image_size"][0] == s["image_size"][1],
        "num_frames": count(s["num_frames"], 4),
        "context_frames": count(s["context_frames"]) and s["context_frames"] < s["num_frames"],
        "min_gap": count(s["min_gap"]),
        "min_covisibility": isinstance(s["min_covisibility"], (int, float)) and 0 < s["min_covisibility"] <= 1,
    }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise RevisitError(f"--kit: {path}: settings: bad {', '.join(bad)} (export the kit again)")
    for name in s["trajectories"]:
        try:
            check_trajectory_name(name, s["num_frames"])
        except RevisitError as err:
            raise RevisitError(f"--kit: {path}: settings: {err}") from None


def check_cameras(kit: Path, entry: dict, cameras: Cameras) -> None:
    """Refuses a kit whose ``<id>/cameras.json`` is not the regenerated episode's cameras."""
    from worldmem.utils.io import read_json

    where = kit / entry["id"] / "cameras.json"
    try:
        path = inside(kit, f"{entry['id']}/cameras.json", f"--kit: episode {entry['id']}: cameras.json",
                      opt_in="(no option: a kit is self-contained)")
        kit_cams = Cameras.from_dict(read_json(path))
    except ValueError as err:
        raise RevisitError(f"--kit: episode {entry['id']}: {' '.join(str(err).split())}") from None
    same = (tuple(kit_cams.batch_shape) == tuple(cameras.batch_shape) and kit_cams.height == cameras.height
            and kit_cams.width == cameras.width
            and torch.allclose(kit_cams.cam_from_world.double(), cameras.cam_from_world.double(), atol=CAMERA_ATOL)
            and torch.allclose(kit_cams.K.double(), cameras.K.double(), atol=CAMERA_ATOL))
    if not same:
        raise RevisitError(f"--kit: {where}: kit does not match the episodes it was exported from (its cameras "
                           f"differ from the regenerated episode's); export it again")


def _video_problem(entry: dict, what: str) -> RevisitError:
    return RevisitError(f"--videos: episode {entry['id']}: {what}")


def _read_png_folder(videos: Path, entry: dict, folder: Path) -> torch.Tensor:
    from worldmem.data.media import read_image

    eid, num = entry["id"], entry["num_frames"]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if [p.name for p in files] != [f"{t:05d}.png" for t in range(len(files))]:
        raise _video_problem(entry, f"{folder.name}/ must hold 00000.png, 00001.png, ... without gaps")
    for p in files:
        inside(videos, f"{eid}/{p.name}", f"--videos: episode {eid}: {p.name}", opt_in=_NO_OPTION)
    if len(files) != num:
        raise _video_problem(entry, f"{len(files)} frames in {folder.name}/, expected {num} (every frame of the "
                                    "episode, the given ones included)")
    return torch.stack([read_image(p) for p in files])


def _read_npy(entry: dict, path: Path) -> torch.Tensor:
    from worldmem.data.media import load_npy

    arr = load_npy(path)
    shape = (entry["num_frames"], entry["height"], entry["width"], 3)
    if arr.dtype.kind != "f" or arr.ndim != 4 or arr.shape[-1] != 3:
        raise _video_problem(entry, f"{path.name}: expected a float array (T, H, W, 3) = {shape}, got {arr.dtype} "
                                    f"{tuple(arr.shape)}")
    if arr.shape[0] != shape[0]:
        raise _video_problem(entry, f"{arr.shape[0]} frames in {path.name}, expected {shape[0]} (every frame of the "
                                    "episode, the given ones included)")
    frames = torch.from_numpy(arr.astype(np.float32)).permute(0, 3, 1, 2)
    if torch.isfinite(frames).all() and ((frames < 0) | (frames > 1)).any():
        raise _video_problem(entry, f"{path.name}: values must lie in [0, 1]")
    return frames


def read_video_frames(videos: Path, entry: dict) -> torch.Tensor:
    """(T, 3, H, W) in [0, 1] from exactly one of ``VIDEOS/<id>.mp4``, ``VIDEOS/<id>/00000.png ...`` (8-bit) or
    ``VIDEOS/<id>.npy`` ((T, H, W, 3) float in [0, 1], lossless), checked against ``entry``: every frame of the
    episode at its size, finite values."""
    from worldmem.data.clip import ClipError
    from worldmem.data.media import read_video

    eid, num, size = entry["id"], entry["num_frames"], (entry["height"], entry["width"])
    forms = [videos / f"{eid}.mp4", videos / eid, videos / f"{eid}.npy"]
    present = [p for p in forms if p.exists() or p.is_symlink()]
    if not present:
        raise _video_problem(entry, f"missing: expected {eid}.mp4, {eid}/00000.png ... or {eid}.npy")
    if len(present) > 1:
        raise _video_problem(entry, f"{' and '.join(p.name for p in present)} both exist; keep one")
    path = present[0]
    try:
        inside(videos, path.name, f"--videos: episode {eid}", opt_in=_NO_OPTION)
        if path.suffix == ".npy":
            frames = _read_npy(entry, path)
        elif path.suffix == ".mp4":
            frames, _, count = read_video(path, None, None)
            if count != num:
                raise _video_problem(entry, f"{count} frames in {path.name}, expected {num} (every frame of the "
                                            "episode, the given ones included)")
        elif path.is_dir():
            frames = _read_png_folder(videos, entry, path)
        else:
            raise _video_problem(entry, f"{path.name} is not a folder of PNG frames")
    except ClipError as err:
        raise _video_problem(entry, str(err)) from None
    except ValueError as err:
        raise RevisitError(str(err)) from None
    if tuple(frames.shape[-2:]) != size:
        raise _video_problem(entry, f"frames are {frames.shape[-2]}x{frames.shape[-1]}, expected "
                                    f"{size[0]}x{size[1]} (height x width)")
    if not torch.isfinite(frames).all():
        raise _video_problem(entry, "frames hold NaN or infinite values")
    return frames.float()


def read_video_depth(videos: Path, entry: dict) -> torch.Tensor | None:
    """(T, 1, H, W) z-depth from the optional ``VIDEOS/<id>_depth.npy`` (T, H, W) float, or None without it."""
    from worldmem.data.clip import ClipError
    from worldmem.data.media import load_npy

    eid = entry["id"]
    path = videos / f"{eid}_depth.npy"
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        inside(videos, path.name, f"--videos: episode {eid}", opt_in=_NO_OPTION)
        arr = load_npy(path)
    except ValueError as err:
        raise RevisitError(str(err)) from None
    except ClipError as err:
        raise _video_problem(entry, str(err)) from None
    shape = (entry["num_frames"], entry["height"], entry["width"])
    if arr.dtype.kind != "f" or tuple(arr.shape) != shape:
        raise _video_problem(entry, f"{path.name}: expected a float array of shape {shape}, got {arr.dtype} "
                                    f"{tuple(arr.shape)}")
    depth = torch.from_numpy(arr.astype(np.float32))[:, None]
    if not torch.isfinite(depth).all() or (depth < 0).any():
        raise _video_problem(entry, f"{path.name}: depth must be finite and >= 0 (0 = unknown)")
    return depth
